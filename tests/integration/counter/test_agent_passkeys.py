"""An agent's passkey (issue 20, point 2): registered at the console after the password, then
the second factor at /counter/login instead of the TOTP code; a passkey that is not the
agent's is refused with a message."""

from __future__ import annotations

import html
import re

from services.identity.domain.passkeys import AGENT
from services.identity.oidc.tokens import secret_hash
from tests.integration.counter.conftest import PASSWORD, AgentBrowser, new_agent
from tests.integration.identity_oidc.conftest import hidden_fields
from tests.integration.soft_authenticator import SoftAuthenticator


def _options(page: str, kind: str) -> str:
    return html.unescape(re.search(r'data-passkey="' + kind + r'" data-options="([^"]*)"', page).group(1))


async def test_an_agent_registers_a_passkey_and_uses_it_as_the_second_factor(front):
    agent = await new_agent(front)
    soft = SoftAuthenticator(front.base)
    browser = AgentBrowser(front.base)
    try:
        await browser.sign_in(agent)
        page = await browser.http.get("/counter/passkeys")
        assert page.status_code == 200 and 'data-passkey="register"' in page.text
        wrong = await browser.http.post("/counter/passkeys", data={
            **hidden_fields(page.text), "passkey_name": "YubiKey", "passkey_password": "pas le bon",
            "credential": soft.create(_options(page.text, "register"))})
        assert wrong.status_code == 400 and 'href="#passkey_password"' in wrong.text
        page = await browser.http.get("/counter/passkeys")
        added = await browser.http.post("/counter/passkeys", data={
            **hidden_fields(page.text), "passkey_name": "YubiKey", "passkey_password": PASSWORD,
            "credential": soft.create(_options(page.text, "register"))})
        assert added.status_code == 303 and added.headers["location"] == "/counter/passkeys?done=added"
        listed = await browser.http.get(added.headers["location"])
        assert "YubiKey" in listed.text and "Clé d&#39;accès ajoutée" in listed.text
        await browser.sign_out()
    finally:
        await browser.close()
    browser = AgentBrowser(front.base)
    try:
        response = await browser.password(agent)
        assert response.headers["location"] == "/counter/second-factor"
        second = await browser.http.get("/counter/second-factor")
        assert 'data-passkey="second-factor"' in second.text and 'name="code"' in second.text
        stranger = await browser.http.post("/counter/second-factor/passkey", data={
            **hidden_fields(second.text), "credential": SoftAuthenticator(front.base).get(
                _options(second.text, "second-factor"))})
        assert stranger.status_code == 400 and "pas enregistrée à votre nom" in html.unescape(stranger.text)
        assert (await browser.http.get("/counter")).status_code == 303  # still not at level 3
        second = await browser.http.get("/counter/second-factor")
        done = await browser.http.post("/counter/second-factor/passkey", data={
            **hidden_fields(second.text), "credential": soft.get(_options(second.text, "second-factor"))})
        assert done.status_code == 303 and done.headers["location"] == "/counter"
        assert (await browser.http.get("/counter")).status_code == 200
        async with front.uow() as uow:
            session = await uow.agent_sessions.by_secret_hash(secret_hash(browser.http.cookies["mtlid_counter"]))
            keys = await uow.passkeys.of(AGENT, agent.agent_id)
        assert list(session.amr) == ["pwd", "hwk", "user", "mfa"]
        assert keys[0].last_used_at is not None and keys[0].sign_count == 1
    finally:
        await browser.close()
