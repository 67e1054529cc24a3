"""The accounts service as ``mtlid serve accounts`` runs it (docs/foundation.md, "Running a
service"): the gRPC API, the consumer of identity's ``resident_registered``, and, in
development, the seed catalogue.

Accounts calls the consent ledger with its own client-credentials token (scope
``consent:broker``, MTLID_SERVICE_CLIENT_ID / MTLID_SERVICE_CLIENT_SECRET). Without them
every release fails closed with UNAVAILABLE: no token, no ledger, no release.
"""

from __future__ import annotations

import asyncio
import logging

from services.common.grpc.client import ClientCredentialsTokens, TokenProvider
from services.common.runtime import Runtime

from .adapters.consent_gateway import GrpcConsentGateway
from .adapters.outgoing import OutgoingCalls
from .adapters.release_outbox import CoalescedWake, PostgresReleaseOutbox
from .adapters.release_reads import SqlReleaseReads
from .adapters.subject_resolver import GrpcIdentityDirectory, GrpcSubjectResolver
from .adapters.uow import AccountsUnitOfWork
from .entrypoints.events import IDENTITY_SUBJECTS, identity_event_handler
from .entrypoints.grpc import METHOD_POLICIES, SERVICE_NAME, AccountsServicer, add_to_server
from .service_layer.bootstrap import AccountsApplication
from .service_layer.handlers import UnitOfWorkReleaseOutbox
from .service_layer.ports import ReleaseOutbox, SubjectResolver
from .service_layer.seed import seed_catalogue

logger = logging.getLogger(__name__)


def _tokens(runtime: Runtime, scope: str, audience: str) -> TokenProvider | None:
    settings = runtime.settings
    if not (settings.service_client_id and settings.service_client_secret):
        logger.warning("MTLID_SERVICE_CLIENT_ID/SECRET unset: calls to other services fail closed",
                       extra={"scope": scope})
        return None
    return ClientCredentialsTokens(settings.token_url, settings.service_client_id, settings.service_client_secret,
                                   scope=scope, audience=audience)


def release_reads(runtime: Runtime) -> SqlReleaseReads:
    """The release's read phase in single statements (closed with the runtime); on PostgreSQL
    the catalogue cache lives only while its change feed listens."""
    release = SqlReleaseReads(runtime.point_reads())
    if release.feed is not None:
        runtime.add_task(release.feed.run)
    return release


def release_outbox(runtime: Runtime) -> ReleaseOutbox:
    """Where a release writes its event: on PostgreSQL group commits on a connection of its
    own (closed with the runtime), on SQLite a unit of work;
    either way the relay is woken once per burst of releases (``CoalescedWake``)."""
    wake = CoalescedWake(runtime.on_commit)
    if runtime.engine.url.get_backend_name() == "postgresql":
        outbox = PostgresReleaseOutbox(runtime.engine, "accounts", on_commit=wake)

        async def close_outbox(stop: asyncio.Event) -> None:
            await stop.wait()
            await outbox.aclose()

        runtime.add_task(close_outbox)
        return outbox
    return UnitOfWorkReleaseOutbox(lambda: AccountsUnitOfWork(runtime.session_factory, on_commit=wake))


def build(runtime: Runtime, *, consent_tokens: TokenProvider | None = None,
          identity_tokens: TokenProvider | None = None, resolver: SubjectResolver | None = None,
          seed: bool | None = None) -> AccountsApplication:
    """Wire the service into ``runtime``; the keyword arguments are for tests."""

    def uow_factory() -> AccountsUnitOfWork:
        return AccountsUnitOfWork(runtime.session_factory, on_commit=runtime.on_commit)

    consent_tokens = consent_tokens or _tokens(runtime, "consent:broker", "urn:mtlid:consent")
    identity_tokens = identity_tokens or _tokens(runtime, "identity:resolve", "urn:mtlid:identity")
    consent = OutgoingCalls(runtime.settings.grpc_target("consent"), consent_tokens)
    identity = OutgoingCalls(runtime.settings.grpc_target("identity"), identity_tokens)
    app = AccountsApplication(uow_factory, consent=GrpcConsentGateway(
                                  consent, one_call=runtime.settings.release_consent_calls == "one"),
                              resolver=resolver or GrpcSubjectResolver(identity),
                              release_reads=release_reads(runtime), release_outbox=release_outbox(runtime))
    runtime.accounts = app  # for tests: the running application and its release reads
    runtime.add_grpc(AccountsServicer(app), add_to_server, SERVICE_NAME, METHOD_POLICIES)
    runtime.add_consumer(durable="accounts-identity", stream="MTLID_IDENTITY", subjects=list(IDENTITY_SUBJECTS),
                         handler=identity_event_handler(GrpcIdentityDirectory(identity)), uow_factory=uow_factory)

    async def close_channels(stop: asyncio.Event) -> None:
        await stop.wait()
        await consent.close()
        await identity.close()
        for tokens in (consent_tokens, identity_tokens):
            if hasattr(tokens, "aclose"):
                await tokens.aclose()

    runtime.add_task(close_channels)
    if seed if seed is not None else runtime.settings.env == "development":
        async def seed_task(stop: asyncio.Event) -> None:
            added = await seed_catalogue(uow_factory)
            if added:
                logger.info("catalogue seeded", extra={"services": len(added)})

        runtime.add_task(seed_task)
    return app
