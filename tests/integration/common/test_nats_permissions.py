"""The NATS users of the deployment (deploy/k8s/base/nats.yaml) let each service do what its own
code does — publish its events, read the streams it consumes through its own durable
consumers — and nothing more: no service can publish another's events or drain another's
consumer. A real nats-server runs the deployment's ``authorization`` block; the services' own
NATS code (``ensure_stream``, ``EventConsumer``'s subscriptions, the relay's publish) runs
against it as each user, with the subject lists the services subscribe to in code."""

from __future__ import annotations

import asyncio
import pathlib
import re
import subprocess
import uuid

import nats
import pytest
import yaml
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NoStreamResponseError

from services.accounts.entrypoints.events import IDENTITY_SUBJECTS as ACCOUNTS_READS_FROM_IDENTITY
from services.common.consumer import EventConsumer
from services.common.nats import ensure_stream, find_nats_server, free_port
from services.consent.service_layer.event_handlers import ACCOUNTS_SUBJECTS, IDENTITY_SUBJECTS
from services.identity.entrypoints.events import CONSENT_SUBJECTS as IDENTITY_READS_FROM_CONSENT

ROOT = pathlib.Path(__file__).resolve().parents[3]
PASSWORDS = {"identity": "pw-identity", "accounts": "pw-accounts", "consent": "pw-consent", "mailer": "pw-mailer"}
# What each service consumes, as its app wires it (services/*/app.py): (durable, stream, subjects).
CONSUMERS = {
    "identity": [("identity-consent", "consent", list(IDENTITY_READS_FROM_CONSENT))],
    "accounts": [("accounts-identity", "identity", list(ACCOUNTS_READS_FROM_IDENTITY))],
    "consent": [("consent-accounts", "accounts", list(ACCOUNTS_SUBJECTS)),
                ("consent-identity", "identity", list(IDENTITY_SUBJECTS))],
}


def deployment_authorization() -> str:
    """The top-level ``authorization { … }`` block of the deployment's nats.conf."""
    for doc in yaml.safe_load_all((ROOT / "deploy/k8s/base/nats.yaml").read_text()):
        if doc and doc.get("kind") == "ConfigMap" and "nats.conf" in doc.get("data", {}):
            conf = doc["data"]["nats.conf"]
            break
    else:
        raise AssertionError("no nats.conf in deploy/k8s/base/nats.yaml")
    start = re.search(r"^authorization \{", conf, flags=re.M).start()
    depth = 0
    for index in range(start, len(conf)):
        depth += {"{": 1, "}": -1}.get(conf[index], 0)
        if conf[index] == "}" and depth == 0:
            return conf[start:index + 1]
    raise AssertionError("unbalanced authorization block")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("nats-permissions")
    port = free_port()
    conf = directory / "nats.conf"
    conf.write_text(f"listen: 127.0.0.1:{port}\njetstream {{ store_dir: {directory / 'js'} }}\n"
                    + deployment_authorization() + "\n")
    env = {f"{user.upper()}_PASSWORD": password for user, password in PASSWORDS.items()}
    process = subprocess.Popen([find_nats_server(), "-c", str(conf)], env={"PATH": "/usr/bin:/bin", **env},
                               stdout=subprocess.DEVNULL, stderr=open(directory / "log", "wb"))
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


async def connect_as(url: str, user: str, errors: list | None = None) -> nats.NATS:
    async def on_error(error: Exception) -> None:
        if errors is not None:
            errors.append(str(error))

    for _ in range(100):
        try:
            return await nats.connect(url, user=user, password=PASSWORDS[user], error_cb=on_error,
                                      allow_reconnect=False, connect_timeout=1)
        except (OSError, nats.errors.NoServersError):
            await asyncio.sleep(0.05)
    raise AssertionError(f"cannot connect to {url}")


async def publish_event(js, service: str, event: str, timeout: float = 2) -> None:
    msg_id = str(uuid.uuid4())
    await js.publish(f"montreal.{service}.v1.{event}", b'{"id": "%s"}' % msg_id.encode(),
                     stream=f"MTLID_{service.upper()}", headers={"Nats-Msg-Id": msg_id}, timeout=timeout)


async def test_each_service_publishes_its_events_and_reads_what_it_consumes(server):
    connections = {user: await connect_as(server, user) for user in PASSWORDS}
    try:
        for user in ("identity", "accounts"):
            js = connections[user].jetstream()
            await ensure_stream(js, user)
            for subject in {"identity": IDENTITY_SUBJECTS, "accounts": ACCOUNTS_SUBJECTS}[user]:
                await publish_event(js, user, subject.rsplit(".", 1)[-1])
        for subject in ACCOUNTS_READS_FROM_IDENTITY:
            await publish_event(connections["identity"].jetstream(), "identity", subject.rsplit(".", 1)[-1])
        await ensure_stream(connections["consent"].jetstream(), "consent")
        for subject in IDENTITY_READS_FROM_CONSENT:   # issue 22: identity reads consent's stream
            await publish_event(connections["consent"].jetstream(), "consent", subject.rsplit(".", 1)[-1])
        for user, consumers in CONSUMERS.items():
            js = connections[user].jetstream()
            for durable, stream, subjects in consumers:
                consumer = EventConsumer(jetstream=lambda: js, uow_factory=None, durable=durable,
                                         stream_service=stream, subjects=subjects, handler=None)
                # The consumer's own subscription code: ensure_stream, then one durable
                # pull consumer per subject; then fetch and acknowledge, as it does.
                subscriptions, _replay = await consumer._subscriptions(js)
                for subscription in subscriptions:
                    [message] = await subscription.fetch(1, timeout=2)
                    await message.ack_sync(timeout=2)
    finally:
        for connection in connections.values():
            await connection.close()


async def test_no_service_can_publish_another_services_events(server):
    identity = await connect_as(server, "identity")
    try:
        await ensure_stream(identity.jetstream(), "identity")
        before = (await identity.jetstream().stream_info("MTLID_IDENTITY")).state.messages
    finally:
        await identity.close()
    for intruder in ("accounts", "consent", "mailer"):
        errors: list[str] = []
        connection = await connect_as(server, intruder, errors)
        try:
            # A forged consent: consent would record it as the resident's own.
            with pytest.raises((NatsTimeoutError, NoStreamResponseError)):
                await publish_event(connection.jetstream(), "identity", "grant_given", timeout=0.5)
            await asyncio.sleep(0.1)
            assert any("permissions violation" in e.lower() for e in errors), errors
        finally:
            await connection.close()
    identity = await connect_as(server, "identity")
    try:
        assert (await identity.jetstream().stream_info("MTLID_IDENTITY")).state.messages == before
    finally:
        await identity.close()


async def test_no_service_can_drain_or_delete_another_services_consumer(server):
    """accounts reading consent's consumer of identity's events would take grant_withdrawn
    events away from consent; deleting a stream would lose every event not yet consumed."""
    identity = await connect_as(server, "identity")
    consent = await connect_as(server, "consent")
    try:
        await ensure_stream(identity.jetstream(), "identity")
        await publish_event(identity.jetstream(), "identity", "grant_withdrawn")
        consumer = EventConsumer(jetstream=lambda: None, uow_factory=None, durable="consent-identity",
                                 stream_service="identity", subjects=["montreal.identity.v1.grant_withdrawn"],
                                 handler=None)
        await consumer._subscriptions(consent.jetstream())
    finally:
        await consent.close()
    errors: list[str] = []
    accounts = await connect_as(server, "accounts", errors)
    try:
        js = accounts.jetstream()
        with pytest.raises((NatsTimeoutError, nats.errors.Error)):
            await accounts.request("$JS.API.CONSUMER.MSG.NEXT.MTLID_IDENTITY.consent-identity--grant_withdrawn",
                                   b'{"batch": 1}', timeout=1)
        with pytest.raises((NatsTimeoutError, nats.errors.Error)):
            await js.delete_stream("MTLID_IDENTITY")
        await asyncio.sleep(0.1)
        assert sum("permissions violation" in e.lower() for e in errors) >= 2, errors
    finally:
        await accounts.close()
    await identity.close()
    # consent's consumer still holds the event for consent (consent may look at its own consumer).
    consent = await connect_as(server, "consent")
    try:
        info = await consent.jetstream().consumer_info("MTLID_IDENTITY", "consent-identity--grant_withdrawn")
        assert info.num_pending >= 1 and info.num_ack_pending == 0
    finally:
        await consent.close()


async def test_each_service_brings_its_own_stream_to_its_configuration(server):
    """The owner updates its stream at start (ensure_stream, issue 16): here an older
    duplicate window is corrected, as three replicas would be in the cluster."""
    from nats.js.api import StreamConfig

    for user in ("identity", "accounts", "consent"):   # the streams' owners (the mailer owns none)
        connection = await connect_as(server, user)
        try:
            js = connection.jetstream()
            await ensure_stream(js, user)
            await js.update_stream(StreamConfig(name=f"MTLID_{user.upper()}", subjects=[f"montreal.{user}.v1.>"],
                                                duplicate_window=60))   # as an older version left it
            await ensure_stream(js, user)
            info = await js.stream_info(f"MTLID_{user.upper()}")
            assert info.config.duplicate_window == 30 * 60, user
        finally:
            await connection.close()


async def test_the_mailer_reads_every_mail_event_through_its_own_consumers_only(server):
    from services.mailer.messages import SUBJECTS
    from services.mailer.queue import MailQueue

    identity = await connect_as(server, "identity")
    try:
        js = identity.jetstream()
        await ensure_stream(js, "identity")
        for subject in SUBJECTS:
            await publish_event(js, "identity", subject.rsplit(".", 1)[-1])
    finally:
        await identity.close()
    errors: list[str] = []
    mailer = await connect_as(server, "mailer", errors)
    try:
        js = mailer.jetstream()
        queue = MailQueue(jetstream=lambda: js, send=None, sender="x <x@montreal.ca>")
        subscriptions, replay = await queue._subscriptions(js)  # the mailer's own subscription code
        assert len(subscriptions) == len(SUBJECTS)
        for subscription in subscriptions:
            [message] = await subscription.fetch(1, timeout=2)
            await message.ack_sync(timeout=2)
        # It dead-letters into its own stream (what EventConsumer._dead_letter publishes).
        ack = await js.publish("montreal.mailer.dead_letters.dead.mailer", b"{}",
                               stream="MTLID_MAILER_DEAD_LETTERS", timeout=2)
        assert ack.seq >= 1 and replay is not None
        # …but not accounts' consumer of identity's events (resident_registered).
        with pytest.raises((NatsTimeoutError, nats.errors.Error)):
            await mailer.request("$JS.API.CONSUMER.MSG.NEXT.MTLID_IDENTITY.accounts-identity--resident_registered",
                                 b'{"batch": 1}', timeout=1)
        await asyncio.sleep(0.1)
        assert any("permissions violation" in e.lower() for e in errors), errors
    finally:
        await mailer.close()


async def test_the_services_learn_token_revocations_and_nothing_else_of_identitys_stream(server):
    """Issue 15: accounts and consent read ``tokens_revoked`` back from identity's stream
    (their own consumer of that one subject, delivered to their inbox) and follow it live;
    the same right does not let them read any other identity event."""
    import datetime as dt
    import json

    from nats.js.api import ConsumerConfig, DeliverPolicy
    from nats.js.errors import APIError

    from services.common.revocations import SUBJECT, RevokedTokens, _read_back

    connections = {user: await connect_as(server, user) for user in ("identity", "accounts", "consent")}
    try:
        identity = connections["identity"].jetstream()
        await ensure_stream(identity, "identity")
        expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)).isoformat()

        async def revoke(family: str) -> None:
            envelope = {"id": str(uuid.uuid4()), "type": "montreal.identity.v1.tokens_revoked",
                        "data": {"families": [family], "jtis": [], "expires_at": expires}}
            await identity.publish(SUBJECT, json.dumps(envelope).encode(), stream="MTLID_IDENTITY")

        await revoke("family-before")
        for user in ("accounts", "consent"):
            connection = connections[user]
            revoked = RevokedTokens()
            async def follow(message, r=revoked) -> None:
                r.apply(message.data)

            live = await connection.subscribe(SUBJECT, cb=follow)
            assert await _read_back(connection, revoked) >= 1
            assert revoked.contains("family-before:abc")
            await revoke(f"family-live-{user}")
            for _ in range(50):
                if revoked.contains(f"family-live-{user}:abc"):
                    break
                await asyncio.sleep(0.05)
            assert revoked.contains(f"family-live-{user}:abc")
            await live.unsubscribe()
            # the right is for that one subject: a consumer of the mail events is refused
            config = ConsumerConfig(name=f"spy{user}", filter_subject="montreal.identity.v1.email_verification_requested",
                                    deliver_subject=connection.new_inbox(), deliver_policy=DeliverPolicy.ALL)
            with pytest.raises((APIError, NatsTimeoutError)):
                await connection.jetstream().add_consumer("MTLID_IDENTITY", config=config, timeout=1)
    finally:
        for connection in connections.values():
            await connection.close()
