"""The mail a resident receives (services.mailer.messages): French first, English after it
when the resident chose English; plain text and HTML; nothing remote, nothing tracked."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from services.common.events import CloudEvent
from services.mailer.messages import MailRequest, UndeliverableMail, render

NOW = dt.datetime(2026, 12, 5, 18, 0, tzinfo=dt.timezone.utc)
SENDER = "Ville de Montréal <ne-pas-repondre@montreal.ca>"


def _event(name="email_verification_requested", **data) -> CloudEvent:
    payload = {"resident_id": "789ABCDEFGHJ", "email": "resident@example.ca", "code": "482913",
               "expires_at": "2026-12-05T18:15:00Z", "language": "fr", **data}
    return CloudEvent(id="6f1c2b9e-0000-4000-8000-000000000001", type=f"montreal.identity.v1.{name}",
                      source="/montreal/identity", time="2026-12-05T18:00:00Z", data=payload)


def _parts(message):
    return (message.get_body(preferencelist=("plain",)).get_content(),
            message.get_body(preferencelist=("html",)).get_content())


def test_a_french_speaking_resident_gets_the_code_in_french_only():
    message = render(MailRequest.from_event(_event()), sender=SENDER, now=NOW)
    text, html = _parts(message)
    assert message["To"] == "resident@example.ca" and message["From"] == SENDER
    assert message["Subject"] == "Votre code de confirmation – Mon compte Montréal"
    assert message["Content-Language"] == "fr"
    assert "482913" in text and "482913" in html
    assert "13 h 15" in text  # 18:15 UTC is 13:15 in Montréal (EST)
    assert "Hello" not in text and '<html lang="fr">' in html


def test_a_resident_who_chose_english_gets_french_first_then_english():
    message = render(MailRequest.from_event(_event("password_reset_requested", language="en")), sender=SENDER, now=NOW)
    text, html = _parts(message)
    assert message["Subject"] == ("Votre code pour choisir un mot de passe – Mon compte Montréal / "
                                  "Your code to choose a password – Mon compte Montréal")
    assert message["Content-Language"] == "fr, en"
    assert text.index("Bonjour") < text.index("Hello") and "1:15 PM" in text
    assert html.index('lang="fr"') < html.index('lang="en"')


def test_no_remote_content_no_link_no_tracking():
    _, html = _parts(render(MailRequest.from_event(_event(language="en")), sender=SENDER, now=NOW))
    assert not re.search(r"<img|<link|<script|src=|href=|url\(", html, re.IGNORECASE)
    assert "http" not in html.lower()


def test_the_message_id_is_the_event_id_so_a_redelivery_is_recognised_as_the_same_mail():
    first = render(MailRequest.from_event(_event()), sender=SENDER, now=NOW)
    again = render(MailRequest.from_event(_event()), sender=SENDER, now=NOW + dt.timedelta(seconds=30))
    assert first["Message-ID"] == again["Message-ID"] == "<6f1c2b9e-0000-4000-8000-000000000001@montreal.ca>"
    assert first["Auto-Submitted"] == "auto-generated"


def test_code_values_from_the_event_are_escaped_in_html():
    request = MailRequest.from_event(_event())
    assert "<" not in request.code  # only digits are accepted at all


@pytest.mark.parametrize("change", [{"email": "not-an-address"}, {"email": "a@b.ca\r\nBcc: x@y.ca"},
                                    {"code": None}, {"code": "<b>1</b>"}, {"expires_at": "tomorrow"},
                                    {"expires_at": "2026-12-05T18:15:00"}])
def test_an_event_that_cannot_become_a_mail_is_undeliverable(change):
    with pytest.raises(UndeliverableMail):
        MailRequest.from_event(_event(**change))


def test_an_expired_code_is_known_as_such():
    request = MailRequest.from_event(_event())
    assert not request.expired(NOW) and request.expired(NOW + dt.timedelta(minutes=15))


def test_every_identity_event_that_carries_an_address_is_a_mail_of_the_registry():
    """An event carrying an address exists only to be mailed: one left out of the registry
    would be published and never sent (how issues 20's and 21's mails were missed)."""
    import dataclasses
    import inspect

    from services.common.events import Event
    from services.identity.domain import events
    from services.mailer.mails import MAILS

    carrying = {cls.NAME for _, cls in inspect.getmembers(events, inspect.isclass)
                if issubclass(cls, Event) and cls is not Event and dataclasses.is_dataclass(cls)
                and "email" in {f.name for f in dataclasses.fields(cls)}}
    assert len(carrying) >= 6
    assert carrying == {kind.event for kind in MAILS}


SAMPLES = {
    "account_exists_notice_requested": {},
    "email_change_requested": {},
    "email_changed_notice": {"changed_at": "2026-12-05T18:00:00Z"},
    "account_closed_notice": {"closure_id": "0b6f7c1e-8d43-4f4e-9d0f-3c2a1b0e9f11",
                              "closed_at": "2026-12-05T18:00:00Z"},
    # issue 20: security notices for factor changes
    "second_factor_changed_notice": {"change": "totp_replaced", "changed_at": "2026-12-05T18:00:00Z"},
    "passkey_added_notice": {"added_at": "2026-12-05T18:00:00Z"},
    "passkey_removed_notice": {"removed_at": "2026-12-05T18:00:00Z"},
    # issue 22: a minor turned 14
    "mandates_at_fourteen_notice": {"turned_14_at": "2026-12-05T18:00:00Z",
                                    "mandates": ["parental_authority:view+request+pay", "tutorship_minor:"]},
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_new_mail_renders_french_first_then_english_without_links(name):
    from services.mailer.messages import BY_EVENT

    kind = BY_EVENT[name]
    french = render(MailRequest.from_event(_event(name, **SAMPLES[name])), sender=SENDER, now=NOW)
    english = render(MailRequest.from_event(_event(name, **SAMPLES[name], **{kind.language_field: "en"})),
                     sender=SENDER, now=NOW)
    text_fr, html_fr = _parts(french)
    text_en, html_en = _parts(english)
    assert french["X-Mtlid-Mail"] == kind.purpose and french["Content-Language"] == "fr"
    assert "Hello" not in text_fr and text_en.index("Bonjour") < text_en.index("Hello")
    assert french["Subject"] == kind.wording["fr"]["subject"]
    assert english["Subject"] == f"{kind.wording['fr']['subject']} / {kind.wording['en']['subject']}"
    assert ("482913" in text_fr) == kind.code  # a notice carries no code
    if kind.moment and "{time}" in kind.wording["fr"]["lead"]:
        assert "13 h 00" in text_fr and "1:00 PM" in text_en  # 18:00 UTC in Montréal time
    elif kind.moment:  # a notice of a day (a birthday) names the date only
        assert "2026-12-05" in text_fr and "2026-12-05" in text_en
    for html in (html_fr, html_en):
        assert not re.search(r"<img|<link|<script|src=|href=|url\(|http", html, re.IGNORECASE)


def test_a_closure_receipt_without_its_number_is_undeliverable():
    with pytest.raises(UndeliverableMail):
        MailRequest.from_event(_event("account_closed_notice", closed_at="2026-12-05T18:00:00Z"))


@pytest.mark.parametrize("change", ["totp_added", "totp_replaced", "totp_removed", "recovery_codes_renewed",
                                    "recovery_code_used", "counter_reset"])
def test_a_second_factor_notice_says_what_changed_in_both_languages(change):
    from services.identity.domain.events import SECOND_FACTOR_CHANGES
    from services.mailer.mails import MAILS

    assert change in SECOND_FACTOR_CHANGES
    [kind] = [k for k in MAILS if k.event == "second_factor_changed_notice"]
    message = render(MailRequest.from_event(_event("second_factor_changed_notice", change=change,
                                                   changed_at="2026-12-05T18:00:00Z", language="en")),
                     sender=SENDER, now=NOW)
    text, _html = _parts(message)
    assert kind.wording["fr"]["details"][change] in text and kind.wording["en"]["details"][change] in text
    assert "2026-12-05" in text and "13 h 00" in text


@pytest.mark.parametrize("change", [None, "", "totp_stolen", 7])
def test_a_second_factor_notice_without_a_known_change_is_undeliverable(change):
    with pytest.raises(UndeliverableMail):
        MailRequest.from_event(_event("second_factor_changed_notice", change=change,
                                      changed_at="2026-12-05T18:00:00Z"))


def test_the_notice_at_fourteen_lists_each_mandate_in_both_languages():
    """Issue 22: the minor's notice lists the mandates that concern them (basis, what each may
    still do for them), names the page "Mes procurations", and an unknown basis is refused."""
    message = render(MailRequest.from_event(_event(
        "mandates_at_fourteen_notice", turned_14_at="2027-03-02T05:00:00Z", language="en",
        mandates=["parental_authority:view+request+pay", "tutorship_minor:"])), sender=SENDER, now=NOW)
    text, html = _parts(message)
    assert "Autorité parentale — peut encore, pour vous : consulter, faire des demandes, payer" in text
    assert "Tutelle — peut encore, pour vous : plus rien" in text
    assert "Parental authority — may still, for you: view, make requests, pay" in text
    assert "« Mes procurations »" in text and "2027-03-02" in text
    assert html.count("<li>") == 4  # two mandates, in French then in English
    with pytest.raises(UndeliverableMail):
        MailRequest.from_event(_event("mandates_at_fourteen_notice", turned_14_at="2027-03-02T05:00:00Z",
                                      mandates=["protection_mandate:view"]))
