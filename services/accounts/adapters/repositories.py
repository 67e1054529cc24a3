"""SQL repositories of the accounts service: rows ↔ domain objects, by hand.

The domain stays plain dataclasses (no SQLAlchemy instrumentation), so each repository maps
explicitly; ``save`` writes what the handler changed. State changes of an account are
compare-and-set on the state read (optimistic concurrency): two replicas suspending and
closing the same account at once cannot both win.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import AlreadyExists, FailedPrecondition

from ..domain.attributes import Attribute, Provenance
from ..domain.catalogue import CatalogueService, ServiceKind, ServiceState
from ..domain.counter import AgentAction, DocumentCheck, DocumentType
from ..domain.profile import Profile
from ..domain.service_account import AccountState, ServiceAccount, Transition
from .orm import (AccountTransitionRow, AgentActionRow, DocumentCheckRow, ProfileAttributeRow, ProfileRow,
                  ServiceAccountRow, ServiceRow)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands timestamps back naive; every one we wrote was UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.timezone.utc)


class SqlProfileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _attributes(self, resident_ids: list[str]) -> dict[str, dict[str, Attribute]]:
        rows = (await self.session.execute(select(ProfileAttributeRow).where(
            ProfileAttributeRow.resident_id.in_(resident_ids)))).scalars()
        out: dict[str, dict[str, Attribute]] = {r: {} for r in resident_ids}
        for row in rows:
            out[row.resident_id][row.name] = Attribute(
                name=row.name, value=row.value, provenance=Provenance(row.provenance), updated_at=aware(row.updated_at),
                verified_at=aware(row.verified_at), verified_by=row.verified_by,
                document_check_id=row.document_check_id, source_service_id=row.source_service_id)
        return out

    async def get(self, resident_id: str) -> Profile | None:
        row = await self.session.get(ProfileRow, resident_id)
        if row is None:
            return None
        attributes = (await self._attributes([resident_id]))[resident_id]
        return Profile(resident_id=row.resident_id, created_at=aware(row.created_at), updated_at=aware(row.updated_at),
                       attributes=attributes)

    async def add(self, profile: Profile) -> None:
        """``AlreadyExists`` when another transaction created the profile meanwhile (PostgreSQL:
        the insert waits for it to commit); the caller's transaction goes on (a savepoint)."""
        try:
            async with self.session.begin_nested():
                await self.session.execute(insert(ProfileRow).values(resident_id=profile.resident_id,
                                                                     created_at=profile.created_at,
                                                                     updated_at=profile.updated_at))
        except IntegrityError:
            raise AlreadyExists("PROFILE_EXISTS", "the resident's profile exists") from None
        await self._write_attributes(profile)

    async def save(self, profile: Profile) -> None:
        await self.session.execute(update(ProfileRow).where(ProfileRow.resident_id == profile.resident_id)
                                   .values(updated_at=profile.updated_at))
        await self.session.execute(delete(ProfileAttributeRow).where(
            ProfileAttributeRow.resident_id == profile.resident_id))
        await self._write_attributes(profile)

    async def _write_attributes(self, profile: Profile) -> None:
        rows = [dict(resident_id=profile.resident_id, name=a.name, value=a.value, provenance=a.provenance.value,
                     updated_at=a.updated_at, verified_at=a.verified_at, verified_by=a.verified_by,
                     document_check_id=a.document_check_id, source_service_id=a.source_service_id)
                for a in profile.attributes.values()]
        if rows:
            await self.session.execute(insert(ProfileAttributeRow), rows)

    async def forget(self, resident_id: str) -> int:
        """Delete every attribute's value of the profile (a purged account, issue 21); the
        profile row stays, with its dates only. Returns how many values went."""
        result = await self.session.execute(delete(ProfileAttributeRow).where(
            ProfileAttributeRow.resident_id == resident_id))
        return result.rowcount or 0

    async def find(self, *, limit: int = 10, **criteria: str | None) -> list[Profile]:
        wanted = {k: v for k, v in criteria.items() if v}
        if not wanted:
            return []
        query = select(ProfileRow.resident_id)
        for name, value in wanted.items():
            alias = ProfileAttributeRow.__table__.alias()
            query = query.join(alias, (alias.c.resident_id == ProfileRow.resident_id) & (alias.c.name == name)
                               & (alias.c.value == value))
        ids = list((await self.session.execute(query.order_by(ProfileRow.resident_id).limit(limit))).scalars())
        profiles = [await self.get(i) for i in ids]
        return [p for p in profiles if p is not None]


def _service(row: ServiceRow) -> CatalogueService:
    return CatalogueService(service_id=row.service_id, name_fr=row.name_fr, name_en=row.name_en,
                            kind=ServiceKind(row.kind), owner=row.owner, client_id=row.client_id,
                            created_at=aware(row.created_at), updated_at=aware(row.updated_at), borough=row.borough,
                            attributes=tuple(row.attributes or ()), purposes=tuple(row.purposes or ()),
                            state=ServiceState(row.state))


def _service_values(service: CatalogueService) -> dict:
    return dict(service_id=service.service_id, name_fr=service.name_fr, name_en=service.name_en,
                kind=service.kind.value, owner=service.owner, borough=service.borough, client_id=service.client_id,
                attributes=list(service.attributes), purposes=list(service.purposes), state=service.state.value,
                created_at=service.created_at, updated_at=service.updated_at)


class SqlServiceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, service_id: str) -> CatalogueService | None:
        row = await self.session.get(ServiceRow, service_id)
        return _service(row) if row else None

    async def get_by_client(self, client_id: str) -> CatalogueService | None:
        row = (await self.session.execute(select(ServiceRow).where(ServiceRow.client_id == client_id))).scalar()
        return _service(row) if row else None

    async def add(self, service: CatalogueService) -> None:
        try:
            async with self.session.begin_nested():
                await self.session.execute(insert(ServiceRow).values(**_service_values(service)))
        except IntegrityError:
            raise AlreadyExists("SERVICE_EXISTS", "a service with this id or client is in the catalogue") from None

    async def save(self, service: CatalogueService) -> None:
        values = _service_values(service)
        values.pop("service_id")
        await self.session.execute(update(ServiceRow).where(ServiceRow.service_id == service.service_id).values(**values))

    async def list(self, *, kind: ServiceKind | None, borough: str | None, after: str | None,
                   limit: int) -> list[CatalogueService]:
        query = select(ServiceRow).order_by(ServiceRow.service_id).limit(limit)
        if kind is not None:
            query = query.where(ServiceRow.kind == kind.value)
        if borough:
            query = query.where(ServiceRow.borough == borough)
        if after:
            query = query.where(ServiceRow.service_id > after)
        return [_service(r) for r in (await self.session.execute(query)).scalars()]


class SqlAccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # account_id -> (state read, transitions read): what save() compares against.
        self._loaded: dict[str, tuple[str, int]] = {}

    async def _hydrate(self, rows: list[ServiceAccountRow]) -> list[ServiceAccount]:
        if not rows:
            return []
        ids = [r.account_id for r in rows]
        transitions: dict[str, list[Transition]] = {i: [] for i in ids}
        query = select(AccountTransitionRow).where(AccountTransitionRow.account_id.in_(ids)).order_by(
            AccountTransitionRow.account_id, AccountTransitionRow.seq)
        for t in (await self.session.execute(query)).scalars():
            transitions[t.account_id].append(Transition(AccountState(t.from_state) if t.from_state else None,
                                                        AccountState(t.to_state), t.actor, t.reason, aware(t.at)))
        out = []
        for row in rows:
            account = ServiceAccount(account_id=row.account_id, resident_id=row.resident_id, service_id=row.service_id,
                                     account_reference=row.account_reference, state=AccountState(row.state),
                                     created_at=aware(row.created_at), updated_at=aware(row.updated_at),
                                     unlink_requested_at=aware(row.unlink_requested_at),
                                     transitions=transitions[row.account_id])
            self._loaded[account.account_id] = (row.state, len(account.transitions))
            out.append(account)
        return out

    async def forget_references(self, resident_id: str) -> int:
        """Blank the service's reference (a permit or file number) on every closed link of a
        purged account; the link's states and dates stay (what the service was told, when)."""
        result = await self.session.execute(update(ServiceAccountRow).where(
            ServiceAccountRow.resident_id == resident_id, ServiceAccountRow.state == AccountState.CLOSED.value)
            .values(account_reference=""))
        return result.rowcount or 0

    async def get(self, account_id: str) -> ServiceAccount | None:
        row = await self.session.get(ServiceAccountRow, account_id)
        return (await self._hydrate([row]))[0] if row else None

    async def open_for(self, resident_id: str, service_id: str) -> ServiceAccount | None:
        rows = (await self.session.execute(select(ServiceAccountRow).where(
            ServiceAccountRow.resident_id == resident_id, ServiceAccountRow.service_id == service_id,
            ServiceAccountRow.state != AccountState.CLOSED.value))).scalars().all()
        return (await self._hydrate(list(rows)))[0] if rows else None

    async def open_by_reference(self, service_id: str, account_reference: str) -> ServiceAccount | None:
        rows = (await self.session.execute(select(ServiceAccountRow).where(
            ServiceAccountRow.service_id == service_id, ServiceAccountRow.account_reference == account_reference,
            ServiceAccountRow.state != AccountState.CLOSED.value))).scalars().all()
        return (await self._hydrate(list(rows)))[0] if rows else None

    async def add(self, account: ServiceAccount) -> None:
        try:
            async with self.session.begin_nested():
                await self.session.execute(insert(ServiceAccountRow).values(
                    account_id=account.account_id, resident_id=account.resident_id, service_id=account.service_id,
                    account_reference=account.account_reference, state=account.state.value,
                    created_at=account.created_at, updated_at=account.updated_at,
                    unlink_requested_at=account.unlink_requested_at))
        except IntegrityError:
            # Another replica linked the same resident or reference a moment ago.
            raise AlreadyExists("ACCOUNT_ALREADY_LINKED", "an open account exists for this resident or reference") from None
        await self._insert_transitions(account, 0)
        self._loaded[account.account_id] = (account.state.value, len(account.transitions))

    async def save(self, account: ServiceAccount) -> None:
        state_read, transitions_read = self._loaded[account.account_id]
        result = await self.session.execute(
            update(ServiceAccountRow)
            .where(ServiceAccountRow.account_id == account.account_id, ServiceAccountRow.state == state_read)
            .values(state=account.state.value, updated_at=account.updated_at,
                    unlink_requested_at=account.unlink_requested_at))
        if result.rowcount != 1:
            raise FailedPrecondition("CONCURRENT_ACCOUNT_CHANGE", "the account changed meanwhile; read it and retry")
        await self._insert_transitions(account, transitions_read)
        self._loaded[account.account_id] = (account.state.value, len(account.transitions))

    async def _insert_transitions(self, account: ServiceAccount, start: int) -> None:
        rows = [dict(account_id=account.account_id, seq=i, from_state=t.from_state.value if t.from_state else None,
                     to_state=t.to_state.value, actor=t.actor, reason=t.reason, at=t.at)
                for i, t in enumerate(account.transitions) if i >= start]
        if rows:
            await self.session.execute(insert(AccountTransitionRow), rows)

    async def list(self, *, resident_id: str | None, service_id: str | None, state: AccountState | None,
                   after: str | None, limit: int, account_reference: str | None = None) -> list[ServiceAccount]:
        query = select(ServiceAccountRow).order_by(ServiceAccountRow.account_id).limit(limit)
        if account_reference is not None:
            query = query.where(ServiceAccountRow.account_reference == account_reference)
        if resident_id is not None:
            query = query.where(ServiceAccountRow.resident_id == resident_id)
        if service_id is not None:
            query = query.where(ServiceAccountRow.service_id == service_id)
        if state is not None:
            query = query.where(ServiceAccountRow.state == state.value)
        if after:
            query = query.where(ServiceAccountRow.account_id > after)
        return await self._hydrate(list((await self.session.execute(query)).scalars()))


class SqlCounterJournal:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_check(self, check: DocumentCheck) -> None:
        await self.session.execute(insert(DocumentCheckRow).values(
            check_id=check.check_id, resident_id=check.resident_id, document_type=check.document_type.value,
            last_digits=check.last_digits, agent_id=check.agent_id, checked_at=check.checked_at))

    @staticmethod
    def _check(row: DocumentCheckRow) -> DocumentCheck:
        return DocumentCheck(check_id=row.check_id, resident_id=row.resident_id,
                             document_type=DocumentType(row.document_type), last_digits=row.last_digits,
                             agent_id=row.agent_id, checked_at=aware(row.checked_at))

    async def get_check(self, check_id: str) -> DocumentCheck | None:
        row = await self.session.get(DocumentCheckRow, check_id)
        return self._check(row) if row else None

    async def checks_for(self, resident_id: str) -> list[DocumentCheck]:
        rows = (await self.session.execute(select(DocumentCheckRow).where(DocumentCheckRow.resident_id == resident_id)
                                           .order_by(DocumentCheckRow.checked_at, DocumentCheckRow.check_id))).scalars()
        return [self._check(r) for r in rows]

    async def forget_checks(self, resident_id: str) -> int:
        """Delete the document checks (a document's type and last digits) of a purged account;
        the agents' actions stay (the city's accountability for what was done on the file)."""
        result = await self.session.execute(delete(DocumentCheckRow).where(DocumentCheckRow.resident_id == resident_id))
        return result.rowcount or 0

    async def record(self, action: AgentAction) -> None:
        await self.session.execute(insert(AgentActionRow).values(
            action_id=action.action_id, agent_id=action.agent_id, client_id=action.client_id, action=action.action,
            resident_id=action.resident_id, target=action.target, at=action.at, office=action.office))

    async def actions_for(self, resident_id: str) -> list[AgentAction]:
        rows = (await self.session.execute(select(AgentActionRow).where(AgentActionRow.resident_id == resident_id)
                                           .order_by(AgentActionRow.at, AgentActionRow.action_id))).scalars()
        return [AgentAction(action_id=r.action_id, agent_id=r.agent_id, client_id=r.client_id, action=r.action,
                            resident_id=r.resident_id, at=aware(r.at), target=r.target, office=r.office or "")
                for r in rows]
