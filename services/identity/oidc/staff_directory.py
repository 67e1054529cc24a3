"""Borough systems with their own staff directory (issue 17): the same token exchange (RFC 8693),
with a ``subject_token`` issued by the borough's directory instead of our agent session token.

A registered client names the directory it trusts (``mtlid client create
--staff-directory-issuer … --staff-directory-jwks-uri …|--staff-directory-jwks-file …``). The
directory's token is a JWT (RFC 7519) about one of its staff members, which we check, in this
order (every refusal ``invalid_request``, RFC 8693 s. 2.2.2, with the reason in the description):

1. its ``iss`` is the directory this client trusts (``unknown_issuer`` otherwise: a directory
   trusted by another client is not trusted here);
2. its signature verifies with the directory's keys (``signature``); ES256, RS256, PS256 or
   EdDSA, never ``none`` nor a shared secret;
3. ``aud`` names us: our token endpoint or our issuer (``audience``);
4. ``exp`` is in the future and at most one hour ahead; ``iat``/``nbf`` not in the future
   (``expired``, ``lifetime``; 30 s of clock skew);
5. ``sub`` names the staff member (1 to 100 visible characters, and ``<client_id>:<sub>`` at
   most 128, what the services' journals keep) (``subject``);
6. the staff member signed in with a second factor: ``amr`` (RFC 8176) holds ``mfa``, or ``acr``
   is a multi-factor level (``STRONG_ACRS``) (``too_weak``) — the same level 3 our own agents need;
7. ``office`` names their office (``office``), for the journal;
8. ``jti`` (RFC 7519 s. 4.1.7) names the token (``jti``), and it is used once: the exchange
   records it until ``exp`` in the database every identity process shares (the table of
   ``private_key_jwt`` assertions' ``jti``, under the directory's own key), so a token copied
   from a borough system's logs or traffic cannot be exchanged again, on any replica
   (``replayed``).

The access token then carries ``act: {"sub": "<client_id>:<sub>", "iss": <directory>}``: the
client's id and a colon before the directory's own identifier, so an external agent can never
be taken for one of our agents (``AG`` and ten characters, no colon) nor for another borough's
staff member of the same name.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from services.identity.domain.staff import office_problem
from services.identity.oidc.client_assertion import ALGORITHMS, MAX_LIFETIME, SKEW

#: RFC 8176 ``amr`` saying several factors were used.
STRONG_AMR = frozenset({"mfa"})
#: ``acr`` values that mean a multi-factor sign-in: ours (level 3), OpenID PAPE's multi-factor
#: policies, and the "phishing-resistant" ones of OpenID's Enterprise Extensions.
STRONG_ACRS = frozenset({"urn:mtlid:loa:3", "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
                         "http://schemas.openid.net/pape/policies/2007/06/multi-factor-physical", "phr", "phrh"})
_SUBJECT = re.compile(r"^[\x21-\x7e]{1,100}$")
#: the services keep an agent's id in 128 characters (accounts' journal): "<client_id>:<sub>" fits
MAX_AGENT_REF = 128


class StaffTokenRefused(Exception):
    """Why a staff directory's token is not accepted (a short reason code)."""


@dataclass(frozen=True)
class ExternalAgent:
    """A borough's staff member, as the exchanged token will name them."""

    agent_ref: str          # "<client_id>:<sub>", the act.sub
    issuer: str             # the directory
    office: str
    acr: str
    auth_time: int | None
    jti: str = ""
    exp: float = 0.0


def claimed_issuer(token: str) -> str | None:
    """The ``iss`` of a JWT not yet verified: only to choose which keys verify it."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, TypeError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


def trusts(client: Any, issuer: str | None) -> bool:
    return bool(issuer) and bool(client.staff_directory_issuer) and issuer == client.staff_directory_issuer


def _directory(client: Any) -> SimpleNamespace:
    """The directory's keys, in the shape the registered-keys cache reads (its own cache key)."""
    return SimpleNamespace(client_id=f"staff-directory:{client.client_id}", jwks=client.staff_directory_jwks,
                           jwks_uri=client.staff_directory_jwks_uri)


async def verify_staff_token(client_keys, client: Any, token: str, *, issuer: str, token_endpoint: str,
                             now: float | None = None) -> ExternalAgent:
    """The staff member a directory's token names, or ``StaffTokenRefused`` (checks 1-7)."""
    if len(token) > 8192:
        raise StaffTokenRefused("size")
    if not trusts(client, claimed_issuer(token)):
        raise StaffTokenRefused("unknown_issuer")
    claims = None
    for refresh in (False, True):  # the directory may have rotated its keys: fetch them again, once
        keys = await client_keys.key_set(_directory(client), refresh=refresh)
        if keys is None:
            break
        try:
            claims = jwt.decode(token, keys, algorithms=ALGORITHMS).claims
            break
        except (JoseError, ValueError, TypeError, KeyError):
            if not client.staff_directory_jwks_uri:
                break
    if claims is None:
        raise StaffTokenRefused("signature")
    if claims.get("iss") != client.staff_directory_issuer:
        raise StaffTokenRefused("unknown_issuer")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
    if not {issuer, token_endpoint} & set(a for a in audiences if isinstance(a, str)):
        raise StaffTokenRefused("audience")
    now = time.time() if now is None else now
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp <= now - SKEW:
        raise StaffTokenRefused("expired")
    if exp > now + MAX_LIFETIME + SKEW:
        raise StaffTokenRefused("lifetime")
    for name in ("iat", "nbf"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, (int, float)) or value > now + SKEW):
            raise StaffTokenRefused("lifetime")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not _SUBJECT.match(subject) or len(
            f"{client.client_id}:{subject}") > MAX_AGENT_REF:
        raise StaffTokenRefused("subject")
    amr = claims.get("amr") if isinstance(claims.get("amr"), list) else []
    acr = claims.get("acr") if isinstance(claims.get("acr"), str) else ""
    if not (STRONG_AMR & {m for m in amr if isinstance(m, str)}) and acr not in STRONG_ACRS:
        raise StaffTokenRefused("too_weak")
    office = claims.get("office")
    if not isinstance(office, str) or office_problem(office) is not None:
        raise StaffTokenRefused("office")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 200:
        raise StaffTokenRefused("jti")
    auth_time = claims.get("auth_time")
    return ExternalAgent(jti=jti, exp=float(exp), agent_ref=f"{client.client_id}:{subject}", issuer=client.staff_directory_issuer,
                         office=office.strip(), acr=acr or "urn:mtlid:loa:3",
                         auth_time=auth_time if isinstance(auth_time, int) and not isinstance(auth_time, bool)
                         else None)


PROBLEMS = {
    "size": "The staff directory's token is too large.",
    "unknown_issuer": "The subject token's issuer is not a staff directory this client is registered with.",
    "signature": "The staff directory's token does not verify with the directory's keys.",
    "audience": "The staff directory's token is not addressed to this token endpoint (aud).",
    "expired": "The staff directory's token has expired.",
    "lifetime": "The staff directory's token is valid too long (one hour at most) or not yet.",
    "subject": "The staff directory's token names no staff member (sub).",
    "too_weak": "The staff member did not sign in with a second factor (amr 'mfa' or a multi-factor acr).",
    "office": "The staff directory's token names no office (office).",
    "jti": "The staff directory's token has no identifier (jti): it could be replayed.",
    "replayed": "The staff directory's token was already exchanged (jti): it is valid once.",
}


def replay_key(client: Any) -> str:
    """Where a directory's used ``jti`` are kept (the ``client_id`` column of
    ``oauth_client_assertions``, 64 characters): a prefix no client id has (clients' ids have
    no colon) and a digest of the directory's issuer, so each directory's ``jti`` are its own."""
    return "staff-directory:" + hashlib.sha256(client.staff_directory_issuer.encode()).hexdigest()[:40]


async def use_once(uow, client: Any, agent: ExternalAgent) -> None:
    """Record the token's ``jti`` until ``exp`` (plus the clock skew), in the caller's
    transaction, or ``StaffTokenRefused("replayed")``: the primary key makes a second use fail
    whichever identity process sees it (a concurrent one waits for the first to commit)."""
    until = dt.datetime.fromtimestamp(agent.exp + SKEW, dt.timezone.utc)
    if not await uow.client_assertions.use(replay_key(client), agent.jti, until):
        raise StaffTokenRefused("replayed")
