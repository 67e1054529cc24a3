"""DPoP-bound access tokens on gRPC calls (RFC 9449 s. 7, mapped onto gRPC metadata).

A token whose claims carry ``cnf.jkt`` (a public client's: a single-page app, a mobile app)
is accepted only with a proof that the caller holds the key. RFC 9449 is written for HTTP;
over gRPC we map it so (the choice, documented in docs/contracts.md):

- the token travels as ``authorization: DPoP <token>`` and the proof as ``dpop: <proof>``
  (gRPC metadata keys are HTTP/2 header names, lower-case);
- ``htm`` is ``POST`` (every gRPC call is an HTTP/2 POST);
- ``htu`` is ``https://<authority>/<package.Service>/<Method>`` — the URL of the HTTP/2
  request that carries the call. The *path* must be the called method, exactly; the
  authority is not compared, because a service behind the ingress does not know under which
  name the client reached it (``accounts.montreal.ca`` outside, a pod address inside). The
  method path already differs between services (the package names the service), so a proof
  cannot be moved to another method or another service;
- ``ath`` is required (s. 7.1), ``iat`` within 60 s, and a proof's key and ``jti`` are
  remembered in this process until the proof is too old anyway: a second use is refused.
  Replicas do not share that memory (each service's database is its own, and a round trip
  per call to a shared store would cost more than the call): a proof captured *and* replayed
  to another replica within 70 s passes once there — still with the same method, token and
  key holder's signature. Server nonces (s. 9) are not required over gRPC.

Refusals are UNAUTHENTICATED with a stable reason: ``DPOP_REQUIRED`` (a bound token presented
as Bearer, s. 7.2), ``DPOP_NOT_BOUND`` (the DPoP scheme with a token that is not bound),
``DPOP_PROOF_INVALID`` (a proof missing, malformed, for another method, stale, replayed, or by
another key).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from urllib.parse import urlsplit

from services.common import dpop
from services.common.grpc.auth import Principal, TokenRejected

HTM = "POST"


def presented(authorization: object) -> tuple[str, str]:
    """``(scheme, token)`` from the ``authorization`` metadata: ``bearer`` or ``dpop``."""
    if isinstance(authorization, str):
        scheme = authorization[:5].lower()
        if authorization[:7].lower() == "bearer ":
            return "bearer", authorization[7:].strip()
        if scheme == "dpop ":
            return "dpop", authorization[5:].strip()
    raise TokenRejected("TOKEN_MISSING", "missing bearer access token")


def proof_of(context) -> str | None:
    """The call's ``dpop`` metadata; two of them make an invalid proof (s. 4.3 item 1)."""
    found = [value for key, value in (context.invocation_metadata() or ()) if key == "dpop"]
    if not found:
        return None
    return found[0] if len(found) == 1 and isinstance(found[0], str) else ","


class ProofMemory:
    """Proofs already seen by this process (s. 11.1), until they are too old to pass anyway.
    Bounded: when full, the oldest entries go first (they expire first)."""

    SIZE = 100_000

    def __init__(self) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_use(self, proof: dpop.Proof) -> bool:
        now = time.time()
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        key = dpop.replay_key(proof)
        if key in self._seen:
            return False
        self._seen[key] = proof.iat + dpop.MAX_AGE + dpop.SKEW
        if len(self._seen) > self.SIZE:
            self._seen.popitem(last=False)
        return True


def check_binding(principal: Principal, scheme: str, token: str, proof: str | None, method: str,
                  memory: ProofMemory) -> None:
    """Raise ``TokenRejected`` unless the token is presented as its binding requires."""
    if principal.key_thumbprint is None:
        if scheme == "dpop":
            raise TokenRejected("DPOP_NOT_BOUND", "this access token is not DPoP-bound: use the Bearer scheme")
        return
    if scheme != "dpop":
        raise TokenRejected("DPOP_REQUIRED", "this access token is DPoP-bound: send it as DPoP with a proof")
    try:
        checked = dpop.check_proof(proof, htm=HTM, htu=_htu_for(proof, method), access_token=token)
    except dpop.ProofInvalid as invalid:
        raise TokenRejected("DPOP_PROOF_INVALID", f"DPoP proof refused: {invalid.description}") from None
    if checked.jkt != principal.key_thumbprint:
        raise TokenRejected("DPOP_PROOF_INVALID", "DPoP proof refused: not by the key the token is bound to")
    if not memory.first_use(checked):
        raise TokenRejected("DPOP_PROOF_INVALID", "DPoP proof refused: already used")


def _htu_for(proof: str | None, method: str) -> str:
    """The ``htu`` the proof must carry: its own authority (not compared, see above), https,
    and the called method's path."""
    claimed = dpop.unverified_claims(proof).get("htu")
    claimed = claimed if isinstance(claimed, str) else ""
    try:
        authority = urlsplit(claimed).netloc if claimed.startswith("https://") else "invalid.invalid"
    except ValueError:           # not a URI at all: compared, it fails the htu check
        authority = "invalid.invalid"
    return f"https://{authority}{method}"
