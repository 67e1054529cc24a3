"""Token Status List (IETF draft-ietf-oauth-status-list): how a counter learns a card is revoked.

Each carte citoyenne carries ``"status": {"status_list": {"idx": n, "uri": ...}}`` (s. 6.1);
the list is one bit per card (``bits`` = 1: 0 valid, 1 invalid), packed least significant bit
first (s. 4.1), deflated with zlib (RFC 1950) at level 9 and base64url-encoded as ``lst``.
It is published as a JWT with ``typ`` ``statuslist+jwt`` (s. 5.1), ``sub`` its own URI,
``iat``, ``exp`` and ``ttl`` (how long a verifier may cache it), signed by the card's key.

A list of 1-bit entries is 16 KiB per 131,072 cards before compression, and compresses to
almost nothing while few are revoked; a verifier caches it whole, so it learns nothing about
which card it is checking (the privacy point of the draft's s. 12).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from services.identity.card.sd_jwt import PresentationRefused, b64url, b64url_decode

STATUS_LIST_TYP = "statuslist+jwt"
VALID = 0x00
INVALID = 0x01
SUSPENDED = 0x02


@dataclass
class StatusList:
    """A list of ``bits``-wide statuses, index ``i`` at bits ``i*bits`` LSB first (s. 4.1)."""

    size: int
    bits: int = 1
    packed: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        if self.bits not in (1, 2, 4, 8):
            raise ValueError("bits must be 1, 2, 4 or 8")
        needed = (self.size * self.bits + 7) // 8
        if len(self.packed) < needed:
            self.packed.extend(b"\x00" * (needed - len(self.packed)))

    def _place(self, index: int) -> tuple[int, int, int]:
        if not 0 <= index < self.size:
            raise IndexError(f"status index {index} outside the list (size {self.size})")
        bit = index * self.bits
        return bit // 8, bit % 8, (1 << self.bits) - 1

    def get(self, index: int) -> int:
        byte, shift, mask = self._place(index)
        return (self.packed[byte] >> shift) & mask

    def set(self, index: int, status: int) -> None:
        byte, shift, mask = self._place(index)
        if not 0 <= status <= mask:
            raise ValueError("status does not fit in bits")
        self.packed[byte] = (self.packed[byte] & ~(mask << shift) & 0xFF) | (status << shift)

    def encoded(self) -> dict[str, Any]:
        """The ``status_list`` claim (s. 4.2)."""
        return {"bits": self.bits, "lst": b64url(zlib.compress(bytes(self.packed), 9))}

    @classmethod
    def decoded(cls, claim: Mapping[str, Any]) -> StatusList:
        try:
            bits = int(claim["bits"])
            packed = bytearray(zlib.decompress(b64url_decode(str(claim["lst"]))))
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise PresentationRefused("status_unavailable", "the status list is not readable") from exc
        return cls(size=len(packed) * 8 // bits, bits=bits, packed=packed)


def status_list_token(
    status_list: StatusList, key: ECKey, *, kid: str, uri: str, now: int, lifetime: int, ttl: int
) -> str:
    """The signed Status List Token (s. 5.1); ``exp`` bounds how long a stale copy is trusted."""
    claims = {"sub": uri, "iat": now, "exp": now + lifetime, "ttl": ttl, "status_list": status_list.encoded()}
    body = json.dumps(claims, separators=(",", ":")).encode()
    return jws.serialize_compact({"alg": "ES256", "typ": STATUS_LIST_TYP, "kid": kid}, body, key, algorithms=["ES256"])


@dataclass(frozen=True)
class CheckedStatusList:
    uri: str
    issued_at: int
    expires_at: int
    entries: StatusList


def read_status_list_token(token: str, keys: Mapping[str, ECKey], *, uri: str) -> CheckedStatusList:
    """Verifies a Status List Token against the issuer's keys (s. 8.3 steps 1 to 4)."""
    try:
        header = json.loads(b64url_decode(token.split(".")[0]))
        key = keys.get(header.get("kid", ""))
        if key is None or header.get("typ") != STATUS_LIST_TYP or header.get("alg") != "ES256":
            raise PresentationRefused("status_unavailable", "the status list is not signed by the card key")
        claims = json.loads(jws.deserialize_compact(token, key, algorithms=["ES256"]).payload)
    except (JoseError, ValueError, IndexError, AttributeError) as exc:
        raise PresentationRefused("status_unavailable", "the status list signature does not verify") from exc
    if claims.get("sub") != uri:
        raise PresentationRefused("status_unavailable", "the status list is not the one the card names")
    return CheckedStatusList(uri, int(claims.get("iat", 0)), int(claims.get("exp", 0)),
                             StatusList.decoded(claims.get("status_list") or {}))
