"""SQL repositories of counter agents (staff) and their sessions. No commit here."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.adapters.orm import AgentRow, AgentSessionRow
from services.identity.domain.errors import Conflict
from services.identity.domain.staff import AgentSession, StaffAgent


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def _agent(row: AgentRow) -> StaffAgent:
    return StaffAgent(agent_id=row.agent_id, email=row.email, name=row.name, office=row.office, role=row.role,
                      password_hash=row.password_hash, totp_secret_encrypted=row.totp_secret_encrypted,
                      created_at=_utc(row.created_at), disabled=row.disabled, disabled_at=_utc(row.disabled_at))


class SqlAgentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, agent: StaffAgent) -> None:
        try:
            async with self.session.begin_nested():
                self.session.add(AgentRow(
                    agent_id=agent.agent_id, email=agent.email, name=agent.name, office=agent.office,
                    role=agent.role, password_hash=agent.password_hash,
                    totp_secret_encrypted=agent.totp_secret_encrypted, disabled=agent.disabled,
                    created_at=agent.created_at, disabled_at=agent.disabled_at))
        except IntegrityError:
            raise Conflict("agent") from None

    async def get(self, agent_id: str) -> StaffAgent | None:
        row = await self.session.get(AgentRow, agent_id)
        return _agent(row) if row else None

    async def by_email(self, email: str) -> StaffAgent | None:
        row = (await self.session.execute(
            select(AgentRow).where(func.lower(AgentRow.email) == email.strip().lower()))).scalar_one_or_none()
        return _agent(row) if row else None

    async def list(self) -> list[StaffAgent]:
        rows = (await self.session.execute(select(AgentRow).order_by(AgentRow.office, AgentRow.name))).scalars()
        return [_agent(r) for r in rows]

    async def save(self, agent: StaffAgent) -> None:
        await self.session.execute(update(AgentRow).where(AgentRow.agent_id == agent.agent_id).values(
            name=agent.name, office=agent.office, role=agent.role, password_hash=agent.password_hash,
            disabled=agent.disabled, disabled_at=agent.disabled_at))

    async def use_totp_step(self, agent_id: str, step: int) -> bool:
        """RFC 6238 s. 5.2: record ``step`` as used if it is later than the last one; a
        conditional UPDATE, so two replicas cannot both accept one code."""
        result = await self.session.execute(
            update(AgentRow).where(AgentRow.agent_id == agent_id,
                                   (AgentRow.last_totp_step.is_(None)) | (AgentRow.last_totp_step < step))
            .values(last_totp_step=step))
        return result.rowcount == 1

    async def last_totp_step(self, agent_id: str) -> int | None:
        return (await self.session.execute(
            select(AgentRow.last_totp_step).where(AgentRow.agent_id == agent_id))).scalar_one_or_none()


def _session(row: AgentSessionRow) -> AgentSession:
    return AgentSession(session_id=row.session_id, secret_hash=row.secret_hash, agent_id=row.agent_id,
                        amr=tuple(row.amr or ()), auth_time=row.auth_time, created_at=_utc(row.created_at),
                        last_seen_at=_utc(row.last_seen_at), expires_at=_utc(row.expires_at),
                        ended_at=_utc(row.ended_at))


class SqlAgentSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, s: AgentSession) -> None:
        self.session.add(AgentSessionRow(
            session_id=s.session_id, secret_hash=s.secret_hash, agent_id=s.agent_id, amr=list(s.amr),
            auth_time=s.auth_time, created_at=s.created_at, last_seen_at=s.last_seen_at,
            expires_at=s.expires_at, ended_at=s.ended_at))
        await self.session.flush()

    async def _with_agent(self, row: AgentSessionRow | None) -> AgentSession | None:
        if row is None:
            return None
        found = _session(row)
        found.agent = await SqlAgentRepository(self.session).get(found.agent_id)
        return found

    async def by_secret_hash(self, secret_hash: str) -> AgentSession | None:
        row = (await self.session.execute(
            select(AgentSessionRow).where(AgentSessionRow.secret_hash == secret_hash))).scalar_one_or_none()
        return await self._with_agent(row)

    async def get(self, session_id: str) -> AgentSession | None:
        return await self._with_agent(await self.session.get(AgentSessionRow, session_id))

    async def update(self, s: AgentSession) -> None:
        await self.session.execute(update(AgentSessionRow).where(AgentSessionRow.session_id == s.session_id).values(
            amr=list(s.amr), auth_time=s.auth_time, last_seen_at=s.last_seen_at, ended_at=s.ended_at))

    async def touch(self, session_id: str, now: dt.datetime) -> None:
        await self.session.execute(update(AgentSessionRow).where(AgentSessionRow.session_id == session_id)
                                   .values(last_seen_at=now))

    async def end_for_agent(self, agent_id: str, now: dt.datetime) -> int:
        result = await self.session.execute(update(AgentSessionRow).where(
            AgentSessionRow.agent_id == agent_id, AgentSessionRow.ended_at.is_(None)).values(ended_at=now))
        return result.rowcount or 0
