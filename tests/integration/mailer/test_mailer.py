"""The mailer end to end: identity writes a mail event (outbox → NATS JetStream), the mailer's
durable consumer renders it and sends it over SMTP (STARTTLS, AUTH) to a real relay
(aiosmtpd) started here; a relay that refuses the recipient sends the mail to the dead-letter
path; a relay that is down gets the mail later, once it is back."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from email import policy
from email.parser import BytesParser

import nats

from services.common.config import Settings
from services.common.nats import ensure_stream, free_port
from services.common.testing.nats import nats_server
from services.common.testing.services import running_service
from services.identity.service_layer import authentication as auth
from services.mailer.app import Mailer
from services.mailer.config import MailerSettings
from tests.integration.mailer.smtp import PASSWORD, USER, make_certificate, smtp_relay


def _mailer_settings(tmp_path, cert_file, port: int) -> MailerSettings:
    settings = Settings.from_env({"MTLID_VAR_DIR": str(tmp_path)})
    return MailerSettings.from_env({"MTLID_SMTP_HOST": "127.0.0.1", "MTLID_SMTP_PORT": str(port),
                                    "MTLID_SMTP_USERNAME": USER, "MTLID_SMTP_PASSWORD": PASSWORD,
                                    "MTLID_SMTP_CA_FILE": str(cert_file)}, settings)


@contextlib.asynccontextmanager
async def running_mailer(nats_url: str, mailer_settings: MailerSettings, **queue_options):
    settings = Settings.from_env({"MTLID_NATS_URL": nats_url})
    mailer = Mailer(settings, mailer_settings, **queue_options)
    stop = asyncio.Event()
    task = asyncio.create_task(mailer.run(stop))
    try:
        yield mailer
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _until(predicate, timeout: float = 20.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return False


async def _publish_mail_event(nats_url: str, email: str, *, minutes: int = 15) -> str:
    """A mail event as identity's relay publishes it (for the relay-side cases)."""
    event_id = str(uuid.uuid4())
    expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)).isoformat()
    envelope = {"specversion": "1.0", "id": event_id, "type": "montreal.identity.v1.password_reset_requested",
                "source": "/montreal/identity", "time": dt.datetime.now(dt.timezone.utc).isoformat(),
                "datacontenttype": "application/json",
                "data": {"resident_id": "789ABCDEFGHJ", "email": email, "code": "123456",
                         "expires_at": expires, "language": "fr"}}
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        await ensure_stream(js, "identity")
        await js.publish("montreal.identity.v1.password_reset_requested", json.dumps(envelope).encode(),
                         headers={"Nats-Msg-Id": event_id})
    finally:
        await connection.close()
    return event_id


async def test_a_new_residents_code_arrives_over_starttls_with_auth_in_their_language(tmp_path):
    cert_file, key_file = make_certificate(tmp_path)
    port = free_port()
    with nats_server() as server, smtp_relay(cert_file, key_file, port) as relay:
        async with running_service("identity", nats_url=server.url,
                                   env={"MTLID_HTTP_PORT": str(free_port())}) as runtime, \
                running_mailer(server.url, _mailer_settings(tmp_path, cert_file, port)) as mailer:
            email = f"nouvelle-{uuid.uuid4().hex[:8]}@example.ca"
            await auth.register_resident(auth.RegisterResident(email, "une phrase de passe", "en", "192.0.2.5"),
                                         runtime.identity.uow_factory())
            assert await _until(lambda: relay.received), "no mail reached the relay"
    [received] = relay.received
    assert received.recipients == [email]
    assert received.over_tls and received.login == USER
    message = BytesParser(policy=policy.default).parsebytes(received.data)
    assert message["Subject"].startswith("Votre code de confirmation")
    assert "Your confirmation code" in message["Subject"]  # the resident chose English: it follows the French
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert text.index("Bonjour") < text.index("Hello")
    assert message.get_body(preferencelist=("html",)) is not None
    assert mailer.queue.sent == 1 and mailer.queue.dead_lettered == 0


async def test_a_refused_recipient_goes_to_the_dead_letter_path_and_the_next_mail_still_goes(tmp_path):
    cert_file, key_file = make_certificate(tmp_path)
    port = free_port()
    with nats_server() as server:
        with smtp_relay(cert_file, key_file, port, refuse=True) as refusing:
            async with running_mailer(server.url, _mailer_settings(tmp_path, cert_file, port)) as mailer:
                await _publish_mail_event(server.url, "inconnu@example.ca")
                assert await _until(lambda: mailer.queue.dead_lettered == 1)
                await asyncio.sleep(1.0)  # no redelivery of a dead-lettered mail
                assert mailer.queue.dead_lettered == 1 and mailer.queue.sent == 0
        assert refusing.received == []
        with smtp_relay(cert_file, key_file, port) as relay:
            async with running_mailer(server.url, _mailer_settings(tmp_path, cert_file, port)) as mailer:
                await _publish_mail_event(server.url, "connu@example.ca")
                assert await _until(lambda: relay.received)
                await asyncio.sleep(0.5)
        # The refused mail was not retried by the new process either: only the new one arrived.
        assert [r.recipients for r in relay.received] == [["connu@example.ca"]]


async def test_a_relay_that_is_down_gets_the_mail_once_it_is_back(tmp_path):
    cert_file, key_file = make_certificate(tmp_path)
    port = free_port()  # nothing listens there yet
    with nats_server() as server:
        async with running_mailer(server.url, _mailer_settings(tmp_path, cert_file, port),
                                  backoff_base=0.3, backoff_cap=1.0) as mailer:
            await _publish_mail_event(server.url, "patiente@example.ca")
            assert await _until(lambda: mailer.queue.failed >= 2), "the mailer did not retry"
            assert mailer.queue.sent == 0 and mailer.queue.dead_lettered == 0
            with smtp_relay(cert_file, key_file, port) as relay:
                assert await _until(lambda: relay.received)
                assert await _until(lambda: mailer.queue.sent == 1)
    assert [r.recipients for r in relay.received] == [["patiente@example.ca"]]


async def test_a_relay_that_stays_down_ends_in_the_dead_letter_path(tmp_path):
    cert_file, _ = make_certificate(tmp_path)
    with nats_server() as server:
        async with running_mailer(server.url, _mailer_settings(tmp_path, cert_file, free_port()),
                                  backoff_base=0.1, backoff_cap=0.2, max_deliveries=3) as mailer:
            await _publish_mail_event(server.url, "jamais@example.ca")
            assert await _until(lambda: mailer.queue.dead_lettered == 1)
            assert mailer.queue.failed == 3


async def test_an_expired_code_is_not_sent(tmp_path):
    cert_file, key_file = make_certificate(tmp_path)
    port = free_port()
    with nats_server() as server, smtp_relay(cert_file, key_file, port) as relay:
        async with running_mailer(server.url, _mailer_settings(tmp_path, cert_file, port)) as mailer:
            await _publish_mail_event(server.url, "tard@example.ca", minutes=-1)
            assert await _until(lambda: mailer.queue.expired == 1)
    assert relay.received == []
