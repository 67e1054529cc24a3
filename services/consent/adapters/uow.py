"""The consent service's unit of work: one transaction over the ledger, the catalogue and
the outbox (services.common.uow.SqlUnitOfWork), plus ``reads``: the read-only queries of
Check and the proofs, which run outside any transaction (adapters/reads.py)."""

from __future__ import annotations

from collections.abc import Callable

from services.common.uow import SqlUnitOfWork
from services.consent.adapters.repositories import (LedgerStore, SqlCatalogueRepository, SqlCosignatureRepository,
                                                    SqlKeyRepository, SqlLedgerRepository, ensure_log_key)


class ConsentUnitOfWork(SqlUnitOfWork):
    def __init__(self, store: LedgerStore, *, on_commit: Callable[[], None] | None = None) -> None:
        super().__init__(store.session_factory, service="consent", on_commit=on_commit)
        self.store = store
        # Usable without entering the unit of work: no session, no transaction.
        self.reads = store.reads

    async def __aenter__(self):
        # The signing key is loaded before the transaction opens: creating it needs its own
        # transaction, which SQLite could not start while this one holds the write lock.
        await ensure_log_key(self.store)
        return await super().__aenter__()

    def _open_repositories(self, session) -> None:
        self.ledger = SqlLedgerRepository(session, self.store)
        self.catalogue = SqlCatalogueRepository(session, self.store.reads)
        self.keys = SqlKeyRepository(session, self.store)
        self.cosignatures = SqlCosignatureRepository(session)

    async def commit(self) -> None:
        await super().commit()
        self.ledger.committed()
        if self.catalogue.changed:
            # This process's copy goes at once; other replicas see the version the
            # database bumped in this transaction on their next Check.
            self.store.reads.invalidate_catalogue()
            self.catalogue.changed = False


def uow_factory(store: LedgerStore, on_commit: Callable[[], None] | None = None) -> Callable[[], ConsentUnitOfWork]:
    return lambda: ConsentUnitOfWork(store, on_commit=on_commit)
