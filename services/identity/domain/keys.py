"""The lifecycle of token-signing keys (RFC 7517 JWKS; OIDC Core 10.1.1 "Rotation of
Asymmetric Signing Keys").

    next ──(rotation)──▶ current ──(rotation)──▶ retired ──(not_after passed)──▶ deleted

* ``next`` is published in the JWKS but signs nothing yet, so every relying party's cached
  JWKS already holds it when it starts signing (OIDC Core 10.1.1: "the signer can begin
  using a new key at its discretion and signals the change to the verifier using the kid
  value" — the verifier must be able to find it).
* ``current`` signs; exactly one per algorithm.
* ``retired`` signs nothing and stays published until ``not_after``: the moment every token
  it signed has expired (longest signed-token lifetime plus clock-skew leeway).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

ALGORITHMS = ("ES256", "RS256")
# No JWT this issuer signs (access token, ID token, logout token) lives longer than this.
SIGNED_TOKEN_MAX_LIFETIME = dt.timedelta(hours=1)
CLOCK_SKEW = dt.timedelta(minutes=5)
# Relying parties cache the JWKS; the next key must have been published at least this long
# before it signs (services.common.grpc.auth.HttpJwks caches for 10 minutes).
NEXT_KEY_MIN_PUBLISHED = dt.timedelta(minutes=10)


class KeyStateError(Exception):
    pass


@dataclass
class SigningKeyRecord:
    kid: str
    alg: str
    state: str                               # "next" | "current" | "retired"
    public_jwk: dict
    private_key_encrypted: bytes
    created_at: dt.datetime
    activated_at: dt.datetime | None = None
    retired_at: dt.datetime | None = None
    not_after: dt.datetime | None = None

    def activate(self, now: dt.datetime) -> None:
        if self.state != "next":
            raise KeyStateError(f"key {self.kid} is {self.state}; only a next key becomes current")
        self.state = "current"
        self.activated_at = now

    def retire(self, now: dt.datetime) -> None:
        if self.state != "current":
            raise KeyStateError(f"key {self.kid} is {self.state}; only the current key retires")
        self.state = "retired"
        self.retired_at = now
        self.not_after = now + SIGNED_TOKEN_MAX_LIFETIME + CLOCK_SKEW

    def is_published(self, now: dt.datetime) -> bool:
        return self.state in ("next", "current") or (self.not_after is not None and now <= self.not_after)
