"""The demo montreal.ca relying party, served by uvicorn, against the real provider."""

from __future__ import annotations

import asyncio

import httpx

from services.identity.demo_rp.app import create_demo_app, demo_client_spec
from services.identity.domain.clients import OAuthClient
from services.identity.http.app import serve
from tests.integration.identity_oidc.conftest import PASSWORD, free_port, hidden_fields


async def test_demo_rp_signs_a_resident_in_and_shows_the_claims(front):
    port = free_port()
    async with front.uow() as uow:
        await uow.clients.add(OAuthClient(secret_hash=None, **demo_client_spec(port)))
        await uow.commit()
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(create_demo_app(front.base, port), "127.0.0.1", port, stop, started=started))
    await asyncio.wait_for(started.wait(), 10)
    rp = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(follow_redirects=True, timeout=10) as browser:
            home = await browser.get(rp + "/")
            assert "Se connecter avec mon compte Montréal" in home.text
            login = await browser.get(rp + "/login")
            assert str(login.url).startswith(front.base + "/login")
            consent = await browser.post(front.base + "/login", data={**hidden_fields(login.text),
                                                                      "email": front.resident.email,
                                                                      "password": PASSWORD})
            assert str(consent.url).startswith(front.base + "/consent")
            done = await browser.post(front.base + "/consent", data={**hidden_fields(consent.text),
                                                                     "scope": ["email"], "decision": "accept"})
            assert str(done.url) == rp + "/"
            # a readable list of what it received, not JSON; a city client: the public identifier
            assert f'<dd id="claim-sub">{front.resident.resident_id}</dd>' in done.text
            assert f'<dd id="claim-email">{front.resident.email}</dd>' in done.text
            assert "<dt>Niveau de vérification de votre identité</dt>" in done.text and "niveau 1" in done.text
            assert "<pre>" not in done.text and "{" not in done.text.split("<main>")[1]
            for path in ("/account", "/account/services", "/account/access"):
                assert f'href="{front.base}{path}?lang=fr"' in done.text
            english = await browser.get(rp + "/?lang=en")
            assert '<html lang="en">' in english.text and "What montreal.ca received about you" in english.text
            assert "Connected services" in english.text and "Who saw my data" in english.text
            out = await browser.get(rp + "/logout")
            assert str(out.url) == rp + "/" and "Sign in with my Montréal account" in out.text  # remembered
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
