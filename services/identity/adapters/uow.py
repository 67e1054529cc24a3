"""Identity's unit of work: one transaction over residents, clients, keys, throttles and
agent actions, plus the outbox (services.common.uow). OIDC extends it
(``OAuthUnitOfWork(IdentityUnitOfWork)``) with codes, refresh tokens, grants and sessions.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.uow import SqlUnitOfWork
from services.identity.adapters.repositories import (SqlAgentActionRepository, SqlClientRepository,
                                                     SqlClosureRepository, SqlResidentRepository,
                                                     SqlSecurityReportRepository, SqlSigningKeyRepository,
                                                     SqlThrottleRepository)


class IdentityUnitOfWork(SqlUnitOfWork):
    def __init__(self, session_factory, service: str = "identity", *, kek: bytes | None = None,
                 **options) -> None:
        super().__init__(session_factory, service, **options)
        # The key-encryption key, for handlers that decrypt TOTP secrets (verify_totp).
        self.kek = kek

    def _open_repositories(self, session: AsyncSession) -> None:
        self.residents = SqlResidentRepository(session)
        self.clients = SqlClientRepository(session)
        self.signing_keys = SqlSigningKeyRepository(session)
        self.throttles = SqlThrottleRepository(session)
        self.agent_actions = SqlAgentActionRepository(session)
        self.closures = SqlClosureRepository(session)
        self.security_reports = SqlSecurityReportRepository(session)
