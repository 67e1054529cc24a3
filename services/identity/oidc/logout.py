"""Logout everywhere: OpenID Connect Back-Channel Logout 1.0 and Front-Channel Logout 1.0.

- Every client a resident signs in to during an SSO session is remembered with the session
  (``remember_client``, when the authorization endpoint issues a code).
- When a session ends — RP-initiated logout (``end_session.py``), "sign out everywhere"
  (Mon compte, a new password) — ``schedule_backchannel`` records one delivery per client of
  the session that registered a ``backchannel_logout_uri``, **in the same transaction** as the
  logout: nothing is lost if the process stops (the transactional-outbox idea).
- A sender (``adapters/logout_delivery.py``) POSTs each one as ``logout_token=<JWT>``
  (s. 2.5), retrying with exponential backoff (``next_attempt``) and recording the outcome.
- The logout token (s. 2.4): ``typ: logout+jwt``; ``iss``, ``aud`` (the client), ``iat``,
  ``exp``, ``jti``, ``sub`` (the client's pairwise subject), ``sid`` (as in the ID token) and
  ``events`` with the back-channel logout event; never a ``nonce``. Signed with the client's
  ID-token algorithm.
- Front-channel (Front-Channel Logout 1.0 s. 3): the "signed out" page embeds each
  ``frontchannel_logout_uri`` of the session's clients with ``iss`` and ``sid`` (s. 2), in
  iframes (no script needed).
"""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import urlencode

from joserfc import jwt

from services.identity.domain.pairwise import subject_for
from services.identity.oidc.records import LogoutDelivery, utcnow
from services.identity.oidc.tokens import OidcConfig, SigningKeyRing, new_id

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPE = "logout+jwt"
LOGOUT_TOKEN_TTL = 120            # seconds: the RP checks it at once
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 3600.0
MAX_ATTEMPTS = 8                  # ~5 s, 10 s, 20 s ... ~10 min: then given up, recorded


async def remember_client(uow, session_id: str, client_id: str) -> None:
    """The resident signed in to ``client_id`` in this session: tell it at logout."""
    await uow.session_clients.remember(session_id, client_id, utcnow())


async def schedule_backchannel(uow, resident_id: str, session_ids: list[str]) -> int:
    """One delivery per (session, client with a back-channel URI); the caller commits."""
    now = utcnow()
    scheduled = 0
    for session_id, client_id in await uow.session_clients.of_sessions(session_ids):
        client = await uow.clients.get(client_id)
        if client is None or not client.backchannel_logout_uri:
            continue
        await uow.logout_deliveries.add(LogoutDelivery(
            delivery_id=new_id(), client_id=client_id, session_id=session_id, resident_id=resident_id,
            uri=client.backchannel_logout_uri, created_at=now, next_attempt_at=now))
        scheduled += 1
    return scheduled


async def frontchannel_frames(uow, config: OidcConfig, session_id: str) -> list[dict[str, str]]:
    """The front-channel logout URIs of the session's clients, with ``iss`` and ``sid``
    (Front-Channel Logout 1.0 s. 2), for the "signed out" page's iframes."""
    frames = []
    for _sid, client_id in await uow.session_clients.of_sessions([session_id]):
        client = await uow.clients.get(client_id)
        if client is None or not client.frontchannel_logout_uri:
            continue
        uri = client.frontchannel_logout_uri
        separator = "&" if "?" in uri else "?"
        frames.append({"name": client.name,
                       "uri": uri + separator + urlencode({"iss": config.issuer, "sid": session_id})})
    return frames


def mint_logout_token(keys: SigningKeyRing, config: OidcConfig, *, client, resident_id: str, session_id: str) -> str:
    """A logout token (Back-Channel Logout 1.0 s. 2.4) for ``client``."""
    now = int(time.time())
    alg = client.id_token_signed_response_alg if client.id_token_signed_response_alg in ("ES256", "RS256") else "ES256"
    claims = {"iss": config.issuer, "aud": client.client_id, "iat": now, "exp": now + LOGOUT_TOKEN_TTL,
              "jti": new_id(), "sub": subject_for(client, resident_id, config.pairwise_secret),
              "sid": session_id, "events": {BACKCHANNEL_EVENT: {}}}
    kid, key = keys.current(alg)
    return jwt.encode({"alg": alg, "kid": kid, "typ": LOGOUT_TOKEN_TYPE}, claims, key, algorithms=[alg])


def after_attempt(delivery: LogoutDelivery, now: dt.datetime, error: str | None, *,
                  base: float = RETRY_BASE_SECONDS, max_attempts: int = MAX_ATTEMPTS) -> LogoutDelivery:
    """The delivery once an attempt is over: delivered, retried later (exponential backoff,
    capped) or given up after ``max_attempts``."""
    delivery.attempts += 1
    if error is None:
        delivery.delivered_at = now
        delivery.last_error = ""
        return delivery
    delivery.last_error = error
    if delivery.attempts >= max_attempts:
        delivery.gave_up_at = now
    else:
        delay = min(base * 2 ** (delivery.attempts - 1), RETRY_MAX_SECONDS)
        delivery.next_attempt_at = now + dt.timedelta(seconds=delay)
    return delivery
