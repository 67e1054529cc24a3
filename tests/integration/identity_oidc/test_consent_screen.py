"""Issue 15, section 3: an honest consent screen (Access Act s. 53.1 as amended by Law 25).

``montreal-ca`` is a service of the (real) consent register's catalogue: service provision
(public task) and two consent purposes, communication and statistics, over the email and
the preferred language. ``library`` is a client no service of the catalogue is: only its
scopes are asked."""

from __future__ import annotations

import re

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from services.identity.domain.assurance import LevelOfAssurance
from tests.integration.identity_oidc.conftest import LIBRARY_REDIRECT, add_resident, hidden_fields
from tests.integration.identity_oidc.flows import rp_client
from tests.integration.identity_oidc.test_sessions import outbox


async def _new_resident(front, name: str) -> str:
    return (await add_resident(front.uow, f"{name}@example.ca", LevelOfAssurance.SELF_ASSERTED, False)).email


async def _screen(front, browser, client, email: str) -> tuple[httpx.Response, str]:
    from authlib.common.security import generate_token

    verifier = generate_token(48)
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier=verifier)
    page = await browser.follow(await browser.get(url))
    if "/login" in str(page.url):
        page = await browser.login(page, email)
    assert "/consent" in str(page.url), page.text[:300]
    return page, verifier


async def _post(browser, page, **fields) -> httpx.Response:
    data = hidden_fields(page.text)
    data.update(fields)
    return await browser.http.post("/consent", data=data)


async def _id_claims(front, client, callback: str, verifier: str) -> dict:
    token = await client.fetch_token(front.base + "/token", authorization_response=callback, code_verifier=verifier)
    async with httpx.AsyncClient() as http:
        keys = KeySet.import_key_set((await http.get(front.base + "/jwks")).json())
    return jwt.decode(token["id_token"], keys).claims


def _main(html: str) -> str:
    return html[html.index("<main"):]


async def test_screen_informs_about_legal_bases_and_asks_each_consent_purpose_by_category(front, browser):
    client = rp_client(scope="openid email profile")
    email = await _new_resident(front, "ines")
    page, verifier = await _screen(front, browser, client, email)
    main = _main(page.text)
    # the public task is information, not a checkbox
    assert "Ce qui est nécessaire au service, et pourquoi" in main
    assert "Fournir le service demandé" in main and "mission publique" in main
    assert "service-provision" not in main
    # each consent purpose: its own fieldset, its categories in plain words, what refusing loses
    assert re.findall(r'name="choice" value="([^"]+)"', main) == [
        "communication:email", "communication:preferred_language", "statistics:preferred_language"]
    assert "Adresse courriel" in main and "Langue de préférence" in main
    assert main.count("Si vous refusez") == 2
    assert 'name="scope"' not in main      # email and profile are decided through the purposes

    # only the email, for communication: exactly that is recorded, nothing for statistics
    before = len(await outbox(front, "grant_given"))
    done = await browser.follow(await _post(browser, page, choice="communication:email", decision="accept"))
    assert done.status_code == 302 and "code=" in done.headers["location"]
    [given] = (await outbox(front, "grant_given"))[before:]
    assert given["purposes_accepted"] == ["communication"]
    assert given["purpose_categories"] == [{"purpose_id": "communication", "categories": ["email"]}]
    assert given["purposes_refused"] == ["statistics"]
    assert given["scopes"] == ["openid", "email"]          # the language was not ticked: no profile
    claims = await _id_claims(front, client, done.headers["location"], verifier)
    assert claims["email"] == email and "locale" not in claims
    await client.aclose()


async def test_refusing_everything_signs_in_with_nothing_optional(front, browser):
    client = rp_client(scope="openid email profile")
    page, verifier = await _screen(front, browser, client, await _new_resident(front, "jules"))
    assert "Tout refuser et me connecter" in page.text
    before = len(await outbox(front, "grant_given"))
    # even boxes ticked before pressing "Tout refuser" are refused
    done = await browser.follow(await _post(browser, page, choice="communication:email", decision="deny"))
    assert done.status_code == 302
    location = httpx.URL(done.headers["location"])
    assert "code" in location.params and "error" not in location.params
    claims = await _id_claims(front, client, done.headers["location"], verifier)
    assert claims["sub"] and "email" not in claims and "locale" not in claims
    [given] = (await outbox(front, "grant_given"))[before:]
    assert given["purposes_accepted"] == [] and given["purpose_categories"] == []
    assert given["purposes_refused"] == ["communication", "statistics"]
    assert given["scopes"] == ["openid"]
    await client.aclose()


async def test_a_client_asking_for_more_later_gets_a_screen_for_the_new_part_only(front, browser):
    email = await _new_resident(front, "karim")
    first = rp_client("library", scope="openid", redirect_uri=LIBRARY_REDIRECT)
    page, _ = await _screen(front, browser, first, email)
    assert 'name="choice"' not in page.text                  # no service of the catalogue: no purpose
    done = await browser.follow(await _post(browser, page, decision="accept"))
    assert "code=" in done.headers["location"]
    # later the library asks for the email and long-lived access too
    more = rp_client("library", scope="openid email offline_access", redirect_uri=LIBRARY_REDIRECT)
    page, verifier = await _screen(front, browser, more, email)
    assert re.findall(r'name="scope" value="([^"]+)"', page.text) == ["email", "offline_access"]
    assert "Seul ce qui est nouveau vous est demandé" in page.text
    done = await browser.follow(await _post(browser, page, scope="email", decision="accept"))
    claims = await _id_claims(front, more, done.headers["location"], verifier)
    assert claims["email"] == email
    # asked once: the next sign-in with the same request goes straight through
    from authlib.common.security import generate_token

    url, _ = more.create_authorization_url(front.base + "/authorize", code_verifier=generate_token(48))
    again = await browser.follow(await browser.get(url))
    assert again.status_code == 302 and "code=" in again.headers["location"]
    # prompt=consent (OIDC Core s. 3.1.2.1): everything is asked again
    url, _ = more.create_authorization_url(front.base + "/authorize", code_verifier=generate_token(48),
                                           prompt="consent")
    asked = await browser.follow(await browser.get(url))
    assert re.findall(r'name="scope" value="([^"]+)"', asked.text) == ["email", "offline_access"]
    await first.aclose()
    await more.aclose()


async def test_forms_the_screen_did_not_produce_get_a_clear_400_and_record_nothing(front, browser):
    client = rp_client(scope="openid email profile")
    page, _ = await _screen(front, browser, client, await _new_resident(front, "lea"))
    bad = [
        {"choice": "communication:phone", "decision": "accept"},          # a category not offered
        {"choice": "marketing:email", "decision": "accept"},              # an unknown purpose
        {"choice": "service-provision:email", "decision": "accept"},      # not a consent purpose
        {"choice": ["communication:email", "communication:email"], "decision": "accept"},  # repeated
        {"decision": ["accept", "deny"]},                                 # repeated field
        {"decision": "maybe"},
        {"purpose": "communication", "decision": "accept"},               # a field the form has not
        {"scope": "email", "decision": "accept"},                         # a scope not asked here
    ]
    before = (len(await outbox(front, "grant_given")), await _grants(front))
    for fields in bad:
        answer = await _post(browser, page, **fields)
        assert answer.status_code == 400, fields
        assert "ne correspond pas à ce qui vous a été demandé" in answer.text.replace("&#39;", "'"), fields
        assert "Rien n'a été enregistré" in answer.text.replace("&#39;", "'")
    # a forged interaction: refused, nothing recorded either
    forged = await _post(browser, page, interaction=hidden_fields(page.text)["interaction"][:-4] + "AAAA",
                         decision="accept")
    assert forged.status_code == 400
    assert (len(await outbox(front, "grant_given")), await _grants(front)) == before
    await client.aclose()


async def _grants(front) -> int:
    from sqlalchemy import func, select

    from services.identity.adapters.oauth_orm import GrantRow

    async with front.sessions() as session:
        return (await session.execute(select(func.count()).select_from(GrantRow))).scalar_one()
