"""DPoP at the provider (RFC 9449): proofs at the token endpoint and at userinfo.

The proof itself is checked by ``services/common/dpop.py`` (s. 4.3, shared with the services'
gRPC verification). What only the provider does:

- **nonces** (s. 8): the token endpoint demands one. A nonce is stateless — a 5-minute time
  slot and its HMAC under a key derived from the key-encryption key — so every replica
  issues and accepts the same ones without storage; the current and the previous slot are
  accepted. A proof without it, or with a stale one, gets ``use_dpop_nonce`` and the
  ``DPoP-Nonce`` header, and every answer of the token endpoint carries the current nonce.
  Userinfo accepts proofs without a nonce (s. 9 leaves it to the resource server; the
  60-second ``iat`` window and the ``jti`` store bound a replay there) but checks one sent.
- **replay** (s. 11.1): each proof's key and ``jti`` are recorded in the database
  (``oauth_dpop_proofs``), shared by all replicas, until the proof is too old anyway; a second
  use is ``invalid_dpop_proof``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import struct
import time

from services.common import dpop
from services.identity.oidc.errors import InvalidDpopProof, UseDpopNonce
from services.identity.oidc.wire import WireRequest

log = logging.getLogger(__name__)

NONCE_SLOT = 300    # seconds


def _nonce_key(provider) -> bytes:
    return hashlib.sha256(b"mtlid dpop nonce\0" + provider.config.interaction_key).digest()


def _nonce_for(key: bytes, slot: int) -> str:
    packed = struct.pack(">Q", slot)
    return dpop.b64url(packed + hmac.new(key, packed, hashlib.sha256).digest()[:16])


def current_nonce(provider, now: float | None = None) -> str:
    return _nonce_for(_nonce_key(provider), int((time.time() if now is None else now) // NONCE_SLOT))


def nonce_valid(provider, nonce: str | None, now: float | None = None) -> bool:
    if not nonce or len(nonce) > 64:
        return False
    key, slot = _nonce_key(provider), int((time.time() if now is None else now) // NONCE_SLOT)
    return any(hmac.compare_digest(nonce, _nonce_for(key, s)) for s in (slot, slot - 1))


def proof_header(request: WireRequest) -> str | None:
    return request.headers.get("dpop")


async def checked_proof(provider, request: WireRequest, *, path: str, access_token: str | None = None,
                        require_nonce: bool) -> dpop.Proof:
    """The request's proof once s. 4.3's checks, the nonce and the replay check pass; otherwise
    ``InvalidDpopProof`` or ``UseDpopNonce``. ``htu`` is our own URI for ``path`` (the issuer's
    origin: behind the ingress the request's Host is not what the client called)."""
    try:
        proof = dpop.check_proof(proof_header(request), htm=request.method, htu=provider.config.endpoint(path),
                                 access_token=access_token)
    except dpop.ProofInvalid as invalid:
        log.info("DPoP proof refused", extra={"reason": invalid.reason, "endpoint": path})
        raise InvalidDpopProof(invalid.description) from None
    if (require_nonce or proof.nonce is not None) and not nonce_valid(provider, proof.nonce):
        raise UseDpopNonce("Authorization server requires nonce in DPoP proof.", current_nonce(provider))
    first_use = await provider.single_use.dpop_proof(
        dpop.replay_key(proof), dt.datetime.fromtimestamp(proof.iat + dpop.MAX_AGE + dpop.SKEW, dt.timezone.utc))
    if not first_use:
        log.warning("DPoP proof replayed", extra={"endpoint": path})
        raise InvalidDpopProof("The DPoP proof was already used.")
    return proof
