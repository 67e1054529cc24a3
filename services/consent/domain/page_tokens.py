"""Opaque page tokens that a caller cannot forge or modify.

A token is ``base64url(canonical JSON state) "." base64url(HMAC-SHA-256(key, state))``; the
state binds the listing it belongs to (method, resident, filter), so a token from one
resident's listing is refused for another's (AIP-158: page tokens are opaque and must be
rejected when the request parameters changed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from services.common.errors import InvalidArgument
from services.consent.domain.canonical import canonical_json
from services.consent.domain.signing import b64url, b64url_decode


class PageTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def encode(self, listing: dict[str, Any], position: int) -> str:
        data = canonical_json({"listing": listing, "position": position})
        return f"{b64url(data)}.{b64url(self._mac(data))}"

    def decode(self, token: str, listing: dict[str, Any]) -> int | None:
        """The position a token resumes at; None for an empty token (first page)."""
        if not token:
            return None
        try:
            data_part, mac_part = token.split(".")
            data, mac = b64url_decode(data_part), b64url_decode(mac_part)
        except ValueError:
            raise InvalidArgument("page_token", "malformed page token") from None
        if not hmac.compare_digest(mac, self._mac(data)):
            raise InvalidArgument("page_token", "page token was modified or is not from this listing")
        state = json.loads(data)
        if state.get("listing") != listing or not isinstance(state.get("position"), int):
            raise InvalidArgument("page_token", "page token belongs to another listing")
        return state["position"]
