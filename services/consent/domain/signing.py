"""Signed tree heads and signed receipts: ES256 JWS (RFC 7515, RFC 7518 s. 3.4).

A signed tree head (the role of RFC 9162 s. 4.10's STH) is a compact JWS whose payload is
the canonical JSON ``{"root_hash": base64url(MTH), "timestamp": ms since epoch,
"tree_size": n}``, header ``{"alg": "ES256", "kid", "typ": "mtlid-sth+json"}``. The public
key is published as a JWKS (RFC 7517), ``kid`` = RFC 7638 thumbprint.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from services.consent.domain.canonical import canonical_json

STH_TYPE = "mtlid-sth+json"
RECEIPT_TYPE = "mtlid-consent-receipt+json"
#: a mandate's receipt (issue 22): its terms and every ledger entry of its lifecycle
MANDATE_RECEIPT_TYPE = "mtlid-mandate-receipt+json"
#: a key rotation, signed by the key it replaces (LEDGER.md "Key rotation")
ROTATION_TYPE = "mtlid-log-key-rotation+json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SignatureInvalid(ValueError):
    """A JWS that does not verify against the published keys, or has the wrong shape."""


@dataclasses.dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    root_hash: bytes
    timestamp: dt.datetime
    jws: str
    key_id: str

    def to_json(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root_hash": b64url(self.root_hash),
                "timestamp": int(self.timestamp.timestamp() * 1000), "jws": self.jws,
                "key_id": self.key_id}


class LogSigner:
    """The ledger's signing key (P-256)."""

    def __init__(self, private_jwk: dict[str, Any]) -> None:
        self._key = ECKey.import_key(private_jwk)
        if not self._key.is_private:
            raise ValueError("a private key is needed to sign")
        self.key_id = self._key.thumbprint()

    @classmethod
    def generate(cls) -> "LogSigner":
        return cls(ECKey.generate_key("P-256", private=True).as_dict(private=True))

    def private_jwk(self) -> dict[str, Any]:
        return self._key.as_dict(private=True)

    def public_jwk(self) -> dict[str, Any]:
        return {**self._key.as_dict(private=False), "kid": self.key_id, "use": "sig", "alg": "ES256"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}

    def _sign(self, payload: dict[str, Any], typ: str) -> str:
        header = {"alg": "ES256", "kid": self.key_id, "typ": typ}
        return jws.serialize_compact(header, canonical_json(payload), self._key)

    def sign_tree_head(self, tree_size: int, root_hash: bytes, timestamp: dt.datetime) -> SignedTreeHead:
        millis = int(timestamp.timestamp() * 1000)
        payload = {"tree_size": tree_size, "root_hash": b64url(root_hash), "timestamp": millis}
        when = dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc)
        return SignedTreeHead(tree_size, root_hash, when, self._sign(payload, STH_TYPE), self.key_id)

    def sign_receipt(self, receipt: dict[str, Any]) -> str:
        return self._sign(receipt, RECEIPT_TYPE)

    def sign_mandate_receipt(self, receipt: dict[str, Any]) -> str:
        """Its own JWS ``typ``: a mandate's receipt is never taken for a consent's."""
        return self._sign(receipt, MANDATE_RECEIPT_TYPE)

    def announce(self, successor: dict[str, Any], tree_size: int, timestamp: dt.datetime) -> str:
        """This key hands over to ``successor`` (a public JWK) from ``tree_size`` on: the
        announcement a witness that pinned this key verifies before it trusts the new one."""
        key = {k: successor[k] for k in ("kty", "crv", "x", "y")}
        return self._sign({"previous_kid": self.key_id, "kid": ECKey.import_key(key).thumbprint(),
                           "key": {**key, "kid": ECKey.import_key(key).thumbprint(), "use": "sig", "alg": "ES256"},
                           "from_tree_size": tree_size, "timestamp": int(timestamp.timestamp() * 1000)},
                          ROTATION_TYPE)


def _verify(token: str, jwks: dict[str, Any], typ: str) -> dict[str, Any]:
    try:
        keys = KeySet.import_key_set(jwks)
        obj = jws.deserialize_compact(token, keys, algorithms=["ES256"])
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise SignatureInvalid(f"signature does not verify: {exc}") from exc
    if obj.headers().get("typ") != typ:
        raise SignatureInvalid("unexpected JWS type")
    try:
        return json.loads(obj.payload)
    except ValueError as exc:
        raise SignatureInvalid("payload is not JSON") from exc


def verify_tree_head(token: str, jwks: dict[str, Any]) -> SignedTreeHead:
    """Verify a tree head JWS against a JWKS; returns what it asserts."""
    payload = _verify(token, jwks, STH_TYPE)
    try:
        size, root_hash, millis = payload["tree_size"], b64url_decode(payload["root_hash"]), payload["timestamp"]
    except (KeyError, ValueError) as exc:
        raise SignatureInvalid("not a tree head") from exc
    if not isinstance(size, int) or size < 0 or len(root_hash) != 32 or not isinstance(millis, int):
        raise SignatureInvalid("not a tree head")
    kid = jws.extract_compact(token.encode()).headers().get("kid", "")
    return SignedTreeHead(size, root_hash, dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc), token, kid)


def verify_receipt(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    return _verify(token, jwks, RECEIPT_TYPE)


def verify_mandate_receipt(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    return _verify(token, jwks, MANDATE_RECEIPT_TYPE)


def follow_rotations(pinned: dict[str, Any], announcements: list[str]) -> tuple[dict[str, Any], list[dict]]:
    """The pinned key set grown by every rotation announcement a pinned key signed (in any
    order, chains included), and what was followed. An announcement no pinned key signed, or
    whose ``kid`` is not the RFC 7638 thumbprint of the key it introduces, is ignored: only a
    key the log already proved it held can introduce the next one."""
    keys = [dict(k) for k in pinned.get("keys", [])]
    followed: list[dict] = []
    pending = [a for a in announcements if isinstance(a, str)]
    progress = True
    while pending and progress:
        progress = False
        for token in list(pending):
            try:
                body = _verify(token, {"keys": keys}, ROTATION_TYPE)
                key = dict(body["key"])
                kid = ECKey.import_key({k: key[k] for k in ("kty", "crv", "x", "y")}).thumbprint()
            except (SignatureInvalid, KeyError, TypeError, ValueError, JoseError):
                continue
            pending.remove(token)
            if kid != body.get("kid") or kid != key.get("kid"):
                continue
            if all(k.get("kid") != kid for k in keys):
                keys.append(key)
                followed.append({"previous_kid": body.get("previous_kid"), "kid": kid,
                                 "from_tree_size": body.get("from_tree_size")})
            progress = True
    return {**pinned, "keys": keys}, followed
