"""Passkeys in the browser (issue 20): Chromium's own virtual authenticator, driven through the
DevTools WebAuthn domain from Playwright, registers a passkey in Mon compte, the resident signs
out everywhere, signs in to the montreal.ca demo RP with the passkey alone (the RP shows the
``acr`` and ``amr`` it received), then removes the passkey. axe-core finds no WCAG 2.1 A/AA
violation on each new page, in French and in English.

WebAuthn needs a relying-party ID that is a domain (WebAuthn L3 s. 5.1.2; Chromium refuses an
IP address): this module runs the system with the issuer at ``http://localhost:<port>``
(a secure context, like every localhost origin)."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import CHROMIUM, _ensure_axe
from tests.e2e.pages import check_page, new_context
from tests.e2e.system import System

pytestmark = pytest.mark.e2e

PASSWORD = "une phrase de passe pour les clés 20"
EMAIL = "cle.navigateur@example.ca"


class LocalhostSystem(System):
    @property
    def issuer(self) -> str:
        return f"http://localhost:{self.ports['http']}"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    if not os.access(CHROMIUM, os.X_OK):
        message = f"no Chromium at {CHROMIUM}: run tests/e2e/setup.sh as root (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    _ensure_axe()
    running = LocalhostSystem(str(tmp_path_factory.mktemp("e2e-passkeys") / "var"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def _virtual_authenticator(context, page) -> tuple[object, str]:
    """A platform authenticator with resident keys and user verification (a phone's or a
    laptop's), answering without a person (automatic presence)."""
    cdp = await context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable", {"enableUI": False})
    added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    return cdp, added["authenticatorId"]


async def test_register_a_passkey_sign_in_with_it_and_remove_it(system, browser):
    system.cli("resident", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
    issuer = system.issuer
    context = await new_context(browser, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    cdp, authenticator = await _virtual_authenticator(context, page)

    # -- sign in with the password, add a passkey (the sign-in is recent: no password again) --
    await page.goto(issuer + "/account/login?next=%2Faccount%2Fsecurity&lang=en")
    await page.wait_for_selector("form[data-passkey='sign-in']:not([hidden])")   # the script revealed it
    await check_page(page, "passkeys-00-login-en")
    await page.goto(issuer + "/account/login?next=%2Faccount%2Fsecurity&lang=fr")
    await page.wait_for_selector("form[data-passkey='sign-in']:not([hidden])")
    await check_page(page, "passkeys-01-login")
    assert await page.get_attribute("#email", "autocomplete") == "username webauthn"   # conditional UI
    await page.fill("#email", EMAIL)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/account/login'] button[type=submit]")
    await page.wait_for_url(issuer + "/account/security")
    await check_page(page, "passkeys-02-security-none")
    await page.click("a[href='/account/security/passkeys/new']")
    await page.wait_for_url(issuer + "/account/security/passkeys/new")
    await page.wait_for_selector("form[data-passkey='register']:not([hidden])")   # the script revealed it
    await check_page(page, "passkeys-03-new")
    await page.fill("#passkey_name", "Ordinateur de la bibliothèque")
    await page.click("#passkey")
    await page.wait_for_url(issuer + "/account/security?done=passkey_added")
    assert "Ordinateur de la bibliothèque" in await page.inner_text("#passkey-list")
    credentials = (await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator}))["credentials"]
    assert len(credentials) == 1 and credentials[0]["isResidentCredential"]
    assert credentials[0]["rpId"] == "localhost"
    await check_page(page, "passkeys-04-security-added")

    # -- the same pages in English ---------------------------------------------------------------
    await page.goto(issuer + "/account/security?lang=en")
    assert "Ordinateur de la bibliothèque" in await page.inner_text("#passkey-list")
    assert "Passkeys" in await page.inner_text("main")
    await check_page(page, "passkeys-05-security-en")
    await page.goto(issuer + "/account/security/passkeys/new")
    await page.wait_for_selector("form[data-passkey='register']:not([hidden])")
    await check_page(page, "passkeys-06-new-en")
    await page.goto(issuer + "/account/security?lang=fr")

    # -- sign out everywhere, then sign in at the demo RP with the passkey alone ----------------
    await page.click("form[action='/logout/everywhere'] button")
    await page.goto(system.rp + "/")
    await page.click("a[href='/login']")
    await page.wait_for_url(issuer + "/login?**")
    # Conditional UI (mediation "conditional"): the browser offers the passkey as soon as the
    # page asks; Chromium's virtual authenticator, answering for the person, accepts it — no
    # button, no password. (A person picks it in the e-mail field's autofill.)
    await page.wait_for_url(lambda url: "/consent" in url or url.startswith(system.rp))
    if "/consent" in page.url:
        await page.click("button[value=accept]")
    await page.wait_for_url(system.rp + "/**")
    # a user-verified passkey on the device: level 1 (self-asserted) stays level 1, and the
    # methods say device-bound key, presence, two factors (RFC 8176)
    assert "niveau 1" in await page.inner_text("#claim-acr")
    assert (await page.inner_text("#claim-amr")).strip() == "clé d'accès sur l'appareil, présence confirmée, deux facteurs"
    count = (await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator}))["credentials"][0]["signCount"]
    assert count >= 1

    # -- remove the passkey ------------------------------------------------------------------------
    await page.goto(issuer + "/account/security")
    assert "Dernière utilisation le" in await page.inner_text("#passkey-list")
    await page.click("form[action='/account/security/passkeys/remove'] button[type=submit]")
    await page.wait_for_url(issuer + "/account/security?done=passkey_removed")
    assert "Vous n'avez pas de clé d'accès." in await page.inner_text("main")
    await check_page(page, "passkeys-07-removed")
    await context.close()


def _code(secret_b32: str, step_offset: int = 0) -> str:
    import base64
    import time

    from services.identity.domain import totp

    key = secret_b32.replace(" ", "")
    secret = base64.b32decode(key + "=" * (-len(key) % 8))
    return totp.hotp(secret, int(time.time()) // 30 + step_offset)


async def test_recovery_codes_lost_phone_and_an_agents_passkey(system, browser):
    """The other new pages, each checked by axe-core in French and English: the TOTP enrolment
    with its QR code, the recovery codes, the second step with a passkey, "I lost my phone"
    (signed in with a recovery code), an agent's passkeys and the agent's second step with one,
    and the counter's lost-phone reset on a resident's file."""
    email = "telephone.perdu@example.ca"
    resident = system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")
    issuer = system.issuer
    context = await new_context(browser, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    cdp, authenticator = await _virtual_authenticator(context, page)

    # -- TOTP with its QR code, then ten recovery codes ---------------------------------------------
    await page.goto(issuer + "/account/login?next=%2Faccount%2Fsecurity")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/account/login'] button[type=submit]")
    await page.wait_for_url(issuer + "/account/security")
    await page.click("form[action='/account/security/totp'] button")
    await page.wait_for_selector("figure.qr-code svg[role=img]")
    await check_page(page, "second-01-totp-qr")
    key = (await page.inner_text("code.secret")).strip()
    await page.fill("#code", _code(key))
    await page.fill("#totp_current_password", PASSWORD)
    await page.click("form[action='/account/security/totp/confirm'] button")
    await page.wait_for_url(issuer + "/account/security?done=totp_enabled")
    assert "0 sur 10" in await page.inner_text("#recovery-left")
    await check_page(page, "second-02-security-totp-on")
    await page.fill("#recovery_current_password", PASSWORD)
    await page.click("form[action='/account/security/recovery-codes'] button")
    codes = [c.strip() for c in await page.locator("#recovery-codes code").all_inner_texts()]
    assert len(codes) == 10
    await check_page(page, "second-03-recovery-codes")
    await page.goto(issuer + "/account/security?lang=en")
    await check_page(page, "second-04-security-en")
    await page.fill("#recovery_current_password", PASSWORD)
    await page.click("form[action='/account/security/recovery-codes'] button")
    codes = [c.strip() for c in await page.locator("#recovery-codes code").all_inner_texts()]
    assert "Write these codes down now" in await page.inner_text("main")
    await check_page(page, "second-05-recovery-codes-en")
    await page.goto(issuer + "/account/security/passkeys/new?lang=fr")
    await page.wait_for_selector("form[data-passkey='register']:not([hidden])")
    await page.fill("#passkey_name", "Téléphone")
    await page.click("#passkey")
    await page.wait_for_url(issuer + "/account/security?done=passkey_added")
    await page.click("form[action='/logout/everywhere'] button")

    # -- the second step offers the passkey; "I lost my phone" takes a recovery code --------------
    await context.clear_cookies()
    # Nobody touches the authenticator: the login page's conditional request stays unanswered
    # and the resident types the password.
    await cdp.send("WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": authenticator, "enabled": False})
    await page.goto(issuer + "/account/login?next=%2Faccount%2Fprofile")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/account/login'] button[type=submit]")
    await page.wait_for_url(issuer + "/account/login/second-factor?**")
    await page.wait_for_selector("form[data-passkey='second-factor']:not([hidden])")
    await check_page(page, "second-06-second-step")
    second_step = page.url
    await page.goto(second_step + "&lang=en")
    await page.wait_for_selector("form[data-passkey='second-factor']:not([hidden])")
    await check_page(page, "second-07-second-step-en")
    await page.click("text=I lost my phone")
    await page.wait_for_url(issuer + "/account/login/lost-phone?**")
    await check_page(page, "second-08-lost-phone-en")
    await page.goto(page.url.replace("lang=en", "") + "&lang=fr")
    await page.fill("#recovery_code", "ZZZZZ-ZZZZZ")
    await page.click("form[action='/account/login/lost-phone'] button")
    await page.wait_for_selector("#recovery_code-error")
    await check_page(page, "second-09-lost-phone-error")
    await page.fill("#recovery_code", codes[0].lower().replace("-", ""))
    await page.click("form[action='/account/login/lost-phone'] button")
    await page.wait_for_url(issuer + "/account/profile")
    await cdp.send("WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": authenticator, "enabled": True})

    # -- an agent's passkey, and the counter's lost-phone reset -----------------------------------
    agent = system.cli("agent", "create", "--email", "camille.gagnon@ville.montreal.qc.ca",
                       "--name", "Camille Gagnon", "--office", "Accès Montréal — Verdun")
    await page.goto(issuer + "/counter/login")
    await page.fill("#email", agent["email"])
    await page.fill("#password", agent["password"])
    await page.click("form[action='/counter/login'] button[type=submit]")
    await page.wait_for_url(issuer + "/counter/second-factor")
    await page.fill("#code", _code(agent["totp_secret"]))
    await page.click("form[action='/counter/second-factor'] button")
    await page.wait_for_url(issuer + "/counter")
    await page.goto(issuer + "/counter/passkeys")
    await page.wait_for_selector("form[data-passkey='register']:not([hidden])")
    await check_page(page, "second-10-agent-passkeys")
    await page.fill("#passkey_name", "Clé du comptoir")
    await page.fill("#passkey_password", agent["password"])
    await page.click("#passkey")
    await page.wait_for_url(issuer + "/counter/passkeys?done=added")
    await check_page(page, "second-11-agent-passkey-added")
    await page.goto(issuer + "/counter/passkeys?lang=en")
    await check_page(page, "second-12-agent-passkeys-en")
    await page.goto(issuer + "/counter/resident?citizen_number=" + resident["resident_id"] + "&lang=en")
    await check_page(page, "second-13-counter-file-reset-en")
    await page.goto(issuer + "/counter/resident?citizen_number=" + resident["resident_id"] + "&lang=fr")
    await check_page(page, "second-14-counter-file-reset")
    await page.select_option("#reset_document_type", "drivers_licence")
    await page.fill("#reset_last_digits", "4321")
    await page.click("form[action='/counter/resident/second-factor/reset'] button")
    await page.wait_for_selector("#recorded")
    assert "Vérification en deux étapes désactivée" in await page.inner_text("#recorded")
    await check_page(page, "second-15-counter-reset-done")
    await page.click("form[action='/counter/logout'] button")
    # the agent's second step, with the passkey instead of the code
    await page.goto(issuer + "/counter/login")
    await page.fill("#email", agent["email"])
    await page.fill("#password", agent["password"])
    await page.click("form[action='/counter/login'] button[type=submit]")
    await page.wait_for_url(issuer + "/counter/second-factor")
    await page.wait_for_selector("form[data-passkey='second-factor']:not([hidden])")
    await check_page(page, "second-16-agent-second-step")
    await page.click("#passkey")
    await page.wait_for_url(issuer + "/counter")
    await context.close()
