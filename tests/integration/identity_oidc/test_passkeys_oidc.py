"""Passkeys through the OpenID provider (issue 20): a verified resident signs in to a relying
party with a passkey alone, or steps up to level 3 with one after the password; the ID token's
``acr`` and ``amr`` say what happened (read with joserfc); discovery lists the amr values."""

from __future__ import annotations

import html
import json
import re

import httpx

from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.passkeys import RESIDENT
from services.identity.service_layer import passkeys
from tests.integration.identity_oidc.conftest import add_resident, hidden_fields
from tests.integration.identity_oidc.flows import rp_client
from tests.integration.identity_oidc.test_sessions import id_claims
from tests.integration.soft_authenticator import SoftAuthenticator


def _options(page: str, kind: str) -> str:
    return html.unescape(re.search(r'data-passkey="' + kind + r'" data-options="([^"]*)"', page).group(1))


async def _resident_with_a_passkey(front, email: str, **kind) -> tuple[str, SoftAuthenticator]:
    resident = await add_resident(front.uow, email, LevelOfAssurance.VERIFIED, with_totp=False)
    soft = SoftAuthenticator(front.base, **kind)
    rp = passkeys.RelyingParty.of_issuer(front.base)
    options = await passkeys.registration_options(front.uow(), rp, RESIDENT, resident.resident_id, email, email)
    await passkeys.register_passkey(passkeys.RegisterPasskey(RESIDENT, resident.resident_id, soft.create(options),
                                                             "Téléphone"), front.uow(), rp)
    return resident.resident_id, soft


async def _finish(front, browser, client, page, verifier: str) -> dict:
    page = await browser.follow(page)
    if "/consent" in str(page.url):
        page = await browser.consent(page, [], [])
    assert page.status_code == 302, page.text[-2000:]
    token = await client.fetch_token(front.base + "/token", authorization_response=page.headers["location"],
                                     code_verifier=verifier)
    return await id_claims(front, token["id_token"])


async def test_discovery_lists_the_amr_values_a_sign_in_can_produce(front):
    async with httpx.AsyncClient() as http:
        metadata = (await http.get(front.base + "/.well-known/openid-configuration")).json()
    assert metadata["amr_values_supported"] == ["pwd", "otp", "hwk", "swk", "user", "mfa"]
    assert "amr" in metadata["claims_supported"]


async def test_a_passkey_alone_signs_a_verified_resident_in_at_level_3(front, browser):
    _resident_id, soft = await _resident_with_a_passkey(front, "oidc.cle@example.ca")
    client = rp_client(scope="openid")
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="w" * 50,
                                             acr_values="urn:mtlid:loa:3")
    login = await browser.follow(await browser.get(url))
    assert "/login" in str(login.url) and 'autocomplete="username webauthn"' in login.text
    page = await browser.http.post("/login/passkey", data={
        **hidden_fields(login.text), "credential": soft.get(_options(login.text, "sign-in"))})
    claims = await _finish(front, browser, client, page, "w" * 50)
    assert claims["acr"] == "urn:mtlid:loa:3" and claims["amr"] == ["hwk", "user", "mfa"]
    await client.aclose()


async def test_a_passkey_is_the_step_up_of_a_password_session(front, browser):
    email = "oidc.etape@example.ca"
    _resident_id, soft = await _resident_with_a_passkey(front, email, synced=True, user_verifying=False)
    client = rp_client(scope="openid")
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="x" * 50)
    login = await browser.follow(await browser.get(url))
    claims = await _finish(front, browser, client, await browser.login(login, email), "x" * 50)
    assert claims["acr"] == "urn:mtlid:loa:2" and claims["amr"] == ["pwd"]
    # Level 3 asked: the resident has no TOTP, but a passkey reaches it.
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="y" * 50,
                                             acr_values="urn:mtlid:loa:3")
    page = await browser.follow(await browser.get(url))
    assert "/login/second-factor" in str(page.url) and 'data-passkey="second-factor"' in page.text
    lost = await browser.get(re.search(r'href="(/login/lost-phone\?interaction=[^"]+)"', page.text).group(1)
                             .replace("&amp;", "&"))
    assert lost.status_code == 200 and "Avec une clé d'accès" in html.unescape(lost.text)
    # a forged assertion is refused on the page, with its message
    forged = await browser.http.post("/login/second-factor/passkey", data={
        **hidden_fields(page.text), "credential": soft.get(_options(page.text, "second-factor"), forge=True)})
    assert forged.status_code == 400 and "n'a pas pu être vérifiée" in html.unescape(forged.text)
    page = await browser.follow(await browser.get(url))
    done = await browser.http.post("/login/second-factor/passkey", data={
        **hidden_fields(page.text), "credential": soft.get(_options(page.text, "second-factor"))})
    claims = await _finish(front, browser, client, done, "y" * 50)
    assert claims["acr"] == "urn:mtlid:loa:3" and claims["amr"] == ["pwd", "swk", "user", "mfa"]
    await client.aclose()


async def test_malformed_passkey_responses_are_refused_with_a_message_never_a_500(front, browser):
    import base64
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    client_data = b64(json.dumps({"type": "webauthn.get", "challenge": "A" * 43, "origin": front.base}).encode())
    junk = ["", "null", "[]", "{}", '{"response": []}', '{"response": {}}', '{"id": 5, "response": {}}',
            json.dumps({"id": "x", "response": {"clientDataJSON": "!!!"}}),
            json.dumps({"id": "x", "response": {"clientDataJSON": b64(b"not json")}}),
            json.dumps({"id": "x", "response": {"clientDataJSON": b64(b'{"challenge": 7}')}}),
            json.dumps({"id": "x", "rawId": "x", "type": "public-key",
                        "response": {"clientDataJSON": client_data, "authenticatorData": "", "signature": ""}}),
            "x" * 20000, "\u00e9\u0000"]
    client = rp_client(scope="openid")
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="z" * 50)
    login = await browser.follow(await browser.get(url))
    for credential in junk:
        response = await browser.http.post("/login/passkey", data={**hidden_fields(login.text),
                                                                    "credential": credential})
        assert response.status_code in (400, 413), (credential[:80], response.status_code)
        if response.status_code == 400:
            # the passkey's message; a NUL character is refused by the front before (clean_input)
            said = html.unescape(response.text)
            assert any(m in said for m in ("n'a pas pu être vérifiée", "expiré ou a déjà servi",
                                           "n'est pas valide")), credential[:80]
    for path in ("/login/second-factor/passkey", "/login/lost-phone"):
        for credential in junk:
            response = await browser.http.post(path, data={**hidden_fields(login.text), "credential": credential,
                                                           "recovery_code": credential})
            assert response.status_code < 500, (path, credential[:80], response.status_code)
    await client.aclose()


async def test_a_refused_passkey_sign_in_is_in_the_residents_history_and_the_failure_metric(front, browser,
                                                                                          monkeypatch):
    """Issue 20: a passkey response that does not verify (here, signed by another key) is a
    refused sign-in like a wrong password: ``login_failed`` (reason ``passkey_refused``)
    through the outbox, a refused row in the resident's "Historique de connexion", and the
    ``mtlid.logins`` failure count with method ``passkey``. A credential no one owns is
    counted without naming anyone."""
    from sqlalchemy import select

    from services.common.uow import OUTBOX
    from services.identity import metrics
    from services.identity.service_layer import sign_ins as history

    counted: list[dict] = []
    monkeypatch.setattr(metrics, "LOGINS", type("Recorder", (), {"add": lambda self, n, labels: counted.append(labels)})())
    resident_id, soft = await _resident_with_a_passkey(front, "oidc.refus@example.ca")
    client = rp_client(scope="openid")
    url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="r" * 50)
    login = await browser.follow(await browser.get(url))
    forged = await browser.http.post("/login/passkey", data={
        **hidden_fields(login.text), "credential": soft.get(_options(login.text, "sign-in"), forge=True)})
    assert forged.status_code == 400 and "n'a pas pu être vérifiée" in html.unescape(forged.text)
    stranger = SoftAuthenticator(front.base)  # a passkey this site never registered
    login = await browser.follow(await browser.get(url))
    unknown = await browser.http.post("/login/passkey", data={
        **hidden_fields(login.text), "credential": stranger.get(_options(login.text, "sign-in"))})
    assert unknown.status_code == 400
    await client.aclose()

    async with front.provider.uow_factory() as uow:
        envelopes = [json.loads(e) for e in (await uow.session.execute(
            select(OUTBOX.c.envelope).order_by(OUTBOX.c.seq))).scalars()]
    failed = [e["data"] for e in envelopes if e["type"] == "montreal.identity.v1.login_failed"
              and e["data"].get("reason") == "passkey_refused"]
    assert {"reason": "passkey_refused", "resident_id": resident_id} in failed
    assert any(f.get("resident_id") is None for f in failed)  # the stranger's key names no one
    [row] = [r for r in await history.history(resident_id, front.uow()) if r.outcome != "succeeded"]
    assert row.reason == "passkey_refused" and row.methods == ("passkey",) and row.acr is None
    assert counted.count({"outcome": "failed", "method": "passkey", "reason": "passkey_refused"}) == 2
