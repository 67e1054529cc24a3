"""The whole consent service in-process (running_service: migrated database, real NATS,
real gRPC): events in from accounts, events out through the outbox, and two replicas on one
database where a withdrawal through one is seen at once by the other."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import nats as nats_client

from montreal.consent.v1 import consent_pb2 as pb
from montreal.consent.v1 import consent_pb2_grpc
from services.common.nats import ensure_stream
from services.common.testing.services import running_service
from services.common.testing.tokens import TokenMinter

AUD = "urn:mtlid:consent"
RES = "6789ABCDEFGH"


def envelope(type_, data):
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "mtlid/accounts", "type": type_,
            "time": "2026-11-27T23:00:00Z", "datacontenttype": "application/json", "data": data}


async def eventually(probe, attempts=100):
    for _ in range(attempts):
        result = await probe()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_service_end_to_end_with_two_replicas(fresh_nats):
    # A nats-server of its own: the stream must hold only this test's consent events.
    nats = fresh_nats
    minter = TokenMinter()
    md = lambda client, scopes, sub=None: (("authorization", f"Bearer {minter.mint(client, scopes, AUD, subject=sub)}"),)  # noqa: E731
    resident, broker, admin = md("montreal-ca", ["resident"], RES), md("accounts", ["consent:broker"]), \
        md("operator", ["consent:admin"])
    async with running_service("consent", nats_url=nats.url, minter=minter) as first:
        url = first.settings.database_url("consent")
        async with running_service("consent", nats_url=nats.url, minter=minter, database_url=url) as second:
            a = grpc.aio.insecure_channel(f"127.0.0.1:{first.bound_grpc_port}")
            b = grpc.aio.insecure_channel(f"127.0.0.1:{second.bound_grpc_port}")
            one, two = consent_pb2_grpc.ConsentServiceStub(a), consent_pb2_grpc.ConsentServiceStub(b)
            nc = await nats_client.connect(nats.url)
            try:
                js = nc.jetstream()
                await ensure_stream(js, "accounts")
                # accounts registers a service, then releases attributes to it.
                await js.publish("montreal.accounts.v1.service_registered", json.dumps(envelope(
                    "montreal.accounts.v1.service_registered", {
                        "service_id": "montreal-sports", "client_id": "sports-client", "name_fr": "Sports",
                        "name_en": "Sports", "kind": "municipal", "owner": "Ville",
                        "purposes": ["service-provision", "communication"],
                        "attributes": ["given_name", "email"]})).encode())

                async def registered():
                    listed = await one.ListRecipients(pb.ListRecipientsRequest())
                    return any(r.recipient_id == "montreal-sports" for r in listed.recipients)
                await eventually(registered)
                access_id = str(uuid.uuid4())
                released = envelope("montreal.accounts.v1.attributes_released", {
                    "access_id": access_id, "resident_id": RES, "service_id": "montreal-sports",
                    "purpose_id": "service-provision", "categories": ["given_name"], "withheld": [],
                    "bases": {"given_name": "public_task"}, "consent_ids": []})
                for _ in range(2):  # delivered twice (a retry): one entry
                    await js.publish("montreal.accounts.v1.attributes_released", json.dumps(released).encode())

                async def recorded():
                    log = await two.AccessLog(pb.AccessLogRequest(resident_id=RES), metadata=resident)
                    return log.records if log.records else None
                records = await eventually(recorded)
                await asyncio.sleep(0.3)
                log = await one.AccessLog(pb.AccessLogRequest(resident_id=RES), metadata=resident)
                assert [r.access_id for r in log.records] == [access_id]

                # Consent given through replica one; its event leaves through the outbox.
                sub = await js.subscribe("montreal.consent.v1.consent_given", ordered_consumer=True)
                granted = await one.Grant(pb.GrantRequest(resident_id=RES, recipient_id="montreal-sports", items=[
                    pb.GrantItem(purpose_id="communication", data_categories=["email"])]), metadata=resident)
                consent_id = granted.consents[0].consent_id
                message = await sub.next_msg(timeout=5)
                event = json.loads(message.data)
                assert event["data"]["consent_id"] == consent_id and event["type"].endswith("consent_given")
                assert "@" not in message.data.decode()  # identifiers only, no attribute values
                check = pb.CheckRequest(resident_id=RES, recipient_id="montreal-sports", purpose_id="communication",
                                        data_categories=["email"])
                assert (await two.Check(check, metadata=broker)).decisions[0].allowed
                # Withdrawn through one: denied through two at once, no waiting.
                await one.Withdraw(pb.WithdrawRequest(resident_id=RES, consent_id=consent_id), metadata=resident)
                assert not (await two.Check(check, metadata=broker)).decisions[0].allowed
                head_one = (await one.GetSignedTreeHead(pb.GetSignedTreeHeadRequest())).signed_tree_head
                head_two = (await two.GetSignedTreeHead(pb.GetSignedTreeHeadRequest())).signed_tree_head
                assert (head_one.tree_size, head_one.root_hash, head_one.key_id) == \
                    (head_two.tree_size, head_two.root_hash, head_two.key_id)
                assert records
            finally:
                await nc.close()
                await a.close()
                await b.close()
                # Runtime.stop() drains NATS, which waits ~30 s per runtime while its pull
                # subscriptions have a fetch pending (reported to the foundation's owner);
                # closing first keeps this test at seconds. Nothing is lost: all is committed.
                for runtime in (second, first):
                    if runtime.nats is not None:
                        await runtime.nats.close()
