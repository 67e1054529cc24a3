"""Interaction state: the authorization request carried through the login, second-factor and
consent pages, sealed with an HMAC so the browser cannot alter it (node-oidc-provider's
"interaction", without a server-side table).

``started_at`` lets a resumed request know what happened *during* it: ``prompt=login`` and
``max_age`` are satisfied by a login at or after ``started_at``, ``prompt=consent`` by a grant
given at or after it (OIDC Core s. 3.1.2.1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


class InteractionInvalid(Exception):
    """Tampered, expired or malformed interaction state."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(key: bytes, params: dict[str, list[str]], started_at: float, ttl: int) -> str:
    body = json.dumps({"p": params, "s": round(started_at, 3), "e": int(time.time()) + ttl},
                      separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()
    return _b64(body) + "." + _b64(mac)


def unseal(key: bytes, token: str | None) -> tuple[dict[str, list[str]], float]:
    if not token or "." not in token or len(token) > 16384:
        raise InteractionInvalid("missing")
    body_text, mac_text = token.split(".", 1)
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, TypeError) as exc:
        raise InteractionInvalid("encoding") from exc
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        raise InteractionInvalid("signature")
    data: Any = json.loads(body)
    if int(data["e"]) < time.time():
        raise InteractionInvalid("expired")
    return {k: list(v) for k, v in data["p"].items()}, float(data["s"])
