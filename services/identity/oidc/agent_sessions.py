"""Counter agents' sessions at the identity front, and the subject token derived from one.

The browser holds a random secret in its own cookie (``mtlid_counter``: an agent's session
is never a resident's); the database holds its SHA-256 (``agent_sessions``). A session is
at level 3 once the second factor is checked, lasts 8 hours at most and ends after 15
minutes idle (``domain/staff.py``).

The **agent session token** is what a counter system presents as ``subject_token`` in a
token exchange (RFC 8693 s. 2.1): a JWT signed with the provider's keys, explicitly typed
``agent-session+jwt`` (RFC 8725 s. 3.11, so it can never pass for an access or ID token),
``sub`` the agent, ``sid`` the session, audience the token endpoint, valid 5 minutes. It says
*which* session; the token endpoint then checks that session in the database (still open,
level 3, not idle), so ending the session ends what the token can obtain at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

from services.identity.domain.staff import SESSION_MAX, AgentSession
from services.identity.oidc import es256
from services.identity.oidc.records import utcnow
from services.identity.oidc.tokens import (OidcConfig, SigningKeyRing, TokenInvalid, new_id, new_secret,
                                           secret_hash, verify_jwt)

AGENT_COOKIE = "mtlid_counter"
SUBJECT_TOKEN_TYP = "agent-session+jwt"
#: RFC 8693 s. 3: a JWT, whose meaning the typ header above fixes
SUBJECT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
SUBJECT_TOKEN_TTL = 300


async def open_agent_session(uow, agent_id: str) -> tuple[AgentSession, str]:
    """A new session after the password (level 2 until the second factor); a new secret on
    every sign-in (no session fixation)."""
    now = utcnow()
    secret = new_secret()
    session = AgentSession(session_id=new_id(), secret_hash=secret_hash(secret), agent_id=agent_id, amr=("pwd",),
                           auth_time=int(now.timestamp()), created_at=now, last_seen_at=now,
                           expires_at=now + SESSION_MAX)
    await uow.agent_sessions.add(session)
    return session, secret


async def find_agent_session(uow, secret: str | None) -> AgentSession | None:
    """The session this cookie names, whatever its state (callers check ``problem``)."""
    if not secret or len(secret) > 200:
        return None
    return await uow.agent_sessions.by_secret_hash(secret_hash(secret))


async def add_agent_second_factor(uow, session: AgentSession, methods: tuple[str, ...] = ("otp",)) -> AgentSession:
    """The second step done: ``methods`` (a TOTP code: ``otp``; a passkey: ``hwk``/``swk``,
    ``user``) and ``mfa``; the session reaches level 3."""
    now = utcnow()
    session = dataclasses.replace(session, amr=tuple(dict.fromkeys((*session.amr, *methods, "mfa"))),
                                  auth_time=int(now.timestamp()), last_seen_at=now)
    await uow.agent_sessions.update(session)
    return session


async def end_agent_session(uow, session: AgentSession) -> None:
    session = dataclasses.replace(session, ended_at=utcnow())
    await uow.agent_sessions.update(session)


def mint_subject_token(keys: SigningKeyRing, config: OidcConfig, session: AgentSession) -> str:
    now = int(time.time())
    claims = {"iss": config.issuer, "aud": config.endpoint("/token"), "sub": session.agent_id,
              "sid": session.session_id, "acr": session.level.acr, "amr": list(session.amr),
              "auth_time": session.auth_time, "iat": now, "exp": now + SUBJECT_TOKEN_TTL, "jti": new_id()}
    kid, key = keys.current("ES256")
    return es256.sign(key.private_key, kid, SUBJECT_TOKEN_TYP, claims)


def read_subject_token(keys: SigningKeyRing, config: OidcConfig, token: str) -> dict:
    """The claims of one of our agent session tokens, or ``TokenInvalid``."""
    if not isinstance(token, str) or len(token) > 4096:
        raise TokenInvalid("size")
    claims = verify_jwt(keys, config, token, typ=SUBJECT_TOKEN_TYP)
    aud = claims.get("aud")
    if aud != config.endpoint("/token") and not (isinstance(aud, list) and config.endpoint("/token") in aud):
        raise TokenInvalid("aud")
    if not isinstance(claims.get("sid"), str) or not isinstance(claims.get("sub"), str):
        raise TokenInvalid("sid")
    return claims


def seconds_left(session: AgentSession, now: dt.datetime | None = None) -> int:
    """Until the session ends if the agent does nothing more."""
    return max(0, int((session.idle_deadline() - (now or utcnow())).total_seconds()))
