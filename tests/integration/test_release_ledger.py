"""Issue 15, point 1, as processes: a relying party signs a resident in (authlib's client),
identity is killed (SIGKILL) right after the token response — the consent service is not even
running — and nothing is lost: once both run again, the release is a ``data_accessed`` entry
in the ledger (recipient by name, categories, purpose, basis) whose inclusion in a signed tree
head verifies with the ledger's own proof API, checked here with our own RFC 9162 arithmetic.

SQLite by default, PostgreSQL with MTLID_TEST_DATABASE=postgres; an own nats-server with
JetStream (a shared one would hand this consent service other tests' events).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import grpc
import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jws
from joserfc.jwk import KeySet

from montreal.consent.v1 import consent_pb2 as pb
from montreal.consent.v1 import consent_pb2_grpc
from services.common.migrations import migrate_async
from services.common.nats import EmbeddedNats, free_port
from services.common.testing.databases import temporary_database
from tests.integration.identity_oidc.conftest import Browser

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORD = "a long enough password 2026"
REDIRECT = "http://127.0.0.1:9/callback"


class Processes:
    def __init__(self, tmp_path, nats_url: str, urls: dict[str, str]) -> None:
        self.ports = {"identity": free_port(), "consent": free_port(), "http": free_port()}
        self.issuer = f"http://127.0.0.1:{self.ports['http']}"
        self.environment = {k: v for k, v in os.environ.items() if not k.startswith("MTLID_")}
        self.environment.update({
            "MTLID_VAR_DIR": str(tmp_path / "var"), "MTLID_NATS_URL": nats_url, "MTLID_ISSUER": self.issuer,
            "MTLID_HTTP_PORT": str(self.ports["http"]), "MTLID_LOG_LEVEL": "WARNING",
            "MTLID_IDENTITY_GRPC_PORT": str(self.ports["identity"]),
            "MTLID_CONSENT_GRPC_PORT": str(self.ports["consent"]),
            "MTLID_IDENTITY_DATABASE_URL": urls["identity"], "MTLID_CONSENT_DATABASE_URL": urls["consent"]})
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, service: str) -> None:
        self.running[service] = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", service],
                                                 env=self.environment, cwd=ROOT,
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self, service: str) -> None:
        process = self.running.pop(service)
        process.send_signal(signal.SIGKILL)   # no drain, no relay flush: a crash
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.running.values():
            process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def cli(self, *args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "services.cli", *args], env=self.environment, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout)


async def _until(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError("timed out")


async def _http_up(base: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1) as http:
            return (await http.get(base + "/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf_data: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 s. 2.1.3.2, written here so the test does not trust the ledger's own code."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + leaf_data).digest()
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


async def _sign_in_and_get_tokens(issuer: str, email: str) -> dict:
    browser = Browser(issuer)
    client = AsyncOAuth2Client(client_id="crash-app", scope="openid email", redirect_uri=REDIRECT,
                               code_challenge_method="S256", token_endpoint_auth_method="none")
    try:
        verifier = generate_token(48)
        url, _state = client.create_authorization_url(issuer + "/authorize", code_verifier=verifier)
        page = await browser.login(await browser.follow(await browser.get(url)), email, PASSWORD)
        page = await browser.consent(page, ["email"], [])
        assert page.status_code == 302 and page.headers["location"].startswith(REDIRECT), page.text[:300]
        return await client.fetch_token(issuer + "/token", authorization_response=page.headers["location"],
                                        code_verifier=verifier)
    finally:
        await browser.close()
        await client.aclose()


async def test_identity_killed_after_the_token_loses_no_release_and_the_entry_verifies(tmp_path):
    nats = EmbeddedNats(tmp_path / "nats").start()
    async with temporary_database("identity", tmp_path) as identity_url, \
            temporary_database("consent", tmp_path) as consent_url:
        await migrate_async("identity", identity_url)
        await migrate_async("consent", consent_url)
        run = Processes(tmp_path, nats.url, {"identity": identity_url, "consent": consent_url})
        try:
            resident = run.cli("resident", "create", "--email", "noe@example.ca", "--password", PASSWORD,
                               "--verified")["resident_id"]
            run.cli("client", "create", "--name", "Appli de quartier", "--client-id", "crash-app", "--public",
                    "--redirect-uri", REDIRECT, "--grant-type", "authorization_code", "--scope", "openid",
                    "--scope", "email")
            auditor = run.cli("client", "create", "--name", "Vérificatrice", "--client-id", "auditor",
                              "--grant-type", "client_credentials", "--scope", "consent:admin",
                              "--audience", "urn:mtlid:consent")
            run.start("identity")
            await _until(lambda: _http_up(run.issuer))
            tokens = await _sign_in_and_get_tokens(run.issuer, "noe@example.ca")
            assert tokens["id_token"] and tokens["scope"] == "openid email"
            run.kill("identity")            # the relay may not have published anything yet

            run.start("consent")
            run.start("identity")
            await _until(lambda: _http_up(run.issuer))
            async with httpx.AsyncClient() as http:
                answer = await http.post(run.issuer + "/token", auth=("auditor", auditor["client_secret"]), data={
                    "grant_type": "client_credentials", "scope": "consent:admin", "resource": "urn:mtlid:consent"})
            metadata = (("authorization", f"Bearer {answer.json()['access_token']}"),)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{run.ports['consent']}") as channel:
                stub = consent_pb2_grpc.ConsentServiceStub(channel)

                async def recorded():
                    try:
                        reply = await stub.AccessLog(pb.AccessLogRequest(resident_id=resident), metadata=metadata,
                                                     timeout=5)
                    except grpc.aio.AioRpcError:
                        return None             # consent still starting
                    return list(reply.records)

                records = await _until(recorded)
                assert len(records) == 1     # once, even though the event may have been published twice
                [record] = records
                assert record.recipient_name_fr == "Appli de quartier"
                assert sorted(record.data_categories) == ["email", "sign_in_identifier"]
                assert record.purpose_id == "service-provision"
                assert set(record.bases.values()) == {pb.LEGAL_BASIS_PUBLIC_TASK}

                proof = await stub.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=record.ledger_index),
                                                     metadata=metadata, timeout=5)
                keys = json.loads((await stub.GetLogKeys(pb.GetLogKeysRequest(), timeout=5)).jwks_json)
            head = json.loads(jws.deserialize_compact(proof.signed_tree_head.jws, KeySet.import_key_set(keys)).payload)
            root = base64.urlsafe_b64decode(head["root_hash"] + "=" * (-len(head["root_hash"]) % 4))
            assert head["tree_size"] == proof.tree_size
            leaf = json.loads(proof.entry.leaf_data)
            assert leaf["type"] == "data_accessed" and leaf["access_id"] == record.access_id
            assert verify_inclusion(proof.entry.leaf_data, record.ledger_index, proof.tree_size,
                                    list(proof.audit_path), root)
            assert "noe@example.ca" not in proof.entry.leaf_data.decode()   # categories, never values
        finally:
            run.stop_all()
            nats.stop(timeout=2)
