"""Identity's unit of work: one transaction over residents, clients, keys, throttles and
agent actions, plus the outbox (services.common.uow). OIDC extends it
(``OAuthUnitOfWork(IdentityUnitOfWork)``) with codes, refresh tokens, grants and sessions.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.uow import SqlUnitOfWork
from services.identity.domain.assurance import LevelOfAssurance, session_level
from services.identity.domain.sign_ins import from_login_event
from services.identity.adapters.repositories import (SqlAgentActionRepository, SqlClientRepository,
                                                     SqlPasskeyRepository, SqlRecoveryCodeRepository,
                                                     SqlWebAuthnChallengeRepository,
                                                     SqlClosureRepository, SqlResidentRepository,
                                                     SqlSecurityReportRepository, SqlSigningKeyRepository,
                                                     SqlSignInRepository, SqlThrottleRepository)
from services.identity.adapters.staff_repositories import SqlAgentRepository, SqlAgentSessionRepository
from services.identity.adapters.card_repositories import SqlCardStore
from services.identity.adapters.organization_repositories import SqlOrganizationRepository


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
        self.agents = SqlAgentRepository(session)
        self.agent_sessions = SqlAgentSessionRepository(session)
        self.sign_ins = SqlSignInRepository(session)
        self.closures = SqlClosureRepository(session)
        self.security_reports = SqlSecurityReportRepository(session)
        self.recovery_codes = SqlRecoveryCodeRepository(session)
        self.passkeys = SqlPasskeyRepository(session)
        self.webauthn_challenges = SqlWebAuthnChallengeRepository(session)
        # the carte citoyenne (issue 23, card/issuance.py's CardStore)
        self.cards = SqlCardStore(session, self.kek)
        # organizations registered with the city (issue 22, domain/organizations.py)
        self.organizations = SqlOrganizationRepository(session)

    async def commit(self) -> None:
        # The sign-in history is the login events' own record, in their transaction
        # (domain/sign_ins.py): one cannot exist without the other.
        now = None
        for event in self.pending_events:
            if getattr(event, "resident_id", None) is None or event.NAME not in ("login_succeeded", "login_failed"):
                continue
            resident = await self.residents.get(event.resident_id)
            if resident is None:
                continue
            now = now or dt.datetime.now(dt.timezone.utc)
            row = from_login_event(event, lambda methods, r=resident: session_level(
                LevelOfAssurance(int(r.level)), "otp" in methods or "mfa" in methods).acr, now)
            if row is not None:
                await self.sign_ins.add(row)
        await super().commit()
