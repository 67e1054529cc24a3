"""Access tokens for tests, shaped like the identity service's (RFC 9068 JWTs, ES256).

    minter = TokenMinter()
    verifier = TokenVerifier(minter.issuer, "urn:mtlid:consent", StaticJwks(minter.jwks()))
    token = minter.mint("montreal-library", ["consent:check"], "urn:mtlid:consent")

The key is generated per minter and never leaves the test process.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey


class TokenMinter:
    def __init__(self, issuer: str = "http://test.issuer", *, kid: str | None = None) -> None:
        self.issuer = issuer
        self.kid = kid or f"test-{uuid.uuid4().hex[:12]}"
        self._key = ECKey.generate_key("P-256", parameters={"kid": self.kid, "alg": "ES256", "use": "sig"},
                                       private=True)

    def jwks(self) -> dict[str, Any]:
        """The public key set (what identity serves at ``/jwks``)."""
        return {"keys": [self._key.as_dict(private=False)]}

    def mint(self, client_id: str, scopes: Iterable[str], audience: str | list[str], *,
             subject: str | None = None, acting_for: str | None = None, ttl: int = 300,
             header: dict[str, Any] | None = None, omit: Iterable[str] = (), **claims: Any) -> str:
        """A signed access token; ``claims`` override or add claims (``exp=...``; a claim given
        as None is left out), ``omit`` names claims to leave out (``omit=["client_id"]``);
        ``header`` overrides JOSE header fields (``typ``, ``kid``)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer, "sub": subject or client_id, "client_id": client_id, "aud": audience,
            "scope": " ".join(scopes), "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex,
        }
        if acting_for is not None:
            body["act"] = {"sub": acting_for}
        body.update(claims)
        dropped = set(omit)
        body = {k: v for k, v in body.items() if v is not None and k not in dropped}
        jose_header = {"alg": "ES256", "typ": "at+jwt", "kid": self.kid, **(header or {})}
        return jwt.encode(jose_header, body, self._key)


@contextlib.contextmanager
def jwks_file_server(directory: pathlib.Path, minter: TokenMinter):
    """The minter's JWKS served as a file over HTTP by a real server in its own process
    (``python -m http.server``), where a service started by the test fetches it as it would
    identity's ``/jwks``. Yields the URL."""
    from services.common.nats import free_port

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "jwks.json").write_text(json.dumps(minter.jwks()))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}/jwks.json"
    finally:
        server.terminate()
        server.wait()
