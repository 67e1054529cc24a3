"""The consent service as ``mtlid serve consent`` runs it (docs/foundation.md, "Running a
service"): the gRPC API, the consumers of accounts' and identity's events, and the expiry
task that records ``consent_expired`` (Check denies at the expiry instant regardless).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select

from services.common.config import ConfigError
from services.common.runtime import Runtime

from .adapters.orm import LedgerHeadRow
from .domain.receipt import controller_of
from .domain.witness import WitnessFormatError, WitnessPolicy

from .adapters.repositories import LedgerStore, ensure_log_key
from .adapters.uow import ConsentUnitOfWork
from .entrypoints.grpc import METHOD_POLICIES, SERVICE, ConsentServicer, add_to_server
from .service_layer import handlers
from .service_layer import mandates as mandate_handlers
from .service_layer.event_handlers import ACCOUNTS_SUBJECTS, IDENTITY_SUBJECTS, dispatcher, released_settled

logger = logging.getLogger(__name__)


def witness_policy(settings) -> WitnessPolicy:
    """``MTLID_LEDGER_WITNESSES`` (verifier keys, comma-separated) and
    ``MTLID_LEDGER_WITNESS_QUORUM`` (default: a majority of them), ``MTLID_LEDGER_WITNESS_RATE``
    (cosignatures a minute per witness, default 12); LEDGER.md "Witnesses"."""
    try:
        return WitnessPolicy.parse(settings.ledger_witnesses, settings.ledger_witness_quorum, settings.issuer,
                                   settings.ledger_witness_rate)
    except WitnessFormatError as error:
        raise ConfigError(f"MTLID_LEDGER_WITNESSES / MTLID_LEDGER_WITNESS_QUORUM / MTLID_LEDGER_WITNESS_RATE: "
                          f"{error}") from None

EXPIRY_INTERVAL_SECONDS = 30.0


def build(runtime: Runtime, *, expiry_interval: float = EXPIRY_INTERVAL_SECONDS) -> LedgerStore:
    store = LedgerStore(runtime.session_factory, runtime.settings.key_encryption_key)
    store.witnesses = witness_policy(runtime.settings)
    store.controller = controller_of(runtime.settings.controller_email, runtime.settings.controller_phone)

    def uow_factory() -> ConsentUnitOfWork:
        return ConsentUnitOfWork(store, on_commit=runtime.on_commit)

    runtime.add_grpc(ConsentServicer(uow_factory), add_to_server, SERVICE, METHOD_POLICIES)
    runtime.add_consumer(durable="consent-accounts", stream="MTLID_ACCOUNTS", subjects=list(ACCOUNTS_SUBJECTS),
                         handler=dispatcher(ACCOUNTS_SUBJECTS), uow_factory=uow_factory,
                         settled=released_settled(store.reads))
    runtime.add_consumer(durable="consent-identity", stream="MTLID_IDENTITY", subjects=list(IDENTITY_SUBJECTS),
                         handler=dispatcher(IDENTITY_SUBJECTS), uow_factory=uow_factory)

    async def expire_consents(stop: asyncio.Event) -> None:
        await ensure_log_key(store)
        while not stop.is_set():
            try:
                count = await handlers.expire_due(uow_factory())
                if count:
                    logger.info("consents expired", extra={"count": count})
                ended = await mandate_handlers.expire_due(uow_factory())
                if ended:
                    logger.info("mandates expired", extra={"count": ended})
                narrowed = await mandate_handlers.narrow_at_fourteen(uow_factory())
                if narrowed:
                    logger.info("minors' mandates narrowed at 14", extra={"count": narrowed})
            except Exception:  # a failed round is retried at the next one
                logger.exception("expiry round failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), expiry_interval)

    expire_consents.__name__ = "consent-expiry"
    runtime.add_task(expire_consents)

    async def ledger_size() -> int:
        async with runtime.session_factory() as session:
            return await session.scalar(select(LedgerHeadRow.tree_size)) or 0

    runtime.add_gauge("mtlid.ledger.size", ledger_size, unit="{entry}", description="Entries in the consent ledger")

    async def close_reads(stop: asyncio.Event) -> None:
        await stop.wait()
        await store.aclose()   # the read paths' own connections (adapters/reads.py)

    close_reads.__name__ = "consent-reads-close"
    runtime.add_task(close_reads)
    return store
