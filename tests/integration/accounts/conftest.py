"""Accounts integration fixtures: the accounts service running in-process on a real database
(SQLite or PostgreSQL per MTLID_TEST_DATABASE, migrated with Alembic), real NATS, real gRPC,
calling real gRPC consent and identity servers (tests/integration/accounts/stand_ins.py)."""

from __future__ import annotations

import contextlib

import pytest

from montreal.accounts.v1 import accounts_pb2_grpc
from services.accounts import app as accounts_app
from services.common.config import Settings
from services.common.grpc.auth import StaticJwks, TokenVerifier
from services.common.grpc.client import StaticToken, make_channel
from services.common.migrations import migrate_async
from services.common.runtime import Runtime
from services.common.testing.databases import temporary_database
from services.common.testing.nats import nats_server
from services.common.testing.tokens import TokenMinter

from .stand_ins import start_stand_ins

AUD = "urn:mtlid:accounts"


@pytest.fixture(scope="module")
def nats(tmp_path_factory):
    """A nats-server of this module's own: the events these tests cause (consents given,
    residents registered, releases) stay out of other services' tests, and theirs out of ours."""
    with nats_server(tmp_path_factory.mktemp("nats-accounts")) as server:
        yield server


@pytest.fixture(scope="module")
def minter():
    return TokenMinter()


@pytest.fixture(scope="module")
async def stand_ins(minter):
    consent, consent_port, consent_server, identity, identity_port, identity_server = await start_stand_ins(minter)
    yield {"consent": consent, "consent_port": consent_port, "identity": identity, "identity_port": identity_port}
    await consent_server.drain(0.5)
    await identity_server.drain(0.5)


@contextlib.asynccontextmanager
async def accounts_runtime(minter, nats_url: str, directory, *, consent_port: int, identity_port: int,
                           env: dict[str, str] | None = None):
    """The accounts service in-process: migrated database, real NATS, gRPC on a free port;
    ``env``: more configuration variables."""
    async with temporary_database("accounts", directory) as url:
        await migrate_async("accounts", url)
        settings = Settings.from_env({
            "MTLID_VAR_DIR": str(directory), "MTLID_ACCOUNTS_DATABASE_URL": url, "MTLID_NATS_URL": nats_url,
            "MTLID_CONSENT_GRPC_TARGET": f"127.0.0.1:{consent_port}",
            "MTLID_IDENTITY_GRPC_TARGET": f"127.0.0.1:{identity_port}", **(env or {}),
        })
        runtime = Runtime("accounts", settings, grpc_port=0,
                          token_verifier=TokenVerifier(minter.issuer, AUD, StaticJwks(minter.jwks())))
        accounts_app.build(
            runtime, seed=False,
            consent_tokens=StaticToken(minter.mint("mtlid-accounts", ["consent:broker"], "urn:mtlid:consent", ttl=3600)),
            identity_tokens=StaticToken(minter.mint("mtlid-accounts", ["identity:resolve"], "urn:mtlid:identity",
                                                    ttl=3600)))
        await runtime.start()
        try:
            yield runtime
        finally:
            await runtime.stop(1.0)


@pytest.fixture(scope="module")
async def accounts(minter, stand_ins, nats, tmp_path_factory):
    async with accounts_runtime(minter, nats.url, tmp_path_factory.mktemp("accounts"),
                                consent_port=stand_ins["consent_port"], identity_port=stand_ins["identity_port"]) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def stub(accounts):
    channel = make_channel(f"127.0.0.1:{accounts.bound_grpc_port}", telemetry=False)
    yield accounts_pb2_grpc.AccountsServiceStub(channel)
    await channel.close()


class Tokens:
    def __init__(self, minter: TokenMinter) -> None:
        self.minter = minter

    def _md(self, client_id, scopes, **kw):
        return (("authorization", f"Bearer {self.minter.mint(client_id, scopes, AUD, **kw)}"),)

    def admin(self):
        return self._md("ops-console", ["accounts:admin"])

    def service(self, client_id):
        return self._md(client_id, ["accounts:link", "accounts:release"])

    def agent(self, agent_id="agent-7"):
        return self._md("counter-app", ["accounts:agent"], acting_for=agent_id)

    def resident(self, resident_id):
        return self._md("montreal-ca", ["resident"], subject=resident_id)

    def resident_for_consent(self, resident_id):
        token = self.minter.mint("montreal-ca", ["resident"], "urn:mtlid:consent", subject=resident_id)
        return (("authorization", f"Bearer {token}"),)


@pytest.fixture(scope="module")
def tokens(minter):
    return Tokens(minter)
