"""Run a whole service in-process for integration tests: real database, real NATS, real gRPC.

    async with running_service("consent", nats_url=nats.url, minter=minter) as runtime:
        channel = make_channel(f"127.0.0.1:{runtime.bound_grpc_port}", token_provider=...)

The database is migrated with the service's Alembic history (not ``create_all``), so the
tests exercise the same schema production gets.
"""

from __future__ import annotations

import contextlib
import pathlib
import tempfile
from collections.abc import Mapping

from services.common.config import Settings
from services.common.migrations import migrate_async
from services.common.runtime import build_runtime
from services.common.testing.databases import temporary_database


@contextlib.asynccontextmanager
async def running_service(service: str, *, nats_url: str | None, minter=None, database_url: str | None = None,
                          env: Mapping[str, str] | None = None, grace: float = 1.0):
    from services.common.grpc.auth import StaticJwks, TokenVerifier

    with tempfile.TemporaryDirectory() as tmp:
        async with contextlib.AsyncExitStack() as stack:
            if database_url is None:
                database_url = await stack.enter_async_context(temporary_database(service, pathlib.Path(tmp)))
                await migrate_async(service, database_url)
            variables = {"MTLID_VAR_DIR": tmp, f"MTLID_{service.upper()}_DATABASE_URL": database_url,
                         **({"MTLID_NATS_URL": nats_url} if nats_url else {}), **(env or {})}
            settings = Settings.from_env(variables)
            verifier = None
            if minter is not None:
                verifier = TokenVerifier(minter.issuer, f"urn:mtlid:{service}", StaticJwks(minter.jwks()))
            runtime = build_runtime(service, settings, grpc_port=0, token_verifier=verifier)
            await runtime.start()
            try:
                yield runtime
            finally:
                await runtime.stop(grace)
