"""Issue 15: a service's own token verification learns identity's revocations
(``tokens_revoked``, services/common/revocations.py): a service started *after* a revocation
reads it back from identity's stream, and one published while it runs is followed live; the
token is refused UNAUTHENTICATED ``TOKEN_REVOKED`` within seconds, other tokens still pass."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid

import grpc
import nats as nats_py

from montreal.consent.v1 import consent_pb2, consent_pb2_grpc
from services.common.grpc.client import rpc_error_details
from services.common.nats import EmbeddedNats, ensure_stream
from services.common.revocations import SUBJECT
from services.common.testing.services import running_service
from services.common.testing.tokens import TokenMinter


async def _revoke(js, family: str) -> None:
    expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    envelope = {"id": str(uuid.uuid4()), "type": "montreal.identity.v1.tokens_revoked", "source": "mtlid/identity",
                "data": {"families": [family], "jtis": [], "expires_at": expires}}
    await js.publish(SUBJECT, json.dumps(envelope).encode(), stream="MTLID_IDENTITY")


async def _outcome(stub, token: str):
    try:
        await stub.ListConsents(consent_pb2.ListConsentsRequest(resident_id="3456789ABCDE"),
                                metadata=(("authorization", f"Bearer {token}"),), timeout=5)
        return grpc.StatusCode.OK, None
    except grpc.aio.AioRpcError as error:
        code, _, reason = rpc_error_details(error)
        return code, reason


async def _until_refused(stub, token: str, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await _outcome(stub, token) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED"):
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"still accepted after {timeout} s: {await _outcome(stub, token)}")


async def test_revocations_read_back_at_start_and_followed_live(tmp_path):
    minter = TokenMinter()
    server = EmbeddedNats(tmp_path / "nats").start()
    connection = await nats_py.connect(server.url)
    try:
        js = connection.jetstream()
        await ensure_stream(js, "identity")
        await _revoke(js, "family-before")                     # before the service exists
        async with running_service("consent", nats_url=server.url, minter=minter) as consent:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{consent.bound_grpc_port}") as channel:
                stub = consent_pb2_grpc.ConsentServiceStub(channel)
                revoked = minter.mint("agent", ["consent:admin"], "urn:mtlid:consent", jti="family-before:a1")
                live = minter.mint("agent", ["consent:admin"], "urn:mtlid:consent", jti="family-live:b2")
                assert await _until_refused(stub, revoked) < 5.0          # read back at start
                assert await _outcome(stub, live) == (grpc.StatusCode.OK, None)
                await _revoke(js, "family-live")                   # while it runs
                assert await _until_refused(stub, live) < 5.0
                other = minter.mint("agent", ["consent:admin"], "urn:mtlid:consent", jti="family-other:c3")
                assert await _outcome(stub, other) == (grpc.StatusCode.OK, None)
    finally:
        await connection.close()
        server.stop()
