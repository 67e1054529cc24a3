"""The accounts unit of work: one transaction over the accounts tables and the outbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.uow import SqlUnitOfWork

from .repositories import SqlAccountRepository, SqlCounterJournal, SqlProfileRepository, SqlServiceRepository


class AccountsUnitOfWork(SqlUnitOfWork):
    def __init__(self, session_factory, **options) -> None:
        super().__init__(session_factory, service="accounts", **options)

    def _open_repositories(self, session: AsyncSession) -> None:
        self.profiles = SqlProfileRepository(session)
        self.services = SqlServiceRepository(session)
        self.accounts = SqlAccountRepository(session)
        self.counter = SqlCounterJournal(session)
