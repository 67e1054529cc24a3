"""Witnesses (issue 18): two independent witnesses, each a real `mtlid ledger witness`
process with its own key, poll the ledger over the identity front's HTTP, verify each new
head's consistency with the one they cosigned and cosign it; the log publishes their
cosignatures beside its own head, with the quorum. Then the operator forks the ledger
(rewrites an old entry, recomputes the whole tree, restarts): both witnesses refuse the new
head and raise the alarm, and the head they had cosigned stays published as evidence."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pathlib
import subprocess
import sys

import grpc
import httpx
from sqlalchemy import text

from montreal.consent.v1 import consent_pb2 as pb
from montreal.consent.v1 import consent_pb2_grpc
from services.common.db import create_engine
from services.common.migrations import migrate_async
from services.common.nats import free_port
from services.common.testing.databases import temporary_database
from services.common.testing.services import running_service
from services.common.testing.tokens import TokenMinter
from services.consent.domain import merkle
from services.consent.domain.witness import Checkpoint, VerifierKey, parse_note
from services.consent.service_layer import handlers as consent_handlers
from services.consent.service_layer.alarms import WITNESS_DISAGREEMENT
from services.consent.service_layer.alarms import alarms as ledger_alarms

RESIDENT = "789ABCDEFGHJ"
CLI = [sys.executable, "-m", "services.cli", "ledger"]


def _witness_key(tmp: pathlib.Path, name: str) -> tuple[pathlib.Path, str]:
    path = tmp / f"{name}.key"
    done = subprocess.run([*CLI, "witness-key", "--name", name, "--out", str(path)], capture_output=True,
                          text=True, timeout=60, check=True)
    return path, json.loads(done.stdout)["verifier_key"]


async def _increased(before: int) -> bool:
    return ledger_alarms.counts()[WITNESS_DISAGREEMENT] > before


async def _wait(predicate, what: str, timeout: float = 60.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


class _System:
    """consent (on a database we keep across restarts) and identity's HTTP front."""

    def __init__(self, nats, minter, database_url, http_port, witnesses: str) -> None:
        self.nats, self.minter, self.database_url = nats, minter, database_url
        self.http_port, self.witnesses = http_port, witnesses
        self.issuer = f"http://127.0.0.1:{http_port}"

    async def __aenter__(self):
        import contextlib

        self._stack = contextlib.AsyncExitStack()
        env = {"MTLID_ISSUER": self.issuer, "MTLID_LEDGER_WITNESSES": self.witnesses,
               "MTLID_LEDGER_WITNESS_QUORUM": "2"}
        self.consent = await self._stack.enter_async_context(running_service(
            "consent", nats_url=self.nats.url, minter=self.minter, database_url=self.database_url, env=env))
        await self._stack.enter_async_context(running_service(
            "identity", nats_url=self.nats.url, minter=self.minter,
            env={**env, "MTLID_HTTP_PORT": str(self.http_port),
                 "MTLID_CONSENT_GRPC_TARGET": f"127.0.0.1:{self.consent.bound_grpc_port}"}))
        self.web = httpx.AsyncClient(base_url=self.issuer)
        await _wait(self._healthy, "the identity front")
        return self

    async def _healthy(self):
        try:
            return (await self.web.get("/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    async def __aexit__(self, *exc):
        await self.web.aclose()
        await self._stack.aclose()

    async def grant(self, purpose: str) -> None:
        admin = self.minter.mint("operator", ["consent:admin"], "urn:mtlid:consent")
        resident = self.minter.mint("montreal-ca", ["resident"], "urn:mtlid:consent", subject=RESIDENT)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.consent.bound_grpc_port}") as channel:
            stub = consent_pb2_grpc.ConsentServiceStub(channel)
            await stub.RegisterRecipient(pb.RegisterRecipientRequest(recipient=pb.Recipient(
                recipient_id="montreal-ca", client_id="montreal-ca", name_fr="montreal.ca", name_en="montreal.ca",
                kind="municipal", owner="Ville de Montréal", purposes=["statistics", "communication"],
                data_categories=["preferred_language", "email"])), metadata=(("authorization", f"Bearer {admin}"),))
            await stub.Grant(pb.GrantRequest(resident_id=RESIDENT, recipient_id="montreal-ca", items=[
                pb.GrantItem(purpose_id=purpose)]), metadata=(("authorization", f"Bearer {resident}"),))

    async def head(self) -> dict:
        reply = await self.web.get("/ledger/tree-head")
        assert reply.status_code == 200, reply.text
        return reply.json()


def _start_witness(key: pathlib.Path, issuer: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "witness", "--issuer", issuer, "--key", str(key), "--interval", "0.3"],
                            stdout=open(str(key) + ".out", "w"), stderr=open(str(key) + ".err", "w"), text=True)


async def _fork(database_url: str) -> None:
    """What an operator with the database's superuser powers could do: rewrite entry 0 and
    recompute the whole tree so that the log is self-consistent again (a different history)."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as c:
            postgres = c.dialect.name == "postgresql"
            for table in ("ledger_entries", "merkle_nodes"):
                if postgres:
                    await c.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
                else:
                    await c.execute(text(f"DROP TRIGGER {table}_no_update"))
                    await c.execute(text(f"DROP TRIGGER {table}_no_delete"))
            rows = (await c.execute(text("SELECT idx, leaf_data FROM ledger_entries ORDER BY idx"))).all()
            forged = bytes(rows[0][1]).replace(b'"language":"fr"', b'"language":"en"')
            assert forged != bytes(rows[0][1])
            await c.execute(text("UPDATE ledger_entries SET leaf_data = :d, leaf_hash = :h WHERE idx = 0"),
                            {"d": forged, "h": merkle.leaf_hash(forged)})
            tree = merkle.MemoryTree([merkle.leaf_hash(forged)] + [merkle.leaf_hash(bytes(d)) for _, d in rows[1:]])
            await c.execute(text("DELETE FROM merkle_nodes"))
            nodes = [{"level": level, "idx": index, "hash": tree.node(level, index)}
                     for level in range(tree.size.bit_length()) for index in range(tree.size >> level)]
            await c.execute(text("INSERT INTO merkle_nodes (level, idx, hash) VALUES (:level, :idx, :hash)"), nodes)
    finally:
        await engine.dispose()


async def test_two_witnesses_cosign_then_both_refuse_a_forked_ledger(nats, tmp_path):
    minter = TokenMinter()
    (key_a, vkey_a), (key_b, vkey_b) = _witness_key(tmp_path, "auditor.example"), _witness_key(tmp_path, "cai.example")
    http_port = free_port()
    witnesses: list[subprocess.Popen] = []
    disagreements = ledger_alarms.counts()[WITNESS_DISAGREEMENT]   # what the metrics port exports (issue 19)
    async with temporary_database("consent", tmp_path) as database_url:
        await migrate_async("consent", database_url)
        try:
            async with _System(nats, minter, database_url, http_port, f"{vkey_a},{vkey_b}") as system:
                await system.grant("statistics")
                first = await system.head()
                assert first["witnesses"]["quorum"] == 2 and first["witnesses"]["below_quorum"]
                witnesses = [_start_witness(key_a, system.issuer), _start_witness(key_b, system.issuer)]

                async def cosigned_by_both(size):
                    head = await system.head()
                    w = head["witnesses"]
                    return head if w["cosigned_tree_size"] >= size and w["count"] == 2 else None

                head = await _wait(lambda: cosigned_by_both(first["tree_size"]), "two cosignatures")
                assert not head["witnesses"]["below_quorum"]
                # Anyone can check the cosignatures with the witnesses' public keys alone.
                checkpoint, cosignatures = parse_note(head["witnesses"]["note"])
                keys = {k.name: k for k in (VerifierKey.parse(vkey_a), VerifierKey.parse(vkey_b))}
                assert {c.witness for c in cosignatures} == set(keys)
                assert all(c.verify(checkpoint, keys[c.witness]) for c in cosignatures)
                assert checkpoint == Checkpoint(head["origin"], head["witnesses"]["cosigned_tree_size"],
                                                base64.urlsafe_b64decode(head["witnesses"]["cosigned_root_hash"] + "="))
                # The log grows; both witnesses verify the consistency proof and cosign again.
                await system.grant("communication")
                grown = (await system.head())["tree_size"]
                assert grown > first["tree_size"]
                witnessed = await _wait(lambda: cosigned_by_both(grown), "cosignatures of the grown head")
                witnessed_size = witnessed["witnesses"]["cosigned_tree_size"]

            await _fork(database_url)
            # A restarted consent process starts with no recently signed heads; here both
            # systems run in this one process, so the cache of the first would still answer
            # for the size the witnesses cosigned (with the history before the fork).
            consent_handlers._recent_heads.clear()
            async with _System(nats, minter, database_url, http_port, f"{vkey_a},{vkey_b}") as system:
                await system.grant("statistics")   # the forked log grows on
                forked = await system.head()
                assert forked["tree_size"] > witnessed_size

                async def both_refused():
                    return all(process.poll() is not None or
                               json.loads((key.with_name(key.name + ".state.json")).read_text()).get("alarm")
                               for process, key in zip(witnesses, (key_a, key_b)))

                await _wait(both_refused, "both witnesses to refuse the fork")
                # Each re-submits what it cosigned: the log's own alarm, the on-call page
                # MtlidWitnessDisagreement (mtlid_ledger_witness_disagreements_total).
                await _wait(lambda: _increased(disagreements), "the log's witness_disagreement alarm")
                for key in (key_a, key_b):
                    state = json.loads(key.with_name(key.name + ".state.json").read_text())
                    assert state["alarm"]["alarm"] == "witness_disagreement"
                    assert "not consistent" in state["alarm"]["reason"]
                    assert state["tree_size"] == witnessed_size  # nothing of the fork was cosigned
                # The log never got a cosignature of the fork: what it publishes as witnessed is
                # the old head, which no longer matches its own root of that size.
                after = await system.head()
                assert after["witnesses"]["cosigned_tree_size"] == witnessed_size
                proof = await system.web.get("/ledger/consistency", params={"first": witnessed_size})
                assert proof.status_code == 200
                assert not merkle.verify_consistency(
                    witnessed_size, forked["tree_size"],
                    base64.urlsafe_b64decode(witnessed["witnesses"]["cosigned_root_hash"] + "="),
                    base64.urlsafe_b64decode(forked["root_hash"] + "="),
                    [base64.b64decode(node) for node in proof.json()["proof"]])
        finally:
            for process in witnesses:
                process.terminate()
            for process in witnesses:
                process.wait(timeout=20)
    for key in (key_a, key_b):  # each witness said it on stderr, as an operator's monitoring reads it
        stderr = pathlib.Path(str(key) + ".err").read_text()
        alarms = [json.loads(line) for line in stderr.splitlines() if '"alarm"' in line]
        assert alarms and alarms[0]["alarm"] == "witness_disagreement", stderr[-2000:]


async def test_witness_once_refuses_a_shrunk_log_and_says_so(tmp_path):
    """`--once` against a log whose head is smaller than the one cosigned: exit 3, the alarm
    on stderr (a rollback is a rewrite too). The log here is a static HTTP server."""
    import http.server
    import threading

    from services.consent.domain.signing import LogSigner
    import datetime as dt

    signer = LogSigner.generate()
    head = signer.sign_tree_head(3, bytes(32), dt.datetime.now(dt.timezone.utc))
    pages = {"/ledger/keys": signer.jwks(),
             "/ledger/tree-head": {**head.to_json(), "origin": "127.0.0.1/consent-ledger", "witnesses": {}}}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps(pages.get(self.path.split("?")[0], {})).encode()
            self.send_response(200 if self.path.split("?")[0] in pages else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        key, _ = _witness_key(tmp_path, "university.example")
        state = key.with_name(key.name + ".state.json")
        state.write_text(json.dumps({"tree_size": 5, "root_hash": base64.b64encode(bytes(32)).decode(),
                                     "origin": "127.0.0.1/consent-ledger", "log_keys": signer.jwks()}))
        issuer = f"http://127.0.0.1:{server.server_address[1]}"
        done = subprocess.run([*CLI, "witness", "--issuer", issuer, "--key", str(key), "--once"],
                              capture_output=True, text=True, timeout=60, env={**os.environ})
        assert done.returncode == 3, done.stderr
        alarm = json.loads(done.stderr.strip().splitlines()[-1])
        assert alarm["alarm"] == "witness_disagreement" and "shrank" in alarm["reason"]
    finally:
        server.shutdown()


def _state(key: pathlib.Path) -> dict:
    return json.loads(key.with_name(key.name + ".state.json").read_text())


async def test_witnesses_follow_the_log_key_rotation_and_still_refuse_a_fork(nats, tmp_path):
    """The operator rotates the log's key (`mtlid ledger rotate-key`, a real process, then a
    restart): the old key announces the new one in `/ledger/keys`; both witnesses verify the
    announcement, pin the new key and cosign heads it signs — consistent with the head they
    cosigned under the old key. A witness past its share is told to wait (HTTP 429). Then the
    operator forks the ledger: both refuse it, across the rotation."""
    minter = TokenMinter()
    (key_a, vkey_a), (key_b, vkey_b) = _witness_key(tmp_path, "auditor.example"), _witness_key(tmp_path, "cai.example")
    http_port = free_port()
    witnesses: list[subprocess.Popen] = []
    listed = f"{vkey_a},{vkey_b}"
    async with temporary_database("consent", tmp_path) as database_url:
        await migrate_async("consent", database_url)
        try:
            async with _System(nats, minter, database_url, http_port, listed) as system:
                await system.grant("statistics")
                first = await system.head()
                old_kid = first["key_id"]
                witnesses = [_start_witness(key_a, system.issuer), _start_witness(key_b, system.issuer)]

                async def cosigned_by_both(size):
                    head = await system.head()
                    w = head["witnesses"]
                    return head if w["cosigned_tree_size"] >= size and w["count"] == 2 else None

                await _wait(lambda: cosigned_by_both(first["tree_size"]), "two cosignatures")

            env = {k: v for k, v in os.environ.items() if not k.startswith("MTLID_")}
            done = subprocess.run([*CLI, "rotate-key"], capture_output=True, text=True, timeout=60,
                                  env={**env, "MTLID_CONSENT_DATABASE_URL": database_url})
            assert done.returncode == 0, done.stderr
            rotated = json.loads(done.stdout)
            assert rotated["previous_kid"] == old_kid and rotated["kid"] != old_kid
            assert rotated["from_tree_size"] == first["tree_size"]

            async with _System(nats, minter, database_url, http_port, listed) as system:
                published = (await system.web.get("/ledger/keys")).json()
                assert {k["kid"] for k in published["keys"]} == {old_kid, rotated["kid"]}
                assert published["rotations"] == [rotated["announcement"]]
                await system.grant("communication")
                grown = await system.head()
                assert grown["key_id"] == rotated["kid"] and grown["tree_size"] > first["tree_size"]
                witnessed = await _wait(lambda: cosigned_by_both(grown["tree_size"]),
                                        "cosignatures of a head signed by the new key")
                witnessed_size = witnessed["witnesses"]["cosigned_tree_size"]
                for key in (key_a, key_b):
                    state = _state(key)
                    assert "alarm" not in state, state
                    assert [(r["previous_kid"], r["kid"]) for r in state["rotations_followed"]] == [
                        (old_kid, rotated["kid"])]
                    assert {k["kid"] for k in state["log_keys"]["keys"]} == {old_kid, rotated["kid"]}

                # a witness sending more than its share (12 a minute) is told when to come back
                note = _state(key_a)["note"]
                answers = [await system.web.post("/ledger/cosignatures", content=note.encode()) for _ in range(13)]
                refused = answers[-1]
                assert refused.status_code == 429, [a.status_code for a in answers]
                assert refused.json()["error"] == "too_many_cosignatures" and int(refused.headers["retry-after"]) >= 1

            await _fork(database_url)
            async with _System(nats, minter, database_url, http_port, listed) as system:
                await system.grant("statistics")   # the forked log grows on, signed by the new key
                assert (await system.head())["key_id"] == rotated["kid"]

                async def both_refused():
                    return all(process.poll() is not None or _state(key).get("alarm")
                               for process, key in zip(witnesses, (key_a, key_b)))

                await _wait(both_refused, "both witnesses to refuse the fork")
                for key in (key_a, key_b):
                    state = _state(key)
                    assert state["alarm"]["alarm"] == "witness_disagreement"
                    assert "not consistent" in state["alarm"]["reason"]
                    assert state["tree_size"] == witnessed_size
        finally:
            for process in witnesses:
                process.terminate()
            for process in witnesses:
                process.wait(timeout=20)


async def test_witness_refuses_a_key_the_pinned_one_did_not_announce(tmp_path):
    """A head signed by a new key that announces itself (or that a stranger's key announces)
    is refused: only a key the witness pinned can introduce the next one."""
    import datetime as dt
    import http.server
    import threading

    from services.consent.domain.signing import LogSigner

    pinned, rogue = LogSigner.generate(), LogSigner.generate()
    now = dt.datetime.now(dt.timezone.utc)
    head = rogue.sign_tree_head(3, bytes(32), now)
    pages = {"/ledger/keys": {"keys": [pinned.public_jwk(), rogue.public_jwk()],
                              "rotations": [rogue.announce(rogue.public_jwk(), 3, now)]},
             "/ledger/tree-head": {**head.to_json(), "origin": "127.0.0.1/consent-ledger", "witnesses": {}}}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps(pages.get(self.path.split("?")[0], {})).encode()
            self.send_response(200 if self.path.split("?")[0] in pages else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        key, _ = _witness_key(tmp_path, "university.example")
        state = key.with_name(key.name + ".state.json")
        state.write_text(json.dumps({"tree_size": 2, "root_hash": base64.b64encode(bytes(32)).decode(),
                                     "origin": "127.0.0.1/consent-ledger", "log_keys": pinned.jwks()}))
        issuer = f"http://127.0.0.1:{server.server_address[1]}"
        done = subprocess.run([*CLI, "witness", "--issuer", issuer, "--key", str(key), "--once"],
                              capture_output=True, text=True, timeout=60, env={**os.environ})
        assert done.returncode == 3, done.stderr
        alarm = json.loads(done.stderr.strip().splitlines()[-1])
        assert alarm["alarm"] == "witness_disagreement" and "pinned log keys" in alarm["reason"]
        assert [k["kid"] for k in json.loads(state.read_text())["log_keys"]["keys"]] == [pinned.key_id]
    finally:
        server.shutdown()
