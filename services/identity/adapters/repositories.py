"""SQL repositories of identity: rows ↔ domain objects. No commit here (the unit of work)."""

from __future__ import annotations

import datetime as dt
import time
import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import conflict_insert
from services.identity.adapters.orm import (AgentActionRow, ClientRow, LoginThrottleRow, PasskeyRow, RecoveryCodeRow,
                                            WebAuthnChallengeRow,
                                            ResidentClosureRow,
                                            ResidentRow, SecurityReportRow, SignInRow, SigningKeyRow,
                                            TotpUsedStepRow)
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.clients import OAuthClient
from services.identity.domain.errors import Conflict
from services.identity.domain.keys import SigningKeyRecord
from services.identity.domain.passkeys import Passkey
from services.identity.domain.residents import Resident, normalize_email
from services.identity.domain.sign_ins import SignIn
from services.identity.domain.throttling import ThrottleState


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite returns naive datetimes even for timezone=True columns; they were stored as UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


_RESIDENT_FIELDS = ("email", "password_hash", "email_verified", "preferred_language", "disabled",
                    "totp_secret_encrypted", "totp_pending_encrypted", "email_code_hash",
                    "email_code_expires_at", "registered_by", "activation_code_hash",
                    "activation_code_expires_at", "pending_email", "pending_email_code_hash",
                    "pending_email_expires_at", "password_change_required", "closed_at", "purged_at")


def _resident(row: ResidentRow) -> Resident:
    return Resident(
        resident_id=row.resident_id, email=row.email, password_hash=row.password_hash,
        email_verified=row.email_verified, level=LevelOfAssurance(row.level),
        preferred_language=row.preferred_language, created_at=_utc(row.created_at),
        disabled=row.disabled, totp_secret_encrypted=row.totp_secret_encrypted,
        totp_pending_encrypted=row.totp_pending_encrypted, email_code_hash=row.email_code_hash,
        email_code_expires_at=_utc(row.email_code_expires_at), registered_by=row.registered_by,
        activation_code_hash=row.activation_code_hash,
        activation_code_expires_at=_utc(row.activation_code_expires_at),
        pending_email=row.pending_email, pending_email_code_hash=row.pending_email_code_hash,
        pending_email_expires_at=_utc(row.pending_email_expires_at),
        password_change_required=bool(row.password_change_required), closed_at=_utc(row.closed_at),
        purged_at=_utc(row.purged_at))


class SqlResidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, resident_id: str) -> Resident | None:
        row = await self.session.get(ResidentRow, resident_id)
        return _resident(row) if row else None

    async def by_email(self, email: str) -> Resident | None:
        row = (await self.session.execute(
            select(ResidentRow).where(func.lower(ResidentRow.email) == normalize_email(email)))).scalar_one_or_none()
        return _resident(row) if row else None

    async def exists(self, resident_id: str) -> bool:
        return await self.session.get(ResidentRow, resident_id) is not None

    async def add(self, resident: Resident) -> None:
        """Insert and flush now, so a duplicate citizen number or email fails here, inside
        the transaction, where the caller can retry with a new number."""
        try:
            # A savepoint, so a refused insert leaves the rest of the transaction usable.
            async with self.session.begin_nested():
                self.session.add(ResidentRow(
                    resident_id=resident.resident_id, level=int(resident.level),
                    created_at=resident.created_at,
                    **{name: getattr(resident, name) for name in _RESIDENT_FIELDS}))
        except IntegrityError:
            raise Conflict("resident") from None

    async def save(self, resident: Resident) -> None:
        values = {name: getattr(resident, name) for name in _RESIDENT_FIELDS}
        values["level"] = int(resident.level)
        await self.session.execute(
            update(ResidentRow).where(ResidentRow.resident_id == resident.resident_id).values(**values))

    async def mark_totp_step_used(self, resident_id: str, step: int, now: dt.datetime) -> bool:
        """Record an accepted TOTP step; False if it (or a later one) was already used."""
        latest = (await self.session.execute(
            select(func.max(TotpUsedStepRow.step)).where(TotpUsedStepRow.resident_id == resident_id))).scalar()
        if latest is not None and step <= latest:
            return False
        try:
            # The primary key refuses a concurrent use of the same step by another replica.
            async with self.session.begin_nested():
                self.session.add(TotpUsedStepRow(resident_id=resident_id, step=step, used_at=now))
        except IntegrityError:
            return False
        # Only the latest step matters for replay protection (steps only move forward).
        await self.session.execute(delete(TotpUsedStepRow).where(
            TotpUsedStepRow.resident_id == resident_id, TotpUsedStepRow.step < step))
        return True

    async def closed_before(self, before: dt.datetime, limit: int) -> list[str]:
        """Residents closed at their request before ``before`` and not purged yet, oldest first."""
        return list((await self.session.execute(
            select(ResidentRow.resident_id).where(ResidentRow.closed_at.is_not(None), ResidentRow.closed_at < before,
                                                  ResidentRow.purged_at.is_(None))
            .order_by(ResidentRow.closed_at).limit(limit))).scalars())

    async def forget_traces(self, resident_id: str) -> int:
        """Delete what the resident's use of the account left behind (issue 21, the purge of a
        closed account): sign-ins, sessions and the clients told of them, codes, refresh
        tokens, grants, pending logout deliveries, used TOTP steps. Kept: the closures
        (receipts), the security reports and the agents' actions (the city's accountability
        for what was done on the file). Returns how many rows went."""
        from services.identity.adapters.oauth_orm import (AuthorizationCodeRow, GrantRow, LogoutDeliveryRow,
                                                          RefreshTokenRow, SessionClientRow, SsoSessionRow)

        sessions = select(SsoSessionRow.session_id).where(SsoSessionRow.resident_id == resident_id)
        statements = [
            delete(SessionClientRow).where(SessionClientRow.session_id.in_(sessions)),
            delete(SsoSessionRow).where(SsoSessionRow.resident_id == resident_id),
            delete(AuthorizationCodeRow).where(AuthorizationCodeRow.resident_id == resident_id),
            delete(RefreshTokenRow).where(RefreshTokenRow.resident_id == resident_id),
            delete(GrantRow).where(GrantRow.resident_id == resident_id),
            delete(LogoutDeliveryRow).where(LogoutDeliveryRow.resident_id == resident_id),
            delete(SignInRow).where(SignInRow.resident_id == resident_id),
            delete(TotpUsedStepRow).where(TotpUsedStepRow.resident_id == resident_id),
        ]
        gone = 0
        for statement in statements:
            gone += (await self.session.execute(statement)).rowcount or 0
        return gone

    async def last_totp_step(self, resident_id: str) -> int | None:
        return (await self.session.execute(
            select(func.max(TotpUsedStepRow.step)).where(TotpUsedStepRow.resident_id == resident_id))).scalar()


def _client(row: ClientRow) -> OAuthClient:
    return OAuthClient(
        client_id=row.client_id, name=row.name, secret_hash=row.secret_hash,
        redirect_uris=tuple(row.redirect_uris or ()),
        post_logout_redirect_uris=tuple(row.post_logout_redirect_uris or ()),
        grant_types=tuple(row.grant_types or ()), scopes=tuple(row.scopes or ()),
        audiences=tuple(row.audiences or ()), subject_type=row.subject_type,
        sector_identifier=row.sector_identifier,
        id_token_signed_response_alg=row.id_token_signed_response_alg,
        token_endpoint_auth_method=row.token_endpoint_auth_method, is_city_client=row.is_city_client,
        purposes=tuple(row.purposes or ()), disabled=row.disabled, created_at=_utc(row.created_at),
        backchannel_logout_uri=row.backchannel_logout_uri or "", frontchannel_logout_uri=row.frontchannel_logout_uri or "",
        jwks=row.jwks or None, jwks_uri=row.jwks_uri or "",
        require_pushed_authorization_requests=bool(row.require_pushed_authorization_requests),
        accepts_mandates=bool(row.accepts_mandates),
        staff_directory_issuer=row.staff_directory_issuer or "", staff_directory_jwks=row.staff_directory_jwks or None,
        staff_directory_jwks_uri=row.staff_directory_jwks_uri or "",
        dpop_bound_access_tokens=bool(row.dpop_bound_access_tokens))


class SqlClientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, client_id: str) -> OAuthClient | None:
        row = await self.session.get(ClientRow, client_id)
        return _client(row) if row else None

    async def add(self, client: OAuthClient) -> None:
        row = ClientRow(
            client_id=client.client_id, name=client.name, secret_hash=client.secret_hash,
            redirect_uris=list(client.redirect_uris),
            post_logout_redirect_uris=list(client.post_logout_redirect_uris),
            grant_types=list(client.grant_types), scopes=list(client.scopes),
            audiences=list(client.audiences), subject_type=client.subject_type,
            sector_identifier=client.sector_identifier,
            id_token_signed_response_alg=client.id_token_signed_response_alg,
            token_endpoint_auth_method=client.token_endpoint_auth_method,
            is_city_client=client.is_city_client, purposes=list(client.purposes),
            disabled=client.disabled, created_at=client.created_at or dt.datetime.now(dt.timezone.utc),
            backchannel_logout_uri=client.backchannel_logout_uri, frontchannel_logout_uri=client.frontchannel_logout_uri,
            jwks=client.jwks, jwks_uri=client.jwks_uri,
            require_pushed_authorization_requests=client.require_pushed_authorization_requests,
            accepts_mandates=client.accepts_mandates,
            staff_directory_issuer=client.staff_directory_issuer, staff_directory_jwks=client.staff_directory_jwks,
            staff_directory_jwks_uri=client.staff_directory_jwks_uri,
            dpop_bound_access_tokens=client.dpop_bound_access_tokens)
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            raise Conflict("client") from None

    async def set_secret_hash(self, client_id: str, secret_hash: str | None) -> None:
        await self.session.execute(
            update(ClientRow).where(ClientRow.client_id == client_id).values(secret_hash=secret_hash))

    async def update_settings(self, client: OAuthClient) -> None:
        """Store the settings an operator may change (``service_layer.clients.CHANGEABLE``)."""
        await self.session.execute(
            update(ClientRow).where(ClientRow.client_id == client.client_id).values(
                name=client.name, redirect_uris=list(client.redirect_uris),
                post_logout_redirect_uris=list(client.post_logout_redirect_uris),
                grant_types=list(client.grant_types), scopes=list(client.scopes), audiences=list(client.audiences),
                purposes=list(client.purposes), id_token_signed_response_alg=client.id_token_signed_response_alg,
                jwks=client.jwks, jwks_uri=client.jwks_uri, backchannel_logout_uri=client.backchannel_logout_uri,
                frontchannel_logout_uri=client.frontchannel_logout_uri,
                require_pushed_authorization_requests=client.require_pushed_authorization_requests,
                dpop_bound_access_tokens=client.dpop_bound_access_tokens, disabled=client.disabled))

    async def set_authentication(self, client: OAuthClient) -> None:
        """Store ``client``'s authentication method, secret hash and keys (the rest is unchanged)."""
        await self.session.execute(
            update(ClientRow).where(ClientRow.client_id == client.client_id).values(
                token_endpoint_auth_method=client.token_endpoint_auth_method, secret_hash=client.secret_hash,
                jwks=client.jwks, jwks_uri=client.jwks_uri))

    async def list(self, *, after: str = "", limit: int = 100) -> list[OAuthClient]:
        rows = (await self.session.execute(
            select(ClientRow).where(ClientRow.client_id > after).order_by(ClientRow.client_id).limit(limit))).scalars()
        return [_client(r) for r in rows]


def _key(row: SigningKeyRow) -> SigningKeyRecord:
    return SigningKeyRecord(kid=row.kid, alg=row.alg, state=row.state, public_jwk=dict(row.public_jwk),
                            private_key_encrypted=row.private_key_encrypted, created_at=_utc(row.created_at),
                            activated_at=_utc(row.activated_at), retired_at=_utc(row.retired_at),
                            not_after=_utc(row.not_after))


class SqlSigningKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[SigningKeyRecord]:
        rows = (await self.session.execute(select(SigningKeyRow).order_by(SigningKeyRow.created_at))).scalars()
        return [_key(r) for r in rows]

    async def add(self, record: SigningKeyRecord) -> None:
        try:
            async with self.session.begin_nested():
                self.session.add(SigningKeyRow(
                    kid=record.kid, alg=record.alg, state=record.state, public_jwk=record.public_jwk,
                    private_key_encrypted=record.private_key_encrypted, created_at=record.created_at,
                    activated_at=record.activated_at, retired_at=record.retired_at,
                    not_after=record.not_after))
        except IntegrityError:
            raise Conflict("signing key") from None

    async def save(self, record: SigningKeyRecord) -> None:
        await self.session.execute(
            update(SigningKeyRow).where(SigningKeyRow.kid == record.kid).values(
                state=record.state, activated_at=record.activated_at, retired_at=record.retired_at,
                not_after=record.not_after))
        await self.session.flush()

    async def delete_expired(self, now: dt.datetime) -> int:
        """Retired keys whose tokens have all expired are no longer needed; removing them
        also removes their (encrypted) private half."""
        result = await self.session.execute(
            delete(SigningKeyRow).where(SigningKeyRow.state == "retired", SigningKeyRow.not_after < now))
        return result.rowcount or 0


class SqlThrottleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str) -> ThrottleState:
        row = await self.session.get(LoginThrottleRow, key)
        if row is None:
            return ThrottleState(key=key)
        return ThrottleState(key=key, failures=row.failures, last_failure_at=_utc(row.last_failure_at))

    async def get_both(self, first: str, second: str) -> tuple[ThrottleState, ThrottleState]:
        """Two counters in one statement (an account's and an address's, at every login)."""
        rows = {row.key: row for row in (await self.session.execute(
            select(LoginThrottleRow).where(LoginThrottleRow.key.in_((first, second))))).scalars()}

        def state(key: str) -> ThrottleState:
            row = rows.get(key)
            return (ThrottleState(key=key) if row is None else
                    ThrottleState(key=key, failures=row.failures, last_failure_at=_utc(row.last_failure_at)))
        return state(first), state(second)

    async def save(self, state: ThrottleState) -> None:
        row = await self.session.get(LoginThrottleRow, state.key)
        if state.failures == 0:
            if row is not None:
                await self.session.delete(row)
                await self.session.flush()
            return
        if row is None:
            try:
                async with self.session.begin_nested():
                    self.session.add(LoginThrottleRow(key=state.key, failures=state.failures,
                                                      last_failure_at=state.last_failure_at))
                return
            except IntegrityError:
                # Another replica counted a failure for this key at the same moment: add ours.
                row = await self.session.get(LoginThrottleRow, state.key, populate_existing=True)
                if row is None:
                    return
                state.failures = row.failures + 1
        row.failures = state.failures
        row.last_failure_at = state.last_failure_at
        await self.session.flush()


    async def prune(self, before: dt.datetime) -> int:
        """Forget counters whose last failure is older than ``before`` (they no longer count)."""
        result = await self.session.execute(
            delete(LoginThrottleRow).where(LoginThrottleRow.last_failure_at < before))
        return result.rowcount or 0


class SqlAgentActionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, *, agent_id: str, client_id: str, action: str, resident_id: str,
                     details: dict, now: dt.datetime, office: str | None = None) -> str:
        action_id = str(uuid.uuid4())
        self.session.add(AgentActionRow(action_id=action_id, agent_id=agent_id, client_id=client_id,
                                        action=action, resident_id=resident_id, details=details,
                                        created_at=now, office=office))
        await self.session.flush()
        return action_id

    async def for_resident(self, resident_id: str) -> list[dict]:
        rows = (await self.session.execute(
            select(AgentActionRow).where(AgentActionRow.resident_id == resident_id)
            .order_by(AgentActionRow.created_at))).scalars()
        return [_action(r) for r in rows]

    async def between(self, start: dt.datetime, end: dt.datetime, *, agent_id: str | None = None,
                      office: str | None = None) -> list[dict]:
        """Every action in ``[start, end)``, optionally of one agent or one office (supervisors)."""
        query = select(AgentActionRow).where(AgentActionRow.created_at >= start, AgentActionRow.created_at < end)
        if agent_id:
            query = query.where(AgentActionRow.agent_id == agent_id)
        if office:
            query = query.where(AgentActionRow.office == office)
        rows = (await self.session.execute(query.order_by(AgentActionRow.created_at))).scalars()
        return [_action(r) for r in rows]

    async def count_since(self, agent_id: str, action: str, since: dt.datetime) -> int:
        return (await self.session.execute(select(func.count()).select_from(AgentActionRow).where(
            AgentActionRow.agent_id == agent_id, AgentActionRow.action == action,
            AgentActionRow.created_at >= since))).scalar_one()


def _action(r: AgentActionRow) -> dict:
    return {"action_id": r.action_id, "agent_id": r.agent_id, "client_id": r.client_id, "office": r.office,
            "action": r.action, "details": dict(r.details), "created_at": _utc(r.created_at),
            "resident_id": r.resident_id}


class SqlSignInRepository:
    """The sign-in history (``domain/sign_ins.py``)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, sign_in: SignIn) -> None:
        self.session.add(SignInRow(
            sign_in_id=sign_in.sign_in_id, resident_id=sign_in.resident_id, occurred_at=sign_in.occurred_at,
            client_id=sign_in.client_id, client_name=sign_in.client_name, methods=list(sign_in.methods),
            acr=sign_in.acr, outcome=sign_in.outcome, reason=sign_in.reason, session_id=sign_in.session_id))
        await self.session.flush()

    async def add_once(self, sign_in: SignIn) -> bool:
        """Add unless a sign-in with this id exists (a counter visit already recorded)."""
        if await self.session.get(SignInRow, sign_in.sign_in_id) is not None:
            return False
        await self.add(sign_in)
        return True

    async def for_resident(self, resident_id: str, limit: int, before: dt.datetime | None = None) -> list[SignIn]:
        query = select(SignInRow).where(SignInRow.resident_id == resident_id)
        if before is not None:
            query = query.where(SignInRow.occurred_at < before)
        rows = (await self.session.execute(
            query.order_by(SignInRow.occurred_at.desc(), SignInRow.sign_in_id).limit(limit))).scalars()
        return [SignIn(sign_in_id=r.sign_in_id, resident_id=r.resident_id, occurred_at=_utc(r.occurred_at),
                       client_id=r.client_id, client_name=r.client_name, methods=tuple(r.methods or ()),
                       acr=r.acr, outcome=r.outcome, reason=r.reason, session_id=r.session_id) for r in rows]

    async def has_session(self, resident_id: str, session_id: str) -> bool:
        """Whether one of the resident's kept sign-ins opened or used this session."""
        return (await self.session.execute(select(SignInRow.sign_in_id).where(
            SignInRow.resident_id == resident_id, SignInRow.session_id == session_id).limit(1))).first() is not None

    async def purge(self, before: dt.datetime) -> int:
        result = await self.session.execute(delete(SignInRow).where(SignInRow.occurred_at < before))
        return result.rowcount or 0


class SqlClosureRepository:
    """The kept record of each closure at a resident's request (issue 21): never deleted."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, resident_id: str, closed_at: dt.datetime, closed_by: str) -> str:
        closure_id = str(uuid.uuid4())
        self.session.add(ResidentClosureRow(closure_id=closure_id, resident_id=resident_id, closed_at=closed_at,
                                            closed_by=closed_by))
        await self.session.flush()
        return closure_id

    async def open_for(self, resident_id: str) -> dict | None:
        """The resident's closure not reopened yet, or None."""
        row = (await self.session.execute(
            select(ResidentClosureRow).where(ResidentClosureRow.resident_id == resident_id,
                                             ResidentClosureRow.reopened_at.is_(None))
            .order_by(ResidentClosureRow.closed_at.desc()).limit(1))).scalar_one_or_none()
        return None if row is None else {"closure_id": row.closure_id, "closed_at": _utc(row.closed_at)}

    async def mark_reopened(self, closure_id: str, *, at: dt.datetime, by: str) -> None:
        await self.session.execute(update(ResidentClosureRow).where(ResidentClosureRow.closure_id == closure_id)
                                   .values(reopened_at=at, reopened_by=by))

    async def for_resident(self, resident_id: str) -> list[dict]:
        rows = (await self.session.execute(select(ResidentClosureRow).where(
            ResidentClosureRow.resident_id == resident_id).order_by(ResidentClosureRow.closed_at))).scalars()
        return [{"closure_id": r.closure_id, "closed_at": _utc(r.closed_at), "closed_by": r.closed_by,
                 "reopened_at": _utc(r.reopened_at), "reopened_by": r.reopened_by} for r in rows]


class SqlSecurityReportRepository:
    """Each "this was not me" of a resident (issue 21)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, resident_id: str, reported_at: dt.datetime, session_id: str | None,
                  sessions_ended: int) -> str:
        report_id = str(uuid.uuid4())
        self.session.add(SecurityReportRow(report_id=report_id, resident_id=resident_id, reported_at=reported_at,
                                           session_id=session_id, sessions_ended=sessions_ended))
        await self.session.flush()
        return report_id

    async def for_resident(self, resident_id: str) -> list[dict]:
        rows = (await self.session.execute(select(SecurityReportRow).where(
            SecurityReportRow.resident_id == resident_id).order_by(SecurityReportRow.reported_at))).scalars()
        return [{"report_id": r.report_id, "reported_at": _utc(r.reported_at), "session_id": r.session_id,
                 "sessions_ended": r.sessions_ended} for r in rows]


class SqlRecoveryCodeRepository:
    """A resident's recovery codes (their keyed hashes): replaced as a set, each used once."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace(self, resident_id: str, hashes: list[str], now: dt.datetime) -> None:
        await self.session.execute(delete(RecoveryCodeRow).where(RecoveryCodeRow.resident_id == resident_id))
        self.session.add_all([RecoveryCodeRow(resident_id=resident_id, code_hash=h, created_at=now)
                              for h in hashes])
        await self.session.flush()

    async def remove_all(self, resident_id: str) -> None:
        await self.session.execute(delete(RecoveryCodeRow).where(RecoveryCodeRow.resident_id == resident_id))

    async def remaining(self, resident_id: str) -> int:
        return (await self.session.execute(select(func.count()).select_from(RecoveryCodeRow).where(
            RecoveryCodeRow.resident_id == resident_id, RecoveryCodeRow.used_at.is_(None)))).scalar_one()

    async def use(self, resident_id: str, code_hash: str, now: dt.datetime) -> bool:
        """Spend the code: True once, False for an unknown or spent one. One conditional UPDATE,
        so two replicas given the same code at once cannot both accept it."""
        result = await self.session.execute(
            update(RecoveryCodeRow).where(RecoveryCodeRow.resident_id == resident_id,
                                          RecoveryCodeRow.code_hash == code_hash,
                                          RecoveryCodeRow.used_at.is_(None)).values(used_at=now))
        return (result.rowcount or 0) == 1


def _passkey(row: PasskeyRow) -> Passkey:
    return Passkey(credential_id=row.credential_id, owner_kind=row.owner_kind, owner_id=row.owner_id,
                   public_key=row.public_key, sign_count=row.sign_count, multi_device=row.multi_device,
                   name=row.name, created_at=_utc(row.created_at), transports=list(row.transports or ()),
                   last_used_at=_utc(row.last_used_at))


class SqlPasskeyRepository:
    """Residents' and agents' WebAuthn credentials."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, passkey: Passkey) -> None:
        try:
            async with self.session.begin_nested():
                self.session.add(PasskeyRow(
                    credential_id=passkey.credential_id, owner_kind=passkey.owner_kind, owner_id=passkey.owner_id,
                    public_key=passkey.public_key, sign_count=passkey.sign_count,
                    multi_device=passkey.multi_device, transports=list(passkey.transports), name=passkey.name,
                    created_at=passkey.created_at, last_used_at=passkey.last_used_at))
        except IntegrityError:
            raise Conflict("passkey") from None

    async def get(self, credential_id: str) -> Passkey | None:
        row = await self.session.get(PasskeyRow, credential_id)
        return _passkey(row) if row is not None else None

    async def of(self, owner_kind: str, owner_id: str) -> list[Passkey]:
        rows = (await self.session.execute(select(PasskeyRow).where(
            PasskeyRow.owner_kind == owner_kind, PasskeyRow.owner_id == owner_id)
            .order_by(PasskeyRow.created_at))).scalars().all()
        return [_passkey(r) for r in rows]

    async def used(self, credential_id: str, old_count: int, new_count: int, now: dt.datetime) -> bool:
        """Record a sign-in: the counter moves on only from the value the check saw, so two
        replicas given the same assertion cannot both accept it (False for the second)."""
        result = await self.session.execute(update(PasskeyRow).where(
            PasskeyRow.credential_id == credential_id, PasskeyRow.sign_count == old_count)
            .values(sign_count=new_count, last_used_at=now))
        return (result.rowcount or 0) == 1

    async def rename(self, owner_kind: str, owner_id: str, credential_id: str, name: str) -> bool:
        result = await self.session.execute(update(PasskeyRow).where(
            PasskeyRow.credential_id == credential_id, PasskeyRow.owner_kind == owner_kind,
            PasskeyRow.owner_id == owner_id).values(name=name))
        return (result.rowcount or 0) == 1

    async def remove(self, owner_kind: str, owner_id: str, credential_id: str) -> bool:
        result = await self.session.execute(delete(PasskeyRow).where(
            PasskeyRow.credential_id == credential_id, PasskeyRow.owner_kind == owner_kind,
            PasskeyRow.owner_id == owner_id))
        return (result.rowcount or 0) == 1

    async def remove_all(self, owner_kind: str, owner_id: str) -> int:
        result = await self.session.execute(delete(PasskeyRow).where(
            PasskeyRow.owner_kind == owner_kind, PasskeyRow.owner_id == owner_id))
        return result.rowcount or 0


CHALLENGE_SWEEP_SECONDS = 60.0
_challenges_swept_at = float("-inf")


class SqlWebAuthnChallengeRepository:
    """Challenges handed to browsers: each verifies one response, before it expires."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, challenge: str, purpose: str, subject: str | None, expires_at: dt.datetime,
                  now: dt.datetime) -> None:
        await self._sweep_expired(now)
        self.session.add(WebAuthnChallengeRow(challenge=challenge, purpose=purpose, subject=subject,
                                              expires_at=expires_at))
        await self.session.flush()

    async def spend(self, challenge: str, purpose: str, expires_at: dt.datetime, now: dt.datetime) -> bool:
        """Record a sealed sign-in challenge as used (it was stored nowhere when issued): True
        the first time, False if it was spent before. Kept until it expires, like the others."""
        await self._sweep_expired(now)
        insert = conflict_insert(self.session)
        result = await self.session.execute(insert(WebAuthnChallengeRow.__table__).values(
            challenge=challenge, purpose=f"{purpose}:spent", subject=None, expires_at=expires_at,
        ).on_conflict_do_nothing())
        return (result.rowcount or 0) == 1

    async def _sweep_expired(self, now: dt.datetime) -> None:
        # The expired ones go as new ones come, at most once a minute per process (every login
        # page hands out a challenge; issue 24): the table stays about as small as the
        # ceremonies in progress, and an expired challenge is refused by ``take`` anyway.
        global _challenges_swept_at
        if time.monotonic() - _challenges_swept_at >= CHALLENGE_SWEEP_SECONDS:
            _challenges_swept_at = time.monotonic()
            await self.session.execute(delete(WebAuthnChallengeRow).where(WebAuthnChallengeRow.expires_at < now))

    async def take(self, challenge: str, purpose: str, subject: str | None, now: dt.datetime) -> bool:
        """Use the challenge: True once, if it was issued for this purpose (and subject) and has
        not expired; it is gone afterwards either way."""
        condition = [WebAuthnChallengeRow.challenge == challenge, WebAuthnChallengeRow.purpose == purpose,
                     WebAuthnChallengeRow.expires_at >= now]
        if subject is not None:
            condition.append(WebAuthnChallengeRow.subject == subject)
        result = await self.session.execute(delete(WebAuthnChallengeRow).where(*condition))
        return (result.rowcount or 0) == 1
