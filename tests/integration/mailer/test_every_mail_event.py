"""Issue 19: the mailer delivers EVERY mail event the services publish, found in the code, not
listed by hand. A mail event is a domain event (services/*/domain, a subclass of
``services.common.events.Event``) that carries an address (an ``email`` field): it exists only
to be mailed, so one the mailer does not render is a resident who never hears of a code or a
security notice.

Each one found is built with plausible values, committed through identity's own unit of work
(outbox → relay → NATS JetStream, as the service layer does it), once in French and once with
English chosen, consumed by the mailer's durable consumers and sent over STARTTLS with AUTH to
a real SMTP relay (aiosmtpd) started here. Each mail must arrive at its address, French first
(then English when chosen), with a plain text and an HTML part, no link, no image, no address
other than the recipient's, and the code where the event carries one. A mail event added
tomorrow without a mail in services/mailer/mails.py fails here (dead letter, nothing sent);
so does one ``mtlid mailbox --nats-url`` (development) does not show.
Runs on SQLite and on PostgreSQL (``MTLID_TEST_DATABASE``: identity's database)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import json
import pathlib
import re
import typing
import uuid

from services.common.events import Event
from services.common.nats import free_port
from services.common.testing.nats import nats_server
from services.common.testing.services import running_service
from tests.integration.mailer.smtp import USER, make_certificate, smtp_relay
from tests.integration.mailer.test_mailer import _mail, _mailer_settings, _until, running_mailer

ROOT = pathlib.Path(__file__).resolve().parents[3]
CODE = "482913"
LANGUAGE_FIELDS = ("language", "preferred_language")


def mail_events() -> list[type[Event]]:
    """Every domain event class of every service that carries an address."""
    for path in sorted(ROOT.glob("services/*/domain/*.py")):
        importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))

    def walk(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    return sorted({cls for cls in walk(Event) if dataclasses.is_dataclass(cls)
                   and "email" in {f.name for f in dataclasses.fields(cls)}}, key=lambda c: c.NAME)


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _sample(cls: type[Event], name: str, hint, email: str, language: str):
    """A value for one field, by its name, as the service layer fills it. A field nothing
    here knows is a test failure: whoever adds it says here what it holds."""
    from services.identity.domain.events import SECOND_FACTOR_CHANGES

    now = dt.datetime.now(dt.timezone.utc)
    if name == "email":
        return email
    if name in LANGUAGE_FIELDS:
        return language
    if name == "resident_id":
        return "789ABCDEFGHJ"
    if name == "code":
        return CODE
    if name == "expires_at":
        return _rfc3339(now + dt.timedelta(minutes=15))
    if name.endswith("_at"):
        return _rfc3339(now)
    if name.endswith("_id"):
        return str(uuid.uuid4())
    if name == "change":
        return sorted(SECOND_FACTOR_CHANGES)[0]
    if name == "mandates":
        return ("parental_authority:view+pay", "tutorship_minor:")
    raise AssertionError(f"{cls.NAME}.{name} ({hint}): say in this test what a real value of it is")


def _event(cls: type[Event], email: str, language: str) -> Event:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _sample(cls, f.name, hints.get(f.name), email, language) for f in dataclasses.fields(cls)})


def test_the_services_publish_mail_events_and_identity_publishes_them_all():
    """The enumeration finds what the code has (not nothing), and every mail event is
    identity's: the mailer consumes identity's stream only (its NATS user in deploy/)."""
    found = mail_events()
    assert len(found) >= 10, [c.NAME for c in found]
    assert all(c.__module__.startswith("services.identity.") for c in found), \
        [(c.__module__, c.NAME) for c in found if not c.__module__.startswith("services.identity.")]


async def test_every_mail_event_in_the_code_is_sent_in_french_and_in_english_through_a_real_relay(tmp_path, capsys):
    from services.identity.entrypoints.cli import _mailbox

    events = mail_events()
    cert_file, key_file = make_certificate(tmp_path)
    port = free_port()
    sent: list[tuple[str, str, str]] = []   # (event, language, address)
    with nats_server() as server, smtp_relay(cert_file, key_file, port) as relay:
        async with running_service("identity", nats_url=server.url,
                                   env={"MTLID_HTTP_PORT": str(free_port())}) as runtime, \
                running_mailer(server.url, _mailer_settings(tmp_path, cert_file, port)) as mailer:
            for cls in events:
                for language in ("fr", "en"):
                    email = f"{cls.NAME.replace('_', '-')}-{language}-{uuid.uuid4().hex[:6]}@example.ca"
                    uow = runtime.identity.uow_factory()
                    async with uow:
                        uow.add_event(_event(cls, email, language))
                        await uow.commit()
                    sent.append((cls.NAME, language, email))
            arrived = await _until(lambda: len(relay.received) >= len(sent), timeout=60)
            received_to = {r.recipients[0] for r in relay.received}
            missing = [(name, language) for name, language, email in sent if email not in received_to]
            assert arrived and not missing, f"not delivered: {missing}; dead letters: {mailer.queue.dead_lettered}"
            dead_lettered = mailer.queue.dead_lettered
            # ``mtlid mailbox --nats-url`` (development) shows each of them too, said for what it is.
            capsys.readouterr()
            await _mailbox(server.url, follow=False, idle=0.5)
            shown = {line["to"]: line["purpose"] for line in map(json.loads, capsys.readouterr().out.splitlines())}
            assert {email for _, _, email in sent} <= set(shown), sorted({n for n, _, e in sent if e not in shown})
            assert all(shown[email] for _, _, email in sent)
    assert dead_lettered == 0
    assert len(relay.received) == len(sent) == 2 * len(events)   # each once
    by_address = {r.recipients[0]: r for r in relay.received}
    for name, language, email in sent:
        received = by_address[email]
        assert received.over_tls and received.login == USER, name
        message, text = _mail(received)
        html = message.get_body(preferencelist=("html",)).get_content()
        where = f"{name} ({language})"
        assert message["To"] == email and message["X-Mtlid-Mail"], where
        assert message["Content-Language"] == ("fr" if language == "fr" else "fr, en"), where
        assert "Bonjour" in text and "Ville de Montréal" in text, where
        if language == "en":
            assert text.index("Bonjour") < text.index("Hello"), where
            assert " / " in message["Subject"], where   # the French subject, then the English one
        else:
            assert "Hello" not in text, where
        assert ("code" in {f.name for f in dataclasses.fields(next(c for c in events if c.NAME == name))}) \
            == (CODE in text), where
        assert not re.search(r"<img|<link|<script|src=|href=|url\(|https?:", html, re.IGNORECASE), where
        assert not re.search(r"https?:", text), where
        # No address in the body: not the recipient's, not anyone's.
        assert "@" not in text and "@" not in html, where
