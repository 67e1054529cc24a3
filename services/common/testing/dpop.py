"""A DPoP client for tests: proofs built with joserfc, as a client library would (RFC 9449
s. 4.2), never with our own proof code."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid

from joserfc import jwt
from joserfc.jwk import ECKey


class ProofMaker:
    """A client holding one key pair: proofs per RFC 9449 s. 4.2, the server's nonce kept."""

    def __init__(self, key=None, alg: str = "ES256") -> None:
        self.key = key or ECKey.generate_key("P-256")
        self.alg = alg
        self.nonce: str | None = None

    @property
    def jkt(self) -> str:
        return self.key.thumbprint()

    def proof(self, htm: str, htu: str, *, access_token: str | None = None, iat: int | None = None,
              jti: str | None = None, typ: str = "dpop+jwt", nonce: str | None = None, **extra) -> str:
        claims = {"htm": htm, "htu": htu, "iat": int(time.time()) if iat is None else iat,
                  "jti": jti or str(uuid.uuid4())}
        if nonce or self.nonce:
            claims["nonce"] = nonce or self.nonce
        if access_token is not None:
            claims["ath"] = base64.urlsafe_b64encode(
                hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()
        claims.update(extra)
        header = {"typ": typ, "alg": self.alg, "jwk": self.key.as_dict(private=False)}
        return jwt.encode(header, claims, self.key, algorithms=[self.alg])
