"""A resident's account life in Mon compte (issue 21), on the real HTTP front (uvicorn) and a
real database: change the sign-in address (password first, a code to the new address, a
notice to the old one), close the account, "this was not me". The mail events are read from
identity's outbox, where the mail sender (and ``mtlid mailbox``) takes them."""

from __future__ import annotations

import datetime as dt
import json

import httpx
from sqlalchemy import select

from services.common.uow import OUTBOX
from tests.integration.account_pages.conftest import PASSWORD, hidden_fields, sign_in
from tests.integration.account_pages.test_front import add_resident


async def _events(front, name: str, resident_id: str) -> list[dict]:
    async with front.provider.uow_factory() as uow:
        envelopes = [json.loads(e) for e in (await uow.session.execute(
            select(OUTBOX.c.envelope).order_by(OUTBOX.c.seq))).scalars()]
    return [e["data"] for e in envelopes
            if e["type"] == f"montreal.identity.v1.{name}" and e["data"].get("resident_id") == resident_id]


def _client(front) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10)


def _text(response: httpx.Response) -> str:
    return response.text.replace("&#39;", "'")


# -- change the sign-in address ---------------------------------------------------------------

async def test_a_new_sign_in_address_needs_the_password_then_the_code_it_received(front):
    old, new = "adresse.ancienne@example.ca", "Adresse.Nouvelle@example.ca"
    resident_id = await add_resident(front, old)
    async with _client(front) as me:
        await sign_in(me, email=old)
        security = await me.get("/account/security")
        assert 'href="/account/email"' in security.text and old in security.text
        head, body = security.text.split("</title>", 1)
        assert "<section" not in head and body.count('href="/account/email"') == 1
        form = await me.get("/account/email")
        assert form.status_code == 200 and "Changer mon adresse courriel" in form.text

        # The password first: a session alone is not enough (it may be someone else's).
        wrong = await me.post("/account/email", data={**hidden_fields(form.text), "new_email": new,
                                                      "current_password": "pas le bon mot de passe"})
        assert wrong.status_code == 400 and 'id="current_password-error"' in wrong.text
        assert await _events(front, "email_change_requested", resident_id) == []

        asked = await me.post("/account/email", data={**hidden_fields(form.text), "new_email": new,
                                                      "current_password": PASSWORD})
        assert asked.status_code == 303 and asked.headers["location"] == "/account/email/confirm"
        [mail] = await _events(front, "email_change_requested", resident_id)
        assert mail["email"] == new.lower() and len(mail["code"]) == 6 and mail["expires_at"].endswith("Z")
        assert set(mail) == {"resident_id", "email", "code", "expires_at", "language"}  # what sending needs, no more

        confirm = await me.get("/account/email/confirm")
        assert confirm.status_code == 200 and new.lower() in confirm.text
        # Until the code comes back, nothing changed: the old address still signs in.
        async with _client(front) as other:
            assert (await sign_in(other, email=old)).headers["location"] == "/account"
        bad = await me.post("/account/email/confirm", data={
            **hidden_fields(confirm.text), "code": "000000" if mail["code"] != "000000" else "111111"})
        assert bad.status_code == 400 and 'id="code-error"' in bad.text and "Ce code n'est pas le bon" in _text(bad)
        done = await me.post("/account/email/confirm", data={**hidden_fields(confirm.text), "code": mail["code"]})
        assert done.status_code == 303 and done.headers["location"] == "/account/security?done=email_changed"
        after = await me.get(done.headers["location"])
        assert "nouvelle adresse courriel est confirmée" in _text(after) and new.lower() in after.text

    [notice] = await _events(front, "email_changed_notice", resident_id)
    assert notice["email"] == old and set(notice) == {"resident_id", "email", "changed_at", "language"}
    assert new.lower() not in json.dumps(notice)  # the notice tells a stranger nothing more
    assert await _events(front, "email_verified", resident_id) != []  # accounts takes the new address
    async with _client(front) as again:
        refused = await sign_in(again, email=old)
        assert refused.status_code == 400
        assert (await sign_in(again, email=new)).headers["location"] == "/account"


async def test_the_new_address_form_says_what_is_wrong_next_to_each_field(front):
    email = "adresse.erreurs@example.ca"
    await add_resident(front, email)
    taken = "adresse.prise@example.ca"
    await add_resident(front, taken)
    async with _client(front) as me:
        await sign_in(me, email=email)
        form = await me.get("/account/email?lang=en")
        fields = hidden_fields(form.text)
        empty = await me.post("/account/email", data={**fields, "new_email": "", "current_password": ""})
        assert empty.status_code == 400
        assert 'id="new_email-error"' in empty.text and 'id="current_password-error"' in empty.text
        assert empty.text.index('href="#new_email"') < empty.text.index('href="#current_password"')
        same = await me.post("/account/email", data={**fields, "new_email": email.upper(), "current_password": PASSWORD})
        assert same.status_code == 400 and "already your sign-in address" in same.text
        invalid = await me.post("/account/email", data={**fields, "new_email": "pas-une-adresse",
                                                        "current_password": PASSWORD})
        assert invalid.status_code == 400 and 'id="new_email-error"' in invalid.text
        used = await me.post("/account/email", data={**fields, "new_email": taken, "current_password": PASSWORD})
        assert used.status_code == 400 and "Another account already uses this address" in used.text
        # No code was asked for: the confirmation page sends the resident back to the form.
        nothing = await me.get("/account/email/confirm")
        assert nothing.status_code == 303 and nothing.headers["location"] == "/account/email"


async def test_asking_about_addresses_is_spaced_out_like_codes(front):
    """A session cannot test a list of addresses for accounts: each request spends the mail
    budget (three at once, then minutes apart) before the address is looked up."""
    email = "adresse.budget@example.ca"
    await add_resident(front, email)
    async with _client(front) as me:
        await sign_in(me, email=email)
        fields = hidden_fields((await me.get("/account/email")).text)
        answers = []
        for n in range(5):
            answers.append(await me.post("/account/email", data={
                **fields, "new_email": f"essai{n}@example.ca", "current_password": PASSWORD}))
        assert [a.status_code for a in answers[:3]] == [303, 303, 303]
        assert all(a.status_code == 400 and "Un code vient d'être envoyé" in _text(a) for a in answers[3:])


# -- data the resident reads --------------------------------------------------------------------

def _pairs(html: str) -> list[tuple[str, str]]:
    import html as markup
    import re

    flat = markup.unescape(" ".join(html.split()))
    return [(re.sub("<[^>]+>", "", dt_).strip(), re.sub("<[^>]+>", "", dd).strip())
            for dt_, dd in re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", flat)]


def test_no_label_is_repeated_in_its_value_and_dates_read_as_in_quebec():
    """Each "label: value" of the home and consents pages, in both languages: the value does
    not start with its own label's first word ("Jusqu'au : Jusqu'à ce que vous le retiriez",
    "Niveau de vérification : Niveau 1"), and dates read "1er décembre 2026 à 9 h 05"."""
    from services.identity.http.account.web import local_time
    from services.identity.http.convert import TEMPLATES
    from services.identity.http.i18n import Translator

    given = dt.datetime(2026, 12, 1, 14, 5, tzinfo=dt.timezone.utc)
    for lang in ("fr", "en"):
        t = Translator(lang)
        consent = {"id": "c1", "purpose": "Communiquer avec vous", "description": "", "recipient": "Bibliothèques",
                   "categories": ["Adresse courriel"], "since": local_time(given, t), "until": None, "ended": None,
                   "state": "given"}
        common = dict(t=t, has=t.has, lang=lang, csrf_token="x", switch_lang_url="/", notice=None)
        pages = [
            TEMPLATES.get_template("account/consents.html").render(
                **common, nav="consents", active=[consent], offers=[], past=[]),
            TEMPLATES.get_template("account/home.html").render(
                **common, nav="home", citizen_number="MTL 0000-0000-0000", email="a@example.ca", level=1,
                has_totp=False, linked=[], services_unavailable=False),
        ]
        pairs = [pair for html in pages for pair in _pairs(html)]
        assert len(pairs) >= 8
        for label, value in pairs:
            assert label and not value.lower().startswith(label.split()[0].lower()[:5]), (label, value)
        if lang == "fr":
            assert ("Donné le", "1er décembre 2026 à 9 h 05") in pairs
            assert ("Prend fin", "Quand vous le retirerez") in pairs
        else:
            assert ("Given on", "December 1, 2026 at 9:05 a.m.") in pairs
