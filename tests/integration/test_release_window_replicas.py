"""Issue 15, point 2, as processes: two identity processes on one database (PostgreSQL with
MTLID_TEST_DATABASE=postgres, also SQLite) answer the same relying party in turn. Identical
repeated userinfo and introspection reads within the window are one ``data_released`` record
each, whichever process answered: the window lives in identity's database
(``release_windows``), claimed in the transaction that writes the record."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from sqlalchemy import select

from services.common.db import create_engine
from services.common.migrations import migrate_async
from services.common.nats import EmbeddedNats, free_port
from services.common.testing.databases import temporary_database
from services.common.uow import OUTBOX
from tests.integration.test_release_ledger import PASSWORD, ROOT, _http_up, _sign_in_and_get_tokens, _until


def _cli(environment: dict, *args: str) -> dict:
    import json

    done = subprocess.run([sys.executable, "-m", "services.cli", *args], env=environment, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


async def _releases(url: str, channel: str) -> list[dict]:
    import json

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(OUTBOX.c.envelope).order_by(OUTBOX.c.seq))).all()
    finally:
        await engine.dispose()
    events = [json.loads(r.envelope) for r in rows]
    return [e["data"] for e in events
            if e["type"] == "montreal.identity.v1.data_released" and e["data"]["channel"] == channel]


async def test_two_identity_processes_share_the_repeat_window(tmp_path):
    nats = EmbeddedNats(tmp_path / "nats").start()
    processes: list[subprocess.Popen] = []
    async with temporary_database("identity", tmp_path) as url:
        await migrate_async("identity", url)
        http = [free_port(), free_port()]
        issuer = f"http://127.0.0.1:{http[0]}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("MTLID_")}
        base.update({"MTLID_VAR_DIR": str(tmp_path / "var"), "MTLID_NATS_URL": nats.url, "MTLID_ISSUER": issuer,
                     "MTLID_LOG_LEVEL": "WARNING", "MTLID_IDENTITY_DATABASE_URL": url})
        try:
            _cli(base, "resident", "create", "--email", "ines@example.ca", "--password", PASSWORD, "--verified")
            _cli(base, "client", "create", "--name", "Appli de quartier", "--client-id", "crash-app", "--public",
                 "--redirect-uri", "http://127.0.0.1:9/callback", "--grant-type", "authorization_code",
                 "--scope", "openid", "--scope", "email")
            auditor = _cli(base, "client", "create", "--name", "Vérificatrice", "--client-id", "auditor",
                           "--grant-type", "client_credentials", "--scope", "consent:admin",
                           "--audience", "urn:mtlid:consent")
            for port in http:  # two replicas: same database, same issuer, each its own ports
                environment = {**base, "MTLID_HTTP_PORT": str(port), "MTLID_IDENTITY_GRPC_PORT": str(free_port()),
                               "MTLID_IDENTITY_METRICS_PORT": "off"}
                processes.append(subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "identity"],
                                                  env=environment, cwd=ROOT, stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL))
            fronts = [f"http://127.0.0.1:{port}" for port in http]
            for front in fronts:
                await _until(lambda front=front: _http_up(front))
            tokens = await _sign_in_and_get_tokens(issuer, "ines@example.ca")
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            async with httpx.AsyncClient(timeout=10) as client:
                for n in range(6):  # A, B, A, B…: each read answered, one record
                    answer = await client.get(fronts[n % 2] + "/userinfo", headers=bearer)
                    assert answer.status_code == 200 and answer.json()["email"] == "ines@example.ca"
                    answer = await client.post(fronts[(n + 1) % 2] + "/introspect",
                                               data={"token": tokens["access_token"]},
                                               auth=("auditor", auditor["client_secret"]))
                    assert answer.status_code == 200 and answer.json()["active"] is True
            userinfo = await _releases(url, "userinfo")
            assert len(userinfo) == 1, userinfo
            assert userinfo[0]["categories"] == ["email", "sign_in_identifier"]
            assert userinfo[0]["repeat_window_seconds"] == 300
            assert len(await _releases(url, "introspection")) == 1
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            nats.stop(timeout=2)
