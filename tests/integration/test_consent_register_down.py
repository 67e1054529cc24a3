"""Issue 15, point 5, as processes: the consent register (the consent service) is stopped while
a resident needs the consent screen of a client with purposes. The resident gets a clear 503
page, French first (try again, or go back to the service); going back gives the client RFC
6749 s. 4.1.2.1 ``temporarily_unavailable`` with its ``state`` and ``iss`` (RFC 9207); nothing
is recorded. Once consent runs, "try again" shows the consent screen."""

from __future__ import annotations

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from sqlalchemy import select

from services.common.db import create_engine
from services.common.migrations import migrate_async
from services.common.nats import EmbeddedNats
from services.common.testing.databases import temporary_database
from services.common.uow import OUTBOX
from tests.integration.identity_oidc.conftest import Browser, hidden_fields
from tests.integration.test_release_ledger import PASSWORD, REDIRECT, Processes, _http_up, _until


async def _grant_events(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(OUTBOX.c.subject))).all()
    finally:
        await engine.dispose()
    return [r.subject for r in rows if r.subject.endswith(("grant_given", "data_released"))]


async def test_consent_screen_with_the_register_stopped(tmp_path):
    nats = EmbeddedNats(tmp_path / "nats").start()
    async with temporary_database("identity", tmp_path) as identity_url, \
            temporary_database("consent", tmp_path) as consent_url:
        await migrate_async("identity", identity_url)
        await migrate_async("consent", consent_url)
        run = Processes(tmp_path, nats.url, {"identity": identity_url, "consent": consent_url})
        browser = Browser(run.issuer)
        client = AsyncOAuth2Client(client_id="quartier-app", scope="openid email", redirect_uri=REDIRECT,
                                   code_challenge_method="S256", token_endpoint_auth_method="none")
        try:
            run.cli("resident", "create", "--email", "zoe@example.ca", "--password", PASSWORD, "--verified")
            run.cli("client", "create", "--name", "Appli de quartier", "--client-id", "quartier-app", "--public",
                    "--redirect-uri", REDIRECT, "--grant-type", "authorization_code", "--scope", "openid",
                    "--scope", "email", "--purpose", "service-provision", "--purpose", "communication")
            run.start("identity")                       # consent is not running
            await _until(lambda: _http_up(run.issuer))
            url, state = client.create_authorization_url(run.issuer + "/authorize", code_verifier=generate_token(48))
            page = await browser.login(await browser.follow(await browser.get(url)), "zoe@example.ca", PASSWORD)
            page = await browser.follow(page)
            assert "/consent" in str(page.url)
            assert page.status_code == 503 and page.headers["retry-after"] == "30"
            assert 'lang="fr"' in page.text and "Service temporairement indisponible" in page.text
            assert "Rien n'a été partagé" in page.text.replace("&#39;", "'")
            assert 'name="choice"' not in page.text        # no purpose offered in words we do not hold

            # go back to the service: temporarily_unavailable, with state and iss
            back = await browser.http.post(run.issuer + "/consent", data={**hidden_fields(page.text),
                                                                         "decision": "return"})
            assert back.status_code == 302
            answer = httpx.URL(back.headers["location"])
            assert str(answer).startswith(REDIRECT)
            assert answer.params["error"] == "temporarily_unavailable"
            assert answer.params["state"] == state and answer.params["iss"] == run.issuer
            assert await _grant_events(identity_url) == []      # nothing recorded, nothing released

            # the register back: "try again" shows the consent screen
            run.start("consent")
            interaction = hidden_fields(page.text)["interaction"]

            async def screen():
                again = await browser.http.get(run.issuer + "/consent", params={"interaction": interaction})
                return again if again.status_code == 200 else None

            again = await _until(screen, timeout=30)
            assert "Ce qui est nécessaire au service" in again.text
        finally:
            await browser.close()
            await client.aclose()
            run.stop_all()
            nats.stop(timeout=2)
