"""Single sign-on sessions at the identity front, shared by every montreal.ca frontend.

The browser holds a random secret in an HttpOnly cookie; the database holds its SHA-256 with
the resident, ``auth_time``, ``amr`` (RFC 8176 values: ``pwd``, ``otp``, ``mfa``) and ``acr``.
Either way the clients the sessions signed in to that registered a back-channel logout URI
are told (``logout.py``, Back-Channel Logout 1.0). Ending one session (RP-initiated logout) revokes the refresh tokens issued in it except those
granted ``offline_access`` (OIDC Core s. 11: access while the resident is away, which they
consented to). Signing out everywhere — the resident's panic button, also run after a new
password — ends every session and revokes every refresh token issued in them, offline ones
included (``session_ended`` with ``scope: "all"``).
"""

from __future__ import annotations

import datetime as dt

from services.identity.domain.assurance import LevelOfAssurance, session_level
from services.identity.domain.events import SessionEnded
from services.identity.oidc.access import revoke_access_of_resident
from services.identity.oidc.logout import schedule_backchannel
from services.identity.oidc.records import SsoSession, utcnow
from services.identity.oidc.tokens import OidcConfig, new_id, new_secret, secret_hash

SESSION_COOKIE = "mtlid_session"


def acr_for(resident_level: int, amr: tuple[str, ...]) -> str:
    # A second factor: a TOTP or recovery code after the password, or a user-verified passkey
    # (``mfa`` from domain.passkeys.amr_for).
    return session_level(LevelOfAssurance(int(resident_level)), "otp" in amr or "mfa" in amr).acr


async def find_session(uow, secret: str | None, now: dt.datetime | None = None) -> SsoSession | None:
    if not secret or len(secret) > 200:
        return None
    session = await uow.sessions.by_secret_hash(secret_hash(secret))
    if session is None or not session.is_active(now or utcnow()):
        return None
    return session


async def open_session(uow, config: OidcConfig, resident_id: str, resident_level: int,
                       amr: tuple[str, ...], session_id: str | None = None) -> tuple[SsoSession, str]:
    """A new session (a new secret on every login: no session fixation)."""
    now = utcnow()
    secret = new_secret()
    session = SsoSession(session_id=session_id or new_id(), secret_hash=secret_hash(secret), resident_id=resident_id,
                         auth_time=int(now.timestamp()), amr=amr, acr=acr_for(resident_level, amr),
                         created_at=now, expires_at=now + dt.timedelta(seconds=config.session_ttl))
    await uow.sessions.add(session)
    return session, secret


async def add_second_factor(uow, session: SsoSession, resident_level: int,
                            methods: tuple[str, ...] = ("otp",)) -> SsoSession:
    """Step-up: the session gains ``methods`` (a TOTP or recovery code: ``otp``; a passkey:
    ``hwk``/``swk`` and ``user``) and ``mfa``; its level is recomputed."""
    amr = tuple(dict.fromkeys((*session.amr, *methods, "mfa")))
    session.amr = amr
    session.acr = acr_for(resident_level, amr)
    session.auth_time = int(utcnow().timestamp())
    await uow.sessions.update(session)
    return session


async def end_session(uow, session: SsoSession) -> None:
    await uow.sessions.end(session.session_id, utcnow())
    await uow.refresh_tokens.revoke_for_session([session.session_id], keep_offline=True)
    await schedule_backchannel(uow, session.resident_id, [session.session_id])
    uow.add_event(SessionEnded(resident_id=session.resident_id, session_id=session.session_id, scope="one"))


async def sign_out_everywhere(uow, resident_id: str, *, keep: str | None = None) -> int:
    """End every active session of the resident (but ``keep``, the one asking, when given:
    after a new password, whoever signed in with the old one is signed out); returns how many."""
    now = utcnow()
    sessions = [s for s in await uow.sessions.active_for(resident_id, now) if s.session_id != keep]
    for session in sessions:
        await uow.sessions.end(session.session_id, now)
        uow.add_event(SessionEnded(resident_id=resident_id, session_id=session.session_id, scope="all"))
    # offline families too, whichever session they came from (it may have ended long ago),
    # and the offline access tokens they minted (session-bound ones die with their session)
    families = await uow.refresh_tokens.revoke_for_resident(resident_id, except_session=keep)
    # and every access token of the ended sessions, at the services too (tokens_revoked): their
    # verification knows nothing of sessions
    await revoke_access_of_resident(uow, resident_id, except_session=keep, families=families)
    await schedule_backchannel(uow, resident_id, [s.session_id for s in sessions])
    return len(sessions)
