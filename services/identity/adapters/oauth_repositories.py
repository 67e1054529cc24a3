"""SQL implementation of the OpenID provider's stores (``services.identity.oidc.ports``),
and ``OAuthUnitOfWork``: identity's unit of work plus these stores. No commit here.

Single use is enforced by the database, not by a read-then-write: ``consume`` and ``rotate``
are conditional UPDATEs whose row count says whether this request won (two replicas
presenting the same code at once: exactly one gets tokens).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.adapters.oauth_orm import (
    AuthorizationCodeRow, GrantRow, RefreshTokenRow, RevokedAccessTokenRow, SsoSessionRow,
)
from services.identity.adapters.uow import IdentityUnitOfWork
from services.identity.oidc.records import (
    AuthorizationCode, Grant, RefreshToken, RefreshTokenState, SsoSession, as_utc,
)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return as_utc(value) if value is not None else None


class SqlCodeStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, code: AuthorizationCode) -> None:
        self.session.add(AuthorizationCodeRow(
            code_hash=code.code_hash, client_id=code.client_id, resident_id=code.resident_id,
            session_id=code.session_id, redirect_uri=code.redirect_uri, scope=code.scope,
            code_challenge=code.code_challenge, code_challenge_method=code.code_challenge_method,
            nonce=code.nonce, auth_time=code.auth_time, acr=code.acr, amr=list(code.amr),
            created_at=code.created_at, expires_at=code.expires_at, consumed_at=code.consumed_at,
            family_id=code.family_id))
        await self.session.flush()

    async def get(self, code_hash: str) -> AuthorizationCode | None:
        row = await self.session.get(AuthorizationCodeRow, code_hash)
        if row is None:
            return None
        return AuthorizationCode(
            code_hash=row.code_hash, client_id=row.client_id, resident_id=row.resident_id,
            session_id=row.session_id, redirect_uri=row.redirect_uri, scope=row.scope,
            code_challenge=row.code_challenge, code_challenge_method=row.code_challenge_method,
            nonce=row.nonce, auth_time=row.auth_time, acr=row.acr, amr=tuple(row.amr or ()),
            created_at=_utc(row.created_at), expires_at=_utc(row.expires_at),
            consumed_at=_utc(row.consumed_at), family_id=row.family_id)

    async def consume(self, code_hash: str, at: dt.datetime, family_id: str | None) -> bool:
        result = await self.session.execute(
            update(AuthorizationCodeRow)
            .where(AuthorizationCodeRow.code_hash == code_hash, AuthorizationCodeRow.consumed_at.is_(None))
            .values(consumed_at=at, family_id=family_id))
        return result.rowcount == 1


def _refresh(row: RefreshTokenRow) -> RefreshToken:
    return RefreshToken(
        token_hash=row.token_hash, family_id=row.family_id, client_id=row.client_id,
        resident_id=row.resident_id, session_id=row.session_id, scope=row.scope,
        auth_time=row.auth_time, acr=row.acr, amr=tuple(row.amr or ()),
        issued_at=_utc(row.issued_at), expires_at=_utc(row.expires_at),
        state=RefreshTokenState(row.state))


class SqlRefreshTokenStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: RefreshToken) -> None:
        self.session.add(RefreshTokenRow(
            token_hash=token.token_hash, family_id=token.family_id, client_id=token.client_id,
            resident_id=token.resident_id, session_id=token.session_id, scope=token.scope,
            auth_time=token.auth_time, acr=token.acr, amr=list(token.amr), issued_at=token.issued_at,
            expires_at=token.expires_at, state=token.state.value))
        await self.session.flush()

    async def get(self, token_hash: str) -> RefreshToken | None:
        row = await self.session.get(RefreshTokenRow, token_hash)
        return _refresh(row) if row else None

    async def rotate(self, token_hash: str) -> bool:
        result = await self.session.execute(
            update(RefreshTokenRow)
            .where(RefreshTokenRow.token_hash == token_hash, RefreshTokenRow.state == RefreshTokenState.ACTIVE.value)
            .values(state=RefreshTokenState.ROTATED.value))
        return result.rowcount == 1

    async def revoke_family(self, family_id: str) -> int:
        result = await self.session.execute(
            update(RefreshTokenRow).where(RefreshTokenRow.family_id == family_id,
                                          RefreshTokenRow.state != RefreshTokenState.REVOKED.value)
            .values(state=RefreshTokenState.REVOKED.value))
        return result.rowcount

    async def revoke_for_client(self, resident_id: str, client_id: str) -> int:
        result = await self.session.execute(
            update(RefreshTokenRow).where(RefreshTokenRow.resident_id == resident_id,
                                          RefreshTokenRow.client_id == client_id,
                                          RefreshTokenRow.state != RefreshTokenState.REVOKED.value)
            .values(state=RefreshTokenState.REVOKED.value))
        return result.rowcount

    async def revoke_for_resident(self, resident_id: str) -> int:
        """Every refresh token of the resident, whatever session issued it (an account closed,
        "this was not me")."""
        result = await self.session.execute(
            update(RefreshTokenRow).where(RefreshTokenRow.resident_id == resident_id,
                                          RefreshTokenRow.state != RefreshTokenState.REVOKED.value)
            .values(state=RefreshTokenState.REVOKED.value))
        return result.rowcount

    async def revoke_for_session(self, session_ids: list[str]) -> int:
        if not session_ids:
            return 0
        result = await self.session.execute(
            update(RefreshTokenRow).where(RefreshTokenRow.session_id.in_(session_ids),
                                          RefreshTokenRow.state != RefreshTokenState.REVOKED.value)
            .values(state=RefreshTokenState.REVOKED.value))
        return result.rowcount


def _grant(row: GrantRow) -> Grant:
    return Grant(grant_id=row.grant_id, resident_id=row.resident_id, client_id=row.client_id,
                 scopes=tuple(row.scopes or ()), scopes_refused=tuple(row.scopes_refused or ()),
                 purposes_accepted=tuple(row.purposes_accepted or ()),
                 purposes_refused=tuple(row.purposes_refused or ()), created_at=_utc(row.created_at),
                 withdrawn_at=_utc(row.withdrawn_at))


class SqlGrantStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def current(self, resident_id: str, client_id: str) -> Grant | None:
        row = (await self.session.execute(
            select(GrantRow).where(GrantRow.resident_id == resident_id, GrantRow.client_id == client_id,
                                   GrantRow.withdrawn_at.is_(None))
            .order_by(GrantRow.created_at.desc()).limit(1))).scalar_one_or_none()
        return _grant(row) if row else None

    async def add(self, grant: Grant) -> None:
        # A new grant replaces the previous one (the ledger keeps the history, via the events).
        await self.session.execute(
            update(GrantRow).where(GrantRow.resident_id == grant.resident_id, GrantRow.client_id == grant.client_id,
                                   GrantRow.withdrawn_at.is_(None)).values(withdrawn_at=grant.created_at))
        self.session.add(GrantRow(
            grant_id=grant.grant_id, resident_id=grant.resident_id, client_id=grant.client_id,
            scopes=list(grant.scopes), scopes_refused=list(grant.scopes_refused), purposes_accepted=list(grant.purposes_accepted),
            purposes_refused=list(grant.purposes_refused), created_at=grant.created_at,
            withdrawn_at=grant.withdrawn_at))
        await self.session.flush()

    async def withdraw(self, grant_id: str, at: dt.datetime) -> None:
        await self.session.execute(update(GrantRow).where(GrantRow.grant_id == grant_id).values(withdrawn_at=at))


def _session(row: SsoSessionRow) -> SsoSession:
    return SsoSession(session_id=row.session_id, secret_hash=row.secret_hash, resident_id=row.resident_id,
                      auth_time=row.auth_time, amr=tuple(row.amr or ()), acr=row.acr,
                      created_at=_utc(row.created_at), expires_at=_utc(row.expires_at),
                      ended_at=_utc(row.ended_at))


class SqlSessionStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, sso: SsoSession) -> None:
        self.session.add(SsoSessionRow(
            session_id=sso.session_id, secret_hash=sso.secret_hash, resident_id=sso.resident_id,
            auth_time=sso.auth_time, amr=list(sso.amr), acr=sso.acr, created_at=sso.created_at,
            expires_at=sso.expires_at, ended_at=sso.ended_at))
        await self.session.flush()

    async def by_secret_hash(self, secret_hash: str) -> SsoSession | None:
        row = (await self.session.execute(
            select(SsoSessionRow).where(SsoSessionRow.secret_hash == secret_hash))).scalar_one_or_none()
        return _session(row) if row else None

    async def get(self, session_id: str) -> SsoSession | None:
        row = await self.session.get(SsoSessionRow, session_id)
        return _session(row) if row else None

    async def update(self, sso: SsoSession) -> None:
        await self.session.execute(update(SsoSessionRow).where(SsoSessionRow.session_id == sso.session_id).values(
            auth_time=sso.auth_time, amr=list(sso.amr), acr=sso.acr, expires_at=sso.expires_at,
            ended_at=sso.ended_at))

    async def end(self, session_id: str, at: dt.datetime) -> None:
        await self.session.execute(update(SsoSessionRow).where(
            SsoSessionRow.session_id == session_id, SsoSessionRow.ended_at.is_(None)).values(ended_at=at))

    async def active_for(self, resident_id: str, now: dt.datetime) -> list[SsoSession]:
        rows = (await self.session.execute(
            select(SsoSessionRow).where(SsoSessionRow.resident_id == resident_id, SsoSessionRow.ended_at.is_(None),
                                        SsoSessionRow.expires_at > now))).scalars().all()
        return [_session(row) for row in rows]


class SqlRevokedTokenStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, jti: str, expires_at: dt.datetime) -> None:
        if await self.session.get(RevokedAccessTokenRow, jti) is None:
            self.session.add(RevokedAccessTokenRow(jti=jti, expires_at=expires_at))
            await self.session.flush()

    async def is_revoked(self, jti: str) -> bool:
        return await self.session.get(RevokedAccessTokenRow, jti) is not None


class SqlHousekeeping:
    """Deletes what can no longer be used: expired codes, refresh tokens and revoked-jti
    entries (the token they name has expired), and sessions over for 30 days. Grants stay
    (they are the resident's history; the consent ledger keeps its own)."""

    SESSION_RETENTION = dt.timedelta(days=30)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def purge(self, now: dt.datetime) -> int:
        removed = 0
        for statement in (
            delete(AuthorizationCodeRow).where(AuthorizationCodeRow.expires_at < now - dt.timedelta(hours=1)),
            delete(RefreshTokenRow).where(RefreshTokenRow.expires_at < now),
            delete(RevokedAccessTokenRow).where(RevokedAccessTokenRow.expires_at < now),
            delete(SsoSessionRow).where(or_(SsoSessionRow.expires_at < now - self.SESSION_RETENTION,
                                            SsoSessionRow.ended_at < now - self.SESSION_RETENTION)),
        ):
            removed += (await self.session.execute(statement)).rowcount or 0
        return removed


class OAuthUnitOfWork(IdentityUnitOfWork):
    """Identity's unit of work with the OpenID provider's stores."""

    def _open_repositories(self, session: AsyncSession) -> None:
        super()._open_repositories(session)
        self.codes = SqlCodeStore(session)
        self.refresh_tokens = SqlRefreshTokenStore(session)
        self.grants = SqlGrantStore(session)
        self.sessions = SqlSessionStore(session)
        self.revoked_tokens = SqlRevokedTokenStore(session)
        self.housekeeping = SqlHousekeeping(session)
