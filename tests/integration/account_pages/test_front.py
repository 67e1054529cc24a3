"""The account pages on the real HTTP front (uvicorn), with accounts and consent down:
sessions, CSRF, security headers and cookies, language, safe redirects, the resident's
access token, what a resident sees when a service is down, and the catalogues."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import pathlib
import re
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from services.identity.http.account import backends
from services.identity.http.app import create_app
from tests.integration.account_pages.conftest import EMAIL, PASSWORD, hidden_fields, sign_in

HTTP = pathlib.Path(__file__).parents[3] / "services" / "identity" / "http"
PAGES = ["/account", "/account/profile", "/account/consents", "/account/access", "/account/export",
         "/account/security", "/account/sign-ins", "/account/services", "/account/mandates",
         "/account/mandates/0b7f0c52-6a1e-4bb4-9c51-3f0c3b1f9d2e/receipt"]
POSTS = ["/account/unlink", "/account/profile", "/account/consents/grant", "/account/consents/abc/withdraw",
         "/account/export", "/account/security/password", "/account/security/totp",
         "/account/security/totp/confirm", "/signup", "/signup/verify", "/account/login",
         "/account/login/second-factor", "/account/password/forgot", "/account/password/reset",
         "/account/services/end", "/account/services/grant"]


@pytest.mark.parametrize("path", PAGES)
async def test_every_account_page_needs_a_session(http, path):
    response = await http.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/account/login?next=" + path.replace("/", "%2F")


@pytest.mark.parametrize("path", POSTS)
async def test_every_form_refuses_a_post_without_the_csrf_token(http, path):
    await sign_in(http)
    page = await http.get("/account/security")
    assert page.status_code == 200
    token = hidden_fields(page.text)["csrf_token"]
    missing = await http.post(path, data={"email": EMAIL, "password": PASSWORD})
    wrong = await http.post(path, data={"csrf_token": token[:-2] + "xx", "email": EMAIL, "password": PASSWORD})
    assert missing.status_code == 403 and wrong.status_code == 403, path


async def test_sign_in_goes_back_to_the_page_asked_for(http):
    response = await sign_in(http, next_url="/account/security")
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/account/security"
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("mtlid_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert (await http.get("/account/security")).status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/account", "/\\evil.example",
                                    "/authorize?client_id=x", "/account/login?next=https://evil.example"])
async def test_sign_in_never_redirects_off_the_account_pages(http, target):
    response = await sign_in(http, next_url=target)
    assert response.headers["location"] == "/account"


async def test_wrong_password_is_announced_next_to_the_field(http):
    response = await sign_in(http, password="not the password at all")
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert 'aria-describedby="form-error" aria-invalid="true"' in response.text
    assert "mtlid_session=" not in response.headers.get("set-cookie", "")


async def test_pages_are_not_cached_framed_or_scripted_inline(http):
    await sign_in(http)
    for path in ["/account/security", "/account", "/signup"]:
        response = await http.get(path)
        assert response.headers["cache-control"] == "no-store", path
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        scripts = re.findall(r"<script[^>]*>(.*?)</script>", response.text, flags=re.S)
        assert all(not body.strip() for body in scripts), "inline script"
        assert re.findall(r"<script[^>]*>", response.text) in ([], ['<script src="/static/account.js" defer>'])
        assert " on" + "click=" not in response.text and "javascript:" not in response.text


async def test_cookies_are_secure_outside_development(front):
    app = create_app(front.provider, secure_cookies=True)
    app.state.settings = front.app.state.settings
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://mtlid.example") as http:
        response = await http.get("/signup?lang=en")
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert cookies and all("Secure" in c and "SameSite=lax" in c.replace("Lax", "lax") for c in cookies)
    assert any(c.startswith("__Host-mtlid_csrf=") for c in cookies)          # RFC 6265bis s. 4.1.3.2
    assert all(c.startswith("__Host-") and "Path=/" in c and "Domain" not in c for c in cookies)
    assert all("HttpOnly" in c for c in cookies if c.startswith("__Host-mtlid_csrf="))


async def test_french_by_default_english_on_request_and_remembered(http):
    french = await http.get("/signup")
    assert '<html lang="fr">' in french.text and "Créer mon compte" in french.text
    english = await http.get("/signup?lang=en")
    assert '<html lang="en">' in english.text and "Create my Montréal account" in english.text
    assert "mtlid_lang=en" in english.headers["set-cookie"]
    remembered = await http.get("/account/login")
    assert '<html lang="en">' in remembered.text and "Sign in to see and manage" in remembered.text


async def test_signup_errors_are_next_to_their_fields(http):
    page = await http.get("/signup")
    response = await http.post("/signup", data={**hidden_fields(page.text), "email": "pas-une-adresse",
                                                "password": "short", "password_confirm": "short"})
    assert response.status_code == 400
    assert 'id="email-error"' in response.text and 'id="password-error"' in response.text
    assert re.search(r'id="email"[^>]*aria-describedby="email-hint email-error"[^>]*aria-invalid="true"',
                     response.text.replace("\n", " "))
    assert 'href="/account/password/forgot"' not in response.text


async def test_signup_with_a_taken_address_answers_exactly_as_with_a_new_one(http):
    """Probe finding 1: the sign-up pages tell no one whether an address has an account —
    the same redirect, the same confirmation page (tokens aside), the same answer to a wrong
    code and to a resend; the owner gets a mail instead (account_exists_notice_requested)."""

    async def journey(email: str) -> list[tuple[int, str]]:
        page = await http.get("/signup")
        posted = await http.post("/signup", data={**hidden_fields(page.text), "email": email,
                                                  "password": PASSWORD, "password_confirm": PASSWORD})
        assert posted.status_code == 303, posted.text[:300]
        location = posted.headers["location"]
        verify = await http.get(location)
        wrong = await http.post("/signup/verify", data={**hidden_fields(verify.text), "action": "verify",
                                                        "code": "000000"})
        resend = await http.post("/signup/verify", data={**hidden_fields(verify.text), "action": "resend"})
        token = location.split("t=", 1)[1]
        scrub = lambda text: re.sub(r'value="[A-Za-z0-9_\-.=%]{40,}"', 'value="…"', text.replace(token, "…"))  # noqa: E731
        return [(posted.status_code, location.split("?")[0]), (verify.status_code, scrub(verify.text)),
                (wrong.status_code, scrub(wrong.text)),
                (resend.status_code, resend.headers.get("location", "").split("?")[0])]

    assert await journey(EMAIL.upper()) == await journey(f"nouvelle-{time.time_ns()}@example.ca")


async def test_signup_leads_to_the_email_confirmation(http):
    page = await http.get("/signup")
    response = await http.post("/signup", data={**hidden_fields(page.text), "email": "nouveau@example.ca",
                                                "password": PASSWORD, "password_confirm": PASSWORD})
    assert response.status_code == 303 and response.headers["location"].startswith("/signup/verify?t=")
    verify = await http.get(response.headers["location"])
    wrong = await http.post("/signup/verify", data={**hidden_fields(verify.text), "action": "verify", "code": "000000"})
    assert wrong.status_code == 400 and 'id="code-error"' in wrong.text
    forged = await http.post("/signup/verify", data={**hidden_fields(verify.text), "t": "forged.token",
                                                     "action": "verify", "code": "123456"})
    assert forged.status_code == 400


async def test_a_service_down_is_a_plain_message_never_a_500(http):
    await sign_in(http)
    home = await http.get("/account")
    assert home.status_code == 200  # identity's own part still shows
    assert "MTL " in home.text and "Nous ne pouvons pas afficher vos services" in home.text
    for path in ["/account/consents", "/account/access", "/account/profile"]:
        response = await http.get(path)
        assert response.status_code == 503, path
        assert "Page pas disponible pour le moment" in response.text


async def test_security_page_lists_the_session_and_offers_totp(http):
    await sign_in(http)
    page = await http.get("/account/security")
    assert "Cet appareil" in page.text
    start = await http.post("/account/security/totp", data=hidden_fields(page.text))
    assert start.status_code == 200 and "otpauth://totp/" in start.text
    # The code needs the current password with it; each error in words, not a message key.
    alone = await http.post("/account/security/totp/confirm", data={**hidden_fields(start.text), "code": "000000"})
    assert alone.status_code == 400 and 'id="totp_current_password-error"' in alone.text
    assert "Entrez votre mot de passe actuel." in alone.text and "security.error" not in alone.text
    wrong = await http.post("/account/security/totp/confirm", data={
        **hidden_fields(start.text), "code": "000000", "totp_current_password": PASSWORD})
    assert wrong.status_code == 400 and 'id="code-error"' in wrong.text
    assert "Ce code n'est pas le bon." in wrong.text.replace("&#39;", "'")


async def add_resident(front, email: str) -> str:
    """Another verified resident with the module's password: their citizen number."""
    from services.identity.domain import passwords
    from services.identity.service_layer.authentication import add_new_resident

    password_hash = await asyncio.to_thread(passwords.hash_password, PASSWORD)
    async with front.provider.uow_factory() as uow:
        resident = await add_new_resident(uow, email=email, password_hash=password_hash, preferred_language="fr",
                                          now=dt.datetime.now(dt.timezone.utc), email_verified=True)
        await uow.commit()
    return resident.resident_id


async def test_a_new_password_signs_out_every_other_session(front):
    """The resident's other browser (signed in with the old password) is signed out; the one
    that changed the password stays signed in."""
    email = "nouveau.mot@example.ca"
    await add_resident(front, email)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as mine, \
            httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as other:
        await sign_in(mine, email=email)
        await sign_in(other, email=email)
        assert (await other.get("/account")).status_code == 200
        page = await mine.get("/account/security")
        changed = await mine.post("/account/security/password", data={
            **hidden_fields(page.text), "current_password": PASSWORD, "new_password": "une autre phrase assez longue",
            "new_password_confirm": "une autre phrase assez longue"})
        assert changed.status_code == 303 and changed.headers["location"] == "/account/security?done=password_changed"
        assert (await mine.get("/account")).status_code == 200
        signed_out = await other.get("/account")
        assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/account/login")


async def test_change_password_checks_the_current_one(http):
    await sign_in(http)
    page = await http.get("/account/security")
    response = await http.post("/account/security/password", data={
        **hidden_fields(page.text), "current_password": "not it at all", "new_password": "another long password 1",
        "new_password_confirm": "another long password 1"})
    assert response.status_code == 400 and 'id="current_password-error"' in response.text
    assert "Ce n'est pas votre mot de passe actuel." in response.text.replace("&#39;", "'")


def test_the_resident_token_is_short_lived_and_for_one_service(front):
    token = backends.resident_token(front.provider, front.resident_id, backends.CONSENT_AUDIENCE, "sid-1")
    decoded = jwt.decode(token, KeySet.import_key_set(front.provider.keys.jwks()))
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    assert claims["sub"] == front.resident_id and claims["scope"] == "resident"
    assert claims["aud"] == "urn:mtlid:consent" and claims["iss"] == front.base
    assert 0 < claims["exp"] - time.time() <= backends.TOKEN_LIFETIME


async def test_no_access_token_ever_reaches_the_browser(http):
    await sign_in(http)
    for path in ["/account", "/account/security", "/account/export"]:
        response = await http.get(path)
        assert not re.search(r"eyJ[\w-]+\.eyJ[\w-]+\.", response.text + str(response.headers)), path


# --- the catalogues ------------------------------------------------------------------------

def _catalogue(lang: str) -> dict[str, str]:
    from services.identity.http.i18n import catalogue

    return catalogue(lang)


def test_french_and_english_catalogues_have_the_same_words():
    fr = json.loads((HTTP / "i18n" / "account.fr.json").read_text())
    en = json.loads((HTTP / "i18n" / "account.en.json").read_text())
    assert set(fr) == set(en)
    assert all(v.strip() for v in [*fr.values(), *en.values()])


def test_every_key_the_account_templates_use_is_in_both_catalogues():
    used = set()
    for template in (HTTP / "templates" / "account").glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.\-]+)["']""", template.read_text()))
    prefixes = {k for k in used if k.endswith(".")}  # t("account.state." ~ state): the families below
    used -= prefixes
    from services.identity.http.account import mandates as mandate_pages
    from services.identity.http.account import pages, security
    from services.identity.card.issuance import DISCLOSABLE as CARD_CLAIMS

    families = {
        "account.level.": ["1", "2", "3", "1.hint", "2.hint", "3.hint"],
        "account.state.": list(pages.ACCOUNT_STATES.values()),
        "account.consents.state.": list(pages.CONSENT_STATES.values()),
        "account.basis.": list(pages.BASES.values()),
        "account.notice.": [*pages.NOTICES, *security.NOTICES],
        "account.nav.": ["home", "profile", "consents", "access", "export", "security", "card"],
        "account.profile.verified.": ["counter", "document"],
        "attr.": [*pages.PROFILE_ATTRIBUTES, *(a + ".hint" for a in pages.PROFILE_ATTRIBUTES)],
        "verify.notice.": ["resent"],
        # the carte citoyenne (issue 23)
        "account.card.claim.": list(CARD_CLAIMS),
        "account.card.state.": ["valid", "expired", "revoked"],
        "attr.channel.": list(pages.CHANNELS),
        "account.informed.": ["resident_closed", "resident_reopened"],   # the services told (issue 21)
        # the carte citoyenne's ledger entries (issue 23)
        "account.card_history.": sorted(".".join(p for p in what if p) for what in pages._CARD_HISTORY),
        # the provider's login errors (its own catalogue), shown by our sign-in pages
        # Issue 22, "Mes procurations" (account/mandates.py).
        "account.mandates.action.": list(mandate_pages.ACTIONS),
        "account.mandates.basis.": list(mandate_pages._BASES.values()),
        "account.mandates.state.": list(mandate_pages._STATES.values()),
        "account.mandates.end.": ["pending", "received", "given"],
        "account.mandates.reason.": ["represented", "grantor", "mandatary_renounced", "declined", "counter",
                                     "expired"],
        "account.mandates.notice.": list(mandate_pages.NOTICES),
        "account.mandates.narrowed.": list(mandate_pages.NARROW_REASONS),   # a minor at 14
        "error.": ["email_required", "email_invalid", "password_required", "invalid_credentials", "throttled",
                   "email_not_verified", "disabled", "code_invalid", "code_wrong", "invalid_otp"],
    }
    assert prefixes <= set(families), prefixes - set(families)
    dynamic = {prefix + suffix for prefix, suffixes in families.items() for suffix in suffixes}
    dynamic |= {"error.attr." + a for a in pages.PROFILE_ATTRIBUTES}
    for lang in ("fr", "en"):
        missing = sorted(k for k in used | dynamic if k not in _catalogue(lang))
        assert missing == [], (lang, missing)


def test_no_words_are_hard_coded_in_the_account_templates():
    for template in (HTTP / "templates" / "account").glob("*.html"):
        text = template.read_text()
        text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", text, flags=re.S)
        text = re.sub(r"<[^>]+>", " ", text)
        leftovers = re.findall(r"[A-Za-zÀ-ÿ]{2,}", text)
        assert leftovers == [], (template.name, leftovers)


async def test_a_resident_with_a_second_factor_confirms_it_before_their_account(front):
    from services.identity.domain import totp

    email = "deux.etapes@example.ca"
    await add_resident(front, email)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        await sign_in(http, email=email)
        page = await http.get("/account/security")
        start = await http.post("/account/security/totp", data=hidden_fields(page.text))
        secret_text = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', start.text).group(1).replace(" ", "")
        import base64

        secret = base64.b32decode(secret_text + "=" * (-len(secret_text) % 8))
        # A session alone cannot put an authenticator on the account: the right code with a
        # wrong password is refused, and nothing is enrolled.
        refused = await http.post("/account/security/totp/confirm", data={
            **hidden_fields(start.text), "code": totp.totp(secret, time.time()),
            "totp_current_password": "not the password"})
        assert refused.status_code == 400 and 'id="totp_current_password-error"' in refused.text
        confirmed = await http.post("/account/security/totp/confirm", data={
            **hidden_fields(start.text), "code": totp.totp(secret, time.time()), "totp_current_password": PASSWORD})
        assert confirmed.status_code == 303 and confirmed.headers["location"] == "/account/security?done=totp_enabled"
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as http:
        first = await sign_in(http, email=email, next_url="/account/profile")
        assert first.headers["location"].startswith("/account/login/second-factor?interaction=")
        challenge = await http.get(first.headers["location"])
        assert challenge.status_code == 200 and 'autocomplete="one-time-code"' in challenge.text
        wrong = await http.post("/account/login/second-factor", data={**hidden_fields(challenge.text), "code": "12"})
        assert wrong.status_code == 400 and 'id="code-error"' in wrong.text
        # the next time step: the one used to confirm the enrolment is spent (RFC 6238 s. 5.2)
        ok = await http.post("/account/login/second-factor", data={
            **hidden_fields(challenge.text), "code": totp.totp(secret, time.time() + 30)})
        assert ok.headers["location"] == "/account/profile"


def test_a_verified_attribute_is_marked_and_warns_before_a_change():
    from services.identity.http.convert import TEMPLATES
    from services.identity.http.i18n import Translator

    t = Translator("fr")
    fields = [{"name": "family_name", "value": "Tremblay", "verified": True, "provenance": "document",
               "verified_at": {"iso": "2026-11-27T15:00:00Z", "text": "27 novembre 2026 à 10 h 00"}, "error": None},
              {"name": "phone", "value": "", "verified": False, "provenance": None, "verified_at": None,
               "error": "error.attr.phone"}]
    html = TEMPLATES.get_template("account/profile.html").render(
        t=t, has=t.has, lang="fr", csrf_token="x", switch_lang_url="/", nav="profile", fields=fields,
        notice=None, errors={"phone": "error.attr.phone"})
    import html as markup

    flat = markup.unescape(" ".join(html.split()))
    assert "Vérifié avec une pièce d'identité" in flat and "il ne sera plus vérifié" in flat
    assert 'aria-describedby="family_name-hint family_name-verified"' in flat
    assert 'aria-describedby="phone-hint phone-error" aria-invalid="true"' in flat
    assert 'role="alert"' in flat and 'href="#phone"' in flat


async def test_signing_in_before_confirming_the_email_leads_to_the_confirmation(front, http):
    page = await http.get("/signup")
    await http.post("/signup", data={**hidden_fields(page.text), "email": "pas.confirme@example.ca",
                                     "password": PASSWORD, "password_confirm": PASSWORD})
    refused = await sign_in(http, email="pas.confirme@example.ca")
    assert refused.status_code == 400 and "Confirmez d'abord votre adresse courriel" in refused.text.replace("&#39;", "'")
    link = re.search(r'href="(/signup/verify\?t=[^"]+)"', refused.text).group(1).replace("&amp;", "&")
    assert (await http.get(link)).status_code == 200
    # the wrong password never gets that link
    wrong = await sign_in(http, email="pas.confirme@example.ca", password="not the password at all")
    assert "/signup/verify" not in wrong.text


async def test_the_language_link_on_a_form_with_errors_leads_to_a_page(http):
    await sign_in(http)
    page = await http.get("/account/security")
    response = await http.post("/account/security/password", data={**hidden_fields(page.text), "current_password": ""})
    link = re.search(r'class="lang-switch" href="([^"]+)"', response.text).group(1).replace("&amp;", "&")
    assert link == "/account/security?lang=en"
    english = await http.get(link)
    assert english.status_code == 200 and "Change my password" in english.text
    await http.get("/account/security?lang=fr")
    signup = await http.get("/signup")
    verify = await http.post("/signup", data={**hidden_fields(signup.text), "email": "langue@example.ca",
                                              "password": PASSWORD, "password_confirm": PASSWORD})
    wrong = await http.post("/signup/verify", data={**hidden_fields((await http.get(verify.headers["location"])).text),
                                                    "action": "verify", "code": "12"})
    link = re.search(r'class="lang-switch" href="([^"]+)"', wrong.text).group(1).replace("&amp;", "&")
    assert link.startswith("/signup/verify?t=") and link.endswith("&lang=en")
    assert (await http.get(link)).status_code == 200


async def test_a_forgotten_password_through_the_pages(front):
    """Forgot → the mailed code → a new password: the other browser is signed out, the new
    password signs in, and an address without an account gets the very same page."""
    import json as json_module

    from sqlalchemy import select

    from services.common.uow import OUTBOX

    email = "mot.oublie@example.ca"
    resident_id = await add_resident(front, email)
    async with httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as me, \
            httpx.AsyncClient(base_url=front.base, follow_redirects=False, timeout=10) as other:
        await sign_in(other, email=email)
        login = await me.get("/account/login")
        assert 'href="/account/password/forgot"' in login.text and "Mot de passe oublié?" in login.text
        forgot = await me.get("/account/password/forgot")
        known = await me.post("/account/password/forgot", data={**hidden_fields(forgot.text), "email": email})
        unknown = await me.post("/account/password/forgot",
                                data={**hidden_fields(forgot.text), "email": "personne.ici@example.ca"})
        for answer in (known, unknown):
            assert answer.status_code == 200 and "Si un compte Montréal utilise cette adresse" in answer.text
            assert "mot.oublie" not in answer.text and "personne.ici" not in answer.text  # sealed, not shown

        codes: list[str] = []
        for _ in range(100):  # the code is written after the answer (its timing tells nothing)
            async with front.provider.uow_factory() as uow:
                envelopes = [json_module.loads(e) for e in
                             (await uow.session.execute(select(OUTBOX.c.envelope))).scalars()]
            codes = [e["data"]["code"] for e in envelopes
                     if e["type"] == "montreal.identity.v1.password_reset_requested"
                     and e["data"]["resident_id"] == resident_id]
            if codes:
                break
            await asyncio.sleep(0.02)
        [code] = codes
        new = "une phrase toute neuve pour Montréal"
        wrong = await me.post("/account/password/reset", data={
            **hidden_fields(known.text), "code": "000000" if code != "000000" else "111111",
            "new_password": new, "new_password_confirm": new})
        assert wrong.status_code == 400 and 'id="code-error"' in wrong.text
        done = await me.post("/account/password/reset", data={
            **hidden_fields(known.text), "code": code, "new_password": new, "new_password_confirm": new})
        assert done.status_code == 200 and "Nouveau mot de passe enregistré" in done.text
        signed_out = await other.get("/account")
        assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/account/login")
        again = await sign_in(me, email=email, password=new)
        assert again.status_code in (302, 303) and again.headers["location"] == "/account"
