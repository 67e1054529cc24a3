"""The mailer end to end: identity writes a mail event (outbox → NATS JetStream), the mailer's
durable consumer renders it and sends it over SMTP (STARTTLS, AUTH) to a real relay
(aiosmtpd) started here; every mail event of the registry arrives; a relay that refuses the
recipient sends the mail to the mailer's dead-letter stream, which ``mtlid events`` lists and
replays once the relay is fixed; a relay that is down gets the mail later, once it is back."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from email import policy
from email.parser import BytesParser

import nats

from services.common.config import Settings
from services.common.nats import ensure_stream, free_port
from services.common.testing.nats import nats_server
from services.common.testing.services import running_service
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.service_layer import account_closure as closure
from services.identity.service_layer import authentication as auth
from services.identity.service_layer import email_change as change
from services.mailer.app import Mailer
from services.mailer.config import MailerSettings
from services.mailer.mails import MAILS
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


def _mail(received) -> tuple[object, str]:
    message = BytesParser(policy=policy.default).parsebytes(received.data)
    return message, message.get_body(preferencelist=("plain",)).get_content()


def _code(text: str) -> str:
    import re
    return re.search(r"^\s+(\d{6,})\s*$", text, re.MULTILINE).group(1)


async def test_every_mail_of_an_account_life_reaches_the_resident_in_their_language(tmp_path):
    """Issue 20's and 21's mails, produced by identity's own service layer, not hand-made:
    the notice to an address that already has an account, the code to a new address, the
    notice to the old one once changed, the closure's receipt. The resident chose English:
    each mail is French first, then English."""
    cert_file, key_file = make_certificate(tmp_path)
    port = free_port()
    password = "une phrase de passe"
    old, new = f"ancienne-{uuid.uuid4().hex[:8]}@example.ca", f"nouvelle-{uuid.uuid4().hex[:8]}@example.ca"
    with nats_server() as server, smtp_relay(cert_file, key_file, port) as relay:
        async with running_service("identity", nats_url=server.url,
                                   env={"MTLID_HTTP_PORT": str(free_port())}) as runtime, \
                running_mailer(server.url, _mailer_settings(tmp_path, cert_file, port)) as mailer:
            uow = runtime.identity.uow_factory
            resident = await auth.register_resident(auth.RegisterResident(old, password, "en", "192.0.2.5"), uow())
            assert await _until(lambda: len(relay.received) == 1)
            # Someone signs up again with the same address: its owner is told.
            await auth.register_resident(auth.RegisterResident(old, "une autre phrase", "fr", "192.0.2.6"), uow())
            assert await _until(lambda: len(relay.received) == 2), "no account-exists notice"
            await change.request_email_change(change.RequestEmailChange(resident, new, password), uow())
            assert await _until(lambda: len(relay.received) == 3), "no code to the new address"
            code = _code(_mail(relay.received[2])[1])
            await change.confirm_email_change(change.ConfirmEmailChange(resident, code), uow())
            assert await _until(lambda: len(relay.received) == 4), "no notice to the old address"
            receipt = await closure.close_account(closure.CloseAccount(resident, password),
                                                  OAuthUnitOfWork(runtime.identity.session_factory))
            assert await _until(lambda: len(relay.received) == 5), "no closure receipt"
            await asyncio.sleep(0.5)
    assert len(relay.received) == 5 and mailer.queue.dead_lettered == 0
    mails = [_mail(received) for received in relay.received]
    kinds = [message["X-Mtlid-Mail"] for message, _ in mails]
    assert kinds == ["confirm_email", "account_exists", "confirm_new_email", "email_changed_notice",
                     "account_closed_notice"]
    assert [r.recipients for r in relay.received] == [[old], [old], [new], [old], [new]]
    for (message, text), received in zip(mails, relay.received):
        assert received.over_tls and received.login == USER
        assert message["Content-Language"] == "fr, en"
        assert text.index("Bonjour") < text.index("Hello"), message["X-Mtlid-Mail"]
        html = message.get_body(preferencelist=("html",)).get_content()
        assert "href" not in html and "<img" not in html and "http" not in html.lower()
    (exists, exists_text), (_, change_text), (notice, notice_text), (closed, closed_text) = mails[1:]
    assert exists["Subject"].startswith("Vous avez déjà un compte")
    assert "Mot de passe oublié" in exists_text and not any(ch.isdigit() for ch in exists_text.split("Hello")[0])
    assert "changer d'adresse" in mails[2][0]["Subject"] and "aucune adresse ne change" in change_text
    # The old address learns of the change and whom to call, not what the new address is.
    assert notice["Subject"].startswith("Votre adresse de connexion a changé")
    assert "311" in notice_text and new not in notice_text
    assert closed["Subject"].startswith("Votre compte est fermé") and receipt.closure_id in closed_text
    assert {message["X-Mtlid-Mail"] for message, _ in mails} | {"reset_password"} | SECURITY_NOTICES \
        | MANDATE_NOTICES == {k.purpose for k in MAILS}


SECURITY_NOTICES = {"second_factor_changed_notice", "passkey_added_notice", "passkey_removed_notice"}
# Issue 22: tests/integration/mailer/test_mandates_at_fourteen_mail.py
MANDATE_NOTICES = {"mandates_at_fourteen_notice"}


async def test_every_change_of_a_second_factor_is_mailed_to_the_resident_without_a_secret(tmp_path):
    """Issue 20: turning the application's codes on, replacing, removing them, new recovery
    codes, one used, a passkey added or removed, the counter's reset: each is a notice to the
    account's confirmed address, from identity's own service layer through the outbox, in
    French then English (the resident chose English), saying what changed and when, with no
    link and none of the secrets (TOTP key, recovery codes, the passkey's name)."""
    import types

    from services.identity.domain import totp
    from services.identity.domain.passkeys import RESIDENT
    from services.identity.service_layer import passkeys
    from services.identity.service_layer import second_factor as factor
    from tests.integration.soft_authenticator import SoftAuthenticator

    cert_file, key_file = make_certificate(tmp_path)
    port = free_port()
    password = "une phrase de passe"
    email = f"facteurs-{uuid.uuid4().hex[:8]}@example.ca"
    secrets_seen: list[str] = []
    with nats_server() as server, smtp_relay(cert_file, key_file, port) as relay:
        async with running_service("identity", nats_url=server.url,
                                   env={"MTLID_HTTP_PORT": str(free_port())}) as runtime, \
                running_mailer(server.url, _mailer_settings(tmp_path, cert_file, port)) as mailer:
            uow = runtime.identity.uow_factory

            async def mailed(count: int, what: str) -> None:
                assert await _until(lambda: len(relay.received) == count), f"no mail: {what}"

            async def enrol() -> None:
                enrolment = await auth.begin_totp_enrollment(auth.BeginTotpEnrollment(resident), uow())
                secrets_seen.append(enrolment.secret_base32)
                secret = base64.b32decode(enrolment.secret_base32 + "=" * (-len(enrolment.secret_base32) % 8))
                assert await auth.confirm_totp_enrollment(auth.ConfirmTotpEnrollment(
                    resident, totp.totp(secret, time.time()), password), uow())

            resident = await auth.register_resident(auth.RegisterResident(email, password, "en", "192.0.2.5"), uow())
            await mailed(1, "confirmation code")
            await auth.verify_email(auth.VerifyEmail(resident, _code(_mail(relay.received[0])[1])), uow())
            await enrol()
            await mailed(2, "totp_added")
            await enrol()
            await mailed(3, "totp_replaced")
            codes = await factor.generate_recovery_codes(factor.GenerateRecoveryCodes(resident, password), uow())
            secrets_seen.extend(codes)
            await mailed(4, "recovery_codes_renewed")
            assert await factor.use_recovery_code(factor.UseRecoveryCode(resident, codes[0], "192.0.2.5"), uow())
            await mailed(5, "recovery_code_used")
            rp = passkeys.RelyingParty.of_issuer("https://compte.example.ca")
            options = await passkeys.registration_options(uow(), rp, RESIDENT, resident, email, email)
            key = await passkeys.register_passkey(passkeys.RegisterPasskey(
                RESIDENT, resident, SoftAuthenticator(rp.origin).create(options), "Zorglub-portable"), uow(), rp)
            await mailed(6, "passkey_added")
            await passkeys.remove_passkey(passkeys.RemovePasskey(RESIDENT, resident, key.credential_id), uow())
            await mailed(7, "passkey_removed")
            await factor.remove_totp(factor.RemoveTotp(resident, password), uow())
            await mailed(8, "totp_removed")
            await enrol()
            await mailed(9, "totp_added again")
            agent = types.SimpleNamespace(agent_id="agent-facteurs", client_id="comptoir", office="Accès Montréal")
            await factor.reset_at_counter(factor.ResetAtCounter(agent, resident, "passport", "4321"),
                                          OAuthUnitOfWork(runtime.identity.session_factory))
            await mailed(10, "counter_reset")
            await asyncio.sleep(0.5)
    assert len(relay.received) == 10 and mailer.queue.dead_lettered == 0
    assert all(r.recipients == [email] and r.over_tls for r in relay.received)
    mails = [_mail(received) for received in relay.received][1:]
    assert [message["X-Mtlid-Mail"] for message, _ in mails] == [
        "second_factor_changed_notice", "second_factor_changed_notice", "second_factor_changed_notice",
        "second_factor_changed_notice", "passkey_added_notice", "passkey_removed_notice",
        "second_factor_changed_notice", "second_factor_changed_notice", "second_factor_changed_notice"]
    said = [text for _, text in mails]
    for phrase, text in zip(["application a été activée", "a été remplacée", "nouveaux codes de récupération",
                             "un code de récupération a servi", "Une clé d'accès a été ajoutée",
                             "Une clé d'accès a été retirée", "a été désactivée", "application a été activée",
                             "un agent de la Ville a désactivé"], said):
        assert phrase in text, (phrase, text)
    assert "new recovery codes were created" in said[2] and "A passkey was added" in said[4]
    for (message, text) in mails:
        assert message["Content-Language"] == "fr, en" and text.index("Bonjour") < text.index("Hello")
        assert "311" in text and "Mot de passe oublié" in text
        html = message.get_body(preferencelist=("html",)).get_content()
        assert "href" not in html and "http" not in html.lower()
        for secret in [*secrets_seen, "Zorglub", key.credential_id]:
            assert secret not in text and secret not in html, secret


def _events_cli(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "services.cli", "events", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "MTLID_NATS_URL": ""})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_a_refused_mail_is_a_dead_letter_the_operator_replays_once_the_relay_is_fixed(tmp_path):
    cert_file, key_file = make_certificate(tmp_path)
    port = free_port()
    with nats_server() as server:
        async with running_mailer(server.url, _mailer_settings(tmp_path, cert_file, port)) as mailer:
            with smtp_relay(cert_file, key_file, port, refuse=True) as refusing:
                event_id = await _publish_mail_event(server.url, "refuse@example.ca")
                assert await _until(lambda: mailer.queue.dead_lettered == 1)
            assert refusing.received == []
            listed = await asyncio.to_thread(_events_cli, "dead-letters", "--service", "mailer",
                                             "--nats-url", server.url)
            [letter] = listed["dead_letters"]
            assert letter["consumer"] == "mailer" and letter["event_id"] == event_id
            assert letter["reason"] == "RECIPIENT_REFUSED"
            assert letter["subject"] == "montreal.identity.v1.password_reset_requested"
            assert "refuse@example.ca" not in json.dumps(listed)  # the listing never shows the address
            with smtp_relay(cert_file, key_file, port) as relay:  # the relay is fixed
                replayed = await asyncio.to_thread(_events_cli, "replay", letter["id"], "--nats-url", server.url)
                assert replayed["replays"][0]["replayed"] is True
                assert await _until(lambda: relay.received, timeout=30), "the replayed mail was not sent"
                await asyncio.sleep(3.0)  # long enough for a second copy to show up if there were one
            assert mailer.queue.sent == 1
            after = await asyncio.to_thread(_events_cli, "dead-letters", "--service", "mailer",
                                            "--nats-url", server.url)
    assert [r.recipients for r in relay.received] == [["refuse@example.ca"]]
    assert after["dead_letters"] == []
