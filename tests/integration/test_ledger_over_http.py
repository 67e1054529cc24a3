"""Issue 4, point 4: the ledger's key and latest signed tree head, read-only over HTTP on the
identity front, usable by an auditor with nothing but HTTP — and ``mtlid ledger verify``
accepts the head saved from there."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import grpc
import httpx
from joserfc import jws
from joserfc.jwk import KeySet

from montreal.consent.v1 import consent_pb2 as pb
from montreal.consent.v1 import consent_pb2_grpc
from services.common.nats import free_port
from services.common.testing.services import running_service
from services.common.testing.tokens import TokenMinter

RESIDENT = "6789ABCDEFGH"


async def test_auditor_fetches_key_and_tree_head_over_http_and_verifies_them(nats, tmp_path):
    minter = TokenMinter()
    async with running_service("consent", nats_url=nats.url, minter=minter) as consent:
        http_port = free_port()
        env = {"MTLID_HTTP_PORT": str(http_port), "MTLID_ISSUER": f"http://127.0.0.1:{http_port}",
               "MTLID_CONSENT_GRPC_TARGET": f"127.0.0.1:{consent.bound_grpc_port}"}
        async with running_service("identity", nats_url=nats.url, minter=minter, env=env):
            base = f"http://127.0.0.1:{http_port}"
            async with httpx.AsyncClient(base_url=base) as web:
                for _ in range(100):
                    try:
                        if (await web.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                token = minter.mint("montreal-ca", ["resident"], "urn:mtlid:consent", subject=RESIDENT)
                async with grpc.aio.insecure_channel(f"127.0.0.1:{consent.bound_grpc_port}") as channel:
                    stub = consent_pb2_grpc.ConsentServiceStub(channel)
                    admin = minter.mint("operator", ["consent:admin"], "urn:mtlid:consent")
                    await stub.RegisterRecipient(pb.RegisterRecipientRequest(recipient=pb.Recipient(
                        recipient_id="montreal-ca", client_id="montreal-ca", name_fr="montreal.ca",
                        name_en="montreal.ca", kind="municipal", owner="Ville de Montréal",
                        purposes=["statistics"], data_categories=["preferred_language"])),
                        metadata=(("authorization", f"Bearer {admin}"),))
                    await stub.Grant(pb.GrantRequest(resident_id=RESIDENT, recipient_id="montreal-ca", items=[
                        pb.GrantItem(purpose_id="statistics", data_categories=["preferred_language"])]),
                        metadata=(("authorization", f"Bearer {token}"),))

                keys_reply = await web.get("/ledger/keys")
                head_reply = await web.get("/ledger/tree-head")
                assert keys_reply.status_code == head_reply.status_code == 200
                assert keys_reply.headers["access-control-allow-origin"] == "*"  # browsers may read it
                keys = KeySet.import_key_set(keys_reply.json())
                head = head_reply.json()
                assert head["tree_size"] >= 1
                verified = jws.deserialize_compact(head["jws"], keys, algorithms=["ES256"])
                payload = json.loads(verified.payload)
                assert (payload["tree_size"], payload["root_hash"]) == (head["tree_size"], head["root_hash"])
                assert (await web.post("/ledger/tree-head")).status_code == 405  # read-only

        saved = tmp_path / "sth.json"
        saved.write_text(head_reply.text)
        env = {**os.environ, "MTLID_CONSENT_DATABASE_URL": consent.settings.database_url("consent")}
        verify = subprocess.run([sys.executable, "-m", "services.cli", "ledger", "verify", "--tree-head", str(saved)],
                                env=env, capture_output=True, text=True, timeout=120)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert json.loads(verify.stdout)["ok"] is True


async def test_tree_head_says_unavailable_when_the_ledger_is_down(nats):
    http_port, dead_port = free_port(), free_port()
    env = {"MTLID_HTTP_PORT": str(http_port), "MTLID_CONSENT_GRPC_TARGET": f"127.0.0.1:{dead_port}"}
    async with running_service("identity", nats_url=nats.url, minter=TokenMinter(), env=env):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as web:
            for _ in range(100):
                try:
                    reply = await web.get("/ledger/tree-head")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            assert reply.status_code == 503
            assert reply.json()["error"] == "temporarily_unavailable"
