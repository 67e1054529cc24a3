"""Issue 15, point 1 (sign-in history): every sign-in to Mon compte, refused or not, is on
the resident's "Historique de connexion" page — when, where, how, the level reached — in
French and English, with how long it is kept; another resident's never."""

from __future__ import annotations

import datetime as dt

from services.identity.domain.sign_ins import RETENTION_DAYS
from services.identity.service_layer import sign_ins
from tests.integration.account_pages.conftest import EMAIL, hidden_fields, sign_in


async def test_refused_and_succeeded_sign_ins_are_listed_with_their_retention(front, http):
    page = await http.get("/account/login")
    refused = await http.post("/account/login", data={**hidden_fields(page.text), "email": EMAIL,
                                                      "password": "not the password at all"})
    assert refused.status_code == 400
    assert (await sign_in(http)).status_code in (302, 303)
    listing = await http.get("/account/sign-ins")
    assert listing.status_code == 200 and listing.headers["cache-control"] == "no-store"
    text = listing.text.replace("&#39;", "'")
    assert f"Nous gardons cet historique {RETENTION_DAYS} jours" in text
    cards = text.split('<li class="card">')[1:]
    assert len(cards) >= 2
    newest, refusal = cards[0], cards[1]
    assert "Mon compte" in newest and "Connexion réussie" in newest and "mot de passe" in newest
    assert "Niveau 1" in newest
    assert "Connexion refusée" in refusal and "mot de passe incorrect" in refusal
    english = await http.get("/account/sign-ins?lang=en")
    assert "Sign-in history" in english.text and "wrong password" in english.text
    # the handler other pages (export, "this was not me") build on: newest first, this resident's only
    listed = await sign_ins.history(front.resident_id, front.provider.uow_factory())
    assert [e.outcome for e in listed[:2]] == ["succeeded", "refused"]
    assert {e.resident_id for e in listed} == {front.resident_id}


async def test_sign_ins_past_retention_are_forgotten(front):
    from services.identity.domain.sign_ins import SignIn

    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=RETENTION_DAYS + 1)
    async with front.provider.uow_factory() as uow:
        await uow.sign_ins.add(SignIn("00000000-0000-4000-8000-000000000001", front.resident_id, old, None, None,
                                      ("pwd",), None, "refused", "invalid_credentials"))
        await uow.commit()
    from services.identity.service_layer.maintenance import prune

    assert (await prune(front.provider.uow_factory()))["sign_ins"] >= 1
    listed = await sign_ins.history(front.resident_id, front.provider.uow_factory(), limit=500)
    assert all(e.occurred_at > old for e in listed)


async def test_an_altered_page_link_starts_from_the_newest(http):
    await sign_in(http)
    response = await http.get("/account/sign-ins", params={"before": "not-a-date"})
    assert response.status_code == 200 and '<li class="card">' in response.text
