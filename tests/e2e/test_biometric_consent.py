"""A biometric consent, end to end in the browser (issue 18, commitment 6): a service linked
to the resident asks for identity verification by face; Mon compte offers it on a page of its
own (never with the other consents), naming the purpose, the processing, the non-biometric
alternative, how to withdraw and a chosen expiry; it is given only with the password entered
again. axe-core finds no WCAG 2.1 A/AA violation on the page, nor on its error state. Then
the service's Check allows it, and after the resident withdraws it says why it refuses and
names the alternative."""

from __future__ import annotations

import time

import grpc
import pytest

from montreal.accounts.v1 import accounts_pb2 as apb
from montreal.accounts.v1 import accounts_pb2_grpc
from montreal.consent.v1 import consent_pb2 as cpb
from montreal.consent.v1 import consent_pb2_grpc
from tests.e2e.pages import check_page, new_context

pytestmark = pytest.mark.e2e

EMAIL = "biometrie.volontaire@example.ca"
PASSWORD = "une phrase de passe pour la biometrie 7"
CLIENT, SERVICE, PURPOSE = "pool-access", "pool-access", "biometric-identity-verification"


def _prepare(system) -> tuple[str, str]:
    """The pools' access system (client and service, asking for the biometric purpose), and a
    resident whose account there is active. Returns (resident id, client secret)."""
    resident = system.cli("resident", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
    client = system.cli("client", "create", "--name", "Accès piscines", "--client-id", CLIENT,
                        "--grant-type", "client_credentials", "--scope", "accounts:link", "--scope", "consent:check",
                        "--audience", "urn:mtlid:accounts", "--audience", "urn:mtlid:consent", "--city")
    system.cli("service", "create", "--id", SERVICE, "--kind", "municipal", "--name-fr", "Accès aux piscines",
               "--name-en", "Pool access", "--owner", "Ville de Montréal", "--client-id", CLIENT,
               "--attribute", "biometric_face", "--purpose", PURPOSE)
    token = system.client_token(CLIENT, client["client_secret"], "accounts:link", "urn:mtlid:accounts")
    with grpc.insecure_channel(system.target("accounts")) as channel:
        stub = accounts_pb2_grpc.AccountsServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        deadline = time.monotonic() + 20
        while True:
            try:
                account = stub.LinkAccount(apb.LinkAccountRequest(
                    service_id=SERVICE, resident_id=resident["resident_id"], account_reference="PISC-1"),
                    metadata=metadata, timeout=5).account
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        stub.ActivateAccount(apb.ActivateAccountRequest(account_id=account.account_id, reason="carte d'accès"),
                             metadata=metadata, timeout=5)
    with grpc.insecure_channel(system.target("consent")) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        deadline = time.monotonic() + 20
        while SERVICE not in {r.recipient_id for r in stub.ListRecipients(cpb.ListRecipientsRequest(),
                                                                          timeout=5).recipients}:
            assert time.monotonic() < deadline, "consent never learned the pools' service"
            time.sleep(0.2)
    return resident["resident_id"], client["client_secret"]


def _check(system, secret: str, resident_id: str) -> cpb.CategoryDecision:
    token = system.client_token(CLIENT, secret, "consent:check", "urn:mtlid:consent")
    with grpc.insecure_channel(system.target("consent")) as channel:
        return consent_pb2_grpc.ConsentServiceStub(channel).Check(cpb.CheckRequest(
            resident_id=resident_id, recipient_id=SERVICE, purpose_id=PURPOSE, data_categories=["biometric_face"]),
            metadata=(("authorization", f"Bearer {token}"),), timeout=5).decisions[0]


async def test_a_resident_gives_a_biometric_consent_on_its_own_page(system, browser):
    resident_id, secret = _prepare(system)
    never = _check(system, secret, resident_id)
    assert (never.allowed, never.reason) == (False, "BIOMETRIC_CONSENT_NEVER_GIVEN")
    assert never.non_biometric_alternative.alternative_id

    context = await new_context(browser, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    issuer = system.issuer
    await page.goto(issuer + "/account/login")
    await page.fill("#email", EMAIL)
    await page.fill("#password", PASSWORD)
    await page.click("form[action='/account/login'] button[type=submit]")
    await page.wait_for_url(issuer + "/account")

    await page.goto(issuer + "/account/consents")
    # offered on its own, never among the ordinary consents' "I agree" buttons
    assert await page.locator("form[action='/account/consents/grant'] input[value='%s']" % PURPOSE).count() == 0
    await page.click("a[href^='/account/consents/biometric']")
    await page.wait_for_url("**/account/consents/biometric?*")
    text = await page.inner_text("main")
    for words in ("Pourquoi", "Ce que la Ville fait de vos données", "Sans biométrie", "Retirer ce consentement",
                  "Pour combien de temps?"):
        assert words in text, words
    assert await page.locator("input[name=days]").count() >= 3
    assert not await page.is_checked("#agree")          # the explicit act is the resident's
    await check_page(page, "b01-biometric-consent")

    # nothing chosen, no password: the errors are summarized, each next to its field
    await page.click("form[action='/account/consents/biometric'] button[type=submit]")
    assert await page.locator(".error-summary[role=alert]").count() == 1
    assert await page.get_attribute("#current_password", "aria-invalid") == "true"
    await check_page(page, "b02-biometric-consent-errors")
    assert not _check(system, secret, resident_id).allowed

    await page.check("#days-90")
    await page.check("#agree")
    await page.fill("#current_password", PASSWORD)
    await page.click("form[action='/account/consents/biometric'] button[type=submit]")
    await page.wait_for_url("**/account/consents?done=granted")
    allowed = _check(system, secret, resident_id)
    assert allowed.allowed and allowed.consent_id
    # the consents page says how many witnesses cosigned the register; the how-to page
    await check_page(page, "b03-consents-with-biometric")
    await page.click("a[href='/account/ledger/how-to-check']")
    await check_page(page, "b04-how-to-check-a-proof")
    await page.goto(issuer + "/account/consents")

    # withdrawn in Mon compte: Check says why, and names the alternative to offer
    await page.click(f"a[href='/account/consents/{allowed.consent_id}/withdraw']")
    await page.click(f"form[action='/account/consents/{allowed.consent_id}/withdraw'] button[type=submit]")
    await page.wait_for_url("**/account/consents?done=withdrawn")
    withdrawn = _check(system, secret, resident_id)
    assert (withdrawn.allowed, withdrawn.reason) == (False, "BIOMETRIC_CONSENT_WITHDRAWN")
    assert withdrawn.non_biometric_alternative.description_fr
    await context.close()


async def test_with_a_second_factor_the_page_takes_a_code_and_passes_axe(system, browser):
    """Point 6 of issue 18's follow-ups: a resident who has a second factor confirms with a
    code of their app (or the password); the page with both, and its error state, pass
    axe-core; the code is accepted and the consent granted."""
    import base64
    import re

    import httpx

    from services.identity.domain import totp
    from tests.integration.account_pages.conftest import hidden_fields

    email, rink = "deux.facteurs.biometrie@example.ca", "rink-access"
    resident = system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")
    client = system.cli("client", "create", "--name", "Accès arénas", "--client-id", rink,
                        "--grant-type", "client_credentials", "--scope", "accounts:link",
                        "--audience", "urn:mtlid:accounts", "--city")
    system.cli("service", "create", "--id", rink, "--kind", "municipal", "--name-fr", "Accès aux arénas",
               "--name-en", "Rink access", "--owner", "Ville de Montréal", "--client-id", rink,
               "--attribute", "biometric_face", "--purpose", PURPOSE)
    token = system.client_token(rink, client["client_secret"], "accounts:link", "urn:mtlid:accounts")
    with grpc.insecure_channel(system.target("accounts")) as channel:
        stub = accounts_pb2_grpc.AccountsServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        deadline = time.monotonic() + 20
        while True:
            try:
                account = stub.LinkAccount(apb.LinkAccountRequest(
                    service_id=rink, resident_id=resident["resident_id"], account_reference="ARENA-1"),
                    metadata=metadata, timeout=5).account
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        stub.ActivateAccount(apb.ActivateAccountRequest(account_id=account.account_id, reason="carte"),
                             metadata=metadata, timeout=5)
    with grpc.insecure_channel(system.target("consent")) as channel:
        consent = consent_pb2_grpc.ConsentServiceStub(channel)
        deadline = time.monotonic() + 20
        while rink not in {r.recipient_id for r in consent.ListRecipients(cpb.ListRecipientsRequest(),
                                                                          timeout=5).recipients}:
            assert time.monotonic() < deadline, "consent never learned the rinks' service"
            time.sleep(0.2)

    # the resident signs in and adds a second factor (plain HTTP), then continues in the browser
    now = time.time()
    async with httpx.AsyncClient(base_url=system.issuer, follow_redirects=False, timeout=15) as http:
        page = await http.get("/account/login")
        await http.post("/account/login", data={**hidden_fields(page.text), "email": email, "password": PASSWORD})
        security = await http.get("/account/security")
        start = await http.post("/account/security/totp", data=hidden_fields(security.text))
        secret_b32 = re.search(r"secret=([A-Z2-7]+)", start.text).group(1)
        secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
        enrolled = await http.post("/account/security/totp/confirm", data={
            **hidden_fields(start.text), "code": totp.totp(secret, now), "totp_current_password": PASSWORD})
        assert enrolled.status_code == 303, enrolled.text[:500]
        cookies = [{"name": c.name, "value": c.value, "url": system.issuer} for c in http.cookies.jar]

    context = await new_context(browser, viewport={"width": 1280, "height": 900})
    await context.add_cookies(cookies)
    page = await context.new_page()
    await page.goto(system.issuer + "/account/consents")
    await page.click(f"a[href^='/account/consents/biometric'][href*='{rink}']")
    await page.wait_for_url("**/account/consents/biometric?*")
    assert await page.get_attribute("#totp_code", "autocomplete") == "one-time-code"
    await check_page(page, "b05-biometric-consent-second-factor")
    await page.check("#days-30")
    await page.check("#agree")
    await page.click("form[action='/account/consents/biometric'] button[type=submit]")
    assert await page.locator(".error-summary[role=alert]").count() == 1
    await check_page(page, "b06-biometric-consent-second-factor-errors")
    await page.fill("#totp_code", totp.totp(secret, now + 30))   # the next step: the enrolment used this one
    await page.click("form[action='/account/consents/biometric'] button[type=submit]")
    await page.wait_for_url("**/account/consents?done=granted")
    await context.close()
