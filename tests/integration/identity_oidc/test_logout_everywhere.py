"""Logout everywhere: OpenID Connect Back-Channel Logout 1.0 and Front-Channel Logout 1.0,
over the real provider, real relying parties served by uvicorn (the demo RP, a receiver),
and the sender that delivers the recorded logout tokens with retries."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.identity.adapters.logout_delivery import BackchannelLogoutSender
from services.identity.demo_rp.app import create_demo_app, demo_client_spec
from services.identity.domain.clients import OAuthClient, hash_client_secret
from services.identity.http.app import serve
from services.identity.domain.assurance import LevelOfAssurance
from tests.integration.identity_oidc.conftest import (PASSWORD, SECRET, Browser, add_resident, free_port,
                                                      hidden_fields)
from tests.integration.identity_oidc.flows import rp_client, tokens_for

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@contextlib.asynccontextmanager
async def served(app):
    port = free_port()
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(app, "127.0.0.1", port, stop, started=started))
    await asyncio.wait_for(started.wait(), 10)
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def sender(front, **options):
    """The back-channel sender as ``mtlid serve identity`` runs it (fast retries for tests)."""
    running = BackchannelLogoutSender(front.provider, interval=0.2, **options)
    stop = asyncio.Event()
    front.provider.on_logout = running.wake
    task = asyncio.create_task(running.run(stop))
    try:
        yield running
    finally:
        front.provider.on_logout = None
        stop.set()
        await asyncio.wait_for(task, 10)


async def add_client(front, client: OAuthClient) -> None:
    async with front.uow() as uow:
        if await uow.clients.get(client.client_id) is None:
            await uow.clients.add(client)
            await uow.commit()


async def eventually(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("not within the time limit")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def demo_rp(front):
    """The demo RP served on a free port, registered at the provider for that port (the module
    shares one provider: the client's URIs follow the RP's port of the test)."""
    from services.identity.adapters.orm import ClientRow

    port = free_port()
    spec = demo_client_spec(port)
    async with front.uow() as uow:
        row = await uow.session.get(ClientRow, spec["client_id"])
        if row is None:
            await uow.clients.add(OAuthClient(secret_hash=None, **spec))
        else:
            row.redirect_uris = list(spec["redirect_uris"])
            row.post_logout_redirect_uris = list(spec["post_logout_redirect_uris"])
            row.backchannel_logout_uri = spec["backchannel_logout_uri"]
        await uow.commit()
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(create_demo_app(front.base, port), "127.0.0.1", port, stop, started=started))
    await asyncio.wait_for(started.wait(), 10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def signed_in_at_demo(front, http: httpx.AsyncClient, demo: str, email: str) -> None:
    """The resident signs in at the demo RP with their password (and accepts its consent screen)."""
    login = await http.get(demo + "/login", follow_redirects=True)
    landed = await http.post(front.base + "/login", data={
        **hidden_fields(login.text), "email": email, "password": PASSWORD}, follow_redirects=True)
    if str(landed.url).startswith(front.base + "/consent"):
        landed = await http.post(front.base + "/consent", data={**hidden_fields(landed.text), "decision": "accept"},
                                 follow_redirects=True)
    assert str(landed.url) == demo + "/" and "Bonjour" in landed.text, (landed.url, landed.text[-1500:])


async def test_rp_initiated_logout_signs_the_resident_out_of_a_second_rp(front):
    """The resident signs in to the demo RP and to montreal.ca in one browser; signing out at
    montreal.ca (RP-initiated logout) reaches the demo RP by back channel: it shows them
    signed out, and the delivery is recorded."""
    demo_port = free_port()
    await add_client(front, OAuthClient(secret_hash=None, **demo_client_spec(demo_port)))
    stop, started = asyncio.Event(), asyncio.Event()
    demo_task = asyncio.create_task(serve(create_demo_app(front.base, demo_port), "127.0.0.1", demo_port, stop,
                                          started=started))
    await asyncio.wait_for(started.wait(), 10)
    demo = f"http://127.0.0.1:{demo_port}"
    try:
        resident_browser = Browser(front.base)
        browser = resident_browser.http
        async with sender(front):
            login = await browser.get(demo + "/login", follow_redirects=True)
            consent = await browser.post(front.base + "/login", data={
                **hidden_fields(login.text), "email": front.resident.email, "password": PASSWORD}, follow_redirects=True)
            home = await browser.post(front.base + "/consent", data={**hidden_fields(consent.text), "decision": "accept"},
                                      follow_redirects=True)
            assert str(home.url) == demo + "/" and "Bonjour" in home.text
            # the same browser signs in to montreal.ca (SSO: no password asked), then signs out there
            client = rp_client(scope="openid")
            tokens = await tokens_for(front, resident_browser, client)
            await client.aclose()
            out = await browser.get(front.base + "/end-session", params={
                "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:9/bye"},
                follow_redirects=False)
            assert out.status_code == 302

            async def demo_signed_out():
                return "Se connecter avec mon compte Montréal" in (await browser.get(demo + "/")).text
            await eventually(demo_signed_out)
        await resident_browser.close()
        sid = jwt.decode(tokens["id_token"], KeySet.import_key_set(front.provider.keys.jwks())).claims["sid"]
        async with front.uow() as uow:
            deliveries = await uow.logout_deliveries.for_session(sid)
        assert [(d.client_id, d.attempts, d.delivered_at is not None) for d in deliveries] == [
            ("demo-montreal-ca", 1, True)]
    finally:
        stop.set()
        await asyncio.wait_for(demo_task, 10)


async def test_sign_out_everywhere_in_mon_compte_signs_another_device_out_of_the_demo_rp(front):
    """Issue 20: a resident's "sign out everywhere" in Mon compte (the button on
    /account/security, pressed on a second device) ends the session the demo RP was signed in
    with on the first device, and the demo RP learns it by back channel (a logout token with
    that session's sid): its page shows the resident signed out. The delivery is recorded."""
    from services.identity.oidc.tokens import secret_hash

    email = "partout@example.ca"
    await add_resident(front.uow, email, LevelOfAssurance.SELF_ASSERTED, False)
    laptop, phone = Browser(front.base), Browser(front.base)
    try:
        async with demo_rp(front) as demo, sender(front):
            await signed_in_at_demo(front, laptop.http, demo, email)       # the laptop, at the demo RP
            laptop_session = laptop.http.cookies["mtlid_session"]
            # the phone signs in to Mon compte and presses "sign out everywhere" there
            page = await phone.http.get("/account/login", params={"next": "/account/security"})
            signed_in = await phone.http.post("/account/login", data={
                **hidden_fields(page.text), "email": email, "password": PASSWORD})
            assert signed_in.status_code in (302, 303), signed_in.text[-2000:]
            security = await phone.http.get("/account/security")
            assert security.status_code == 200 and 'action="/logout/everywhere"' in security.text
            assert (await phone.submit(security, "/logout/everywhere")).status_code == 200

            async def demo_signed_out():
                return "Se connecter avec mon compte Montréal" in (await laptop.http.get(demo + "/")).text
            await eventually(demo_signed_out)
        # the laptop's own provider session is over too, and so is the phone's
        assert (await laptop.http.get("/account")).headers["location"].startswith("/account/login")
        assert (await phone.http.get("/account")).headers["location"].startswith("/account/login")
        async with front.uow() as uow:
            ended = await uow.sessions.by_secret_hash(secret_hash(laptop_session))
            deliveries = await uow.logout_deliveries.for_session(ended.session_id)
        assert ended.ended_at is not None
        assert [(d.client_id, d.delivered_at is not None) for d in deliveries] == [("demo-montreal-ca", True)]
    finally:
        await laptop.close()
        await phone.close()


async def test_the_demo_rp_refuses_forged_misdirected_and_replayed_logout_tokens(front):
    """Back-Channel Logout 1.0 s. 2.6 and 2.8 at the demo RP: a token it cannot trust is a 400
    and signs no one out (another key, an ID token's type, no logout event, another audience or
    issuer, expired, no sid nor sub, a nonce); the provider's own token signs the resident out,
    once (a replay is a 400)."""
    from services.identity.oidc.logout import mint_logout_token
    from services.identity.oidc.tokens import secret_hash

    email = "jeton.faux@example.ca"
    resident = await add_resident(front.uow, email, LevelOfAssurance.SELF_ASSERTED, False)
    resident_browser = Browser(front.base)
    browser = resident_browser.http
    try:
        async with demo_rp(front) as demo:
            await signed_in_at_demo(front, browser, demo, email)
            async with front.uow() as uow:
                client = await uow.clients.get("demo-montreal-ca")
                session = await uow.sessions.by_secret_hash(secret_hash(browser.cookies["mtlid_session"]))
            genuine = mint_logout_token(front.provider.keys, front.provider.config, client=client,
                                        resident_id=resident.resident_id, session_id=session.session_id)
            claims = jwt.decode(genuine, KeySet.import_key_set(front.provider.keys.jwks())).claims
            kid, provider_key = front.provider.keys.current("ES256")
            forger = ECKey.generate_key("P-256", parameters={"kid": kid})

            def signed(key=provider_key, typ="logout+jwt", **changes) -> str:
                body = {k: v for k, v in {**claims, "jti": str(uuid.uuid4()), **changes}.items() if v is not None}
                return jwt.encode({"alg": "ES256", "kid": kid, "typ": typ}, body, key)
            cases = {
                "missing": None,
                "signed by another key": signed(key=forger),
                "an ID token's type": signed(typ="JWT"),
                "no logout event": signed(events=None),
                "another audience": signed(aud="someone-else"),
                "another issuer": signed(iss="https://elsewhere.example"),
                "expired": signed(iat=int(time.time()) - 600, exp=int(time.time()) - 300),
                "no sid nor sub": signed(sid=None, sub=None),
                "a nonce": signed(nonce="n"),
            }
            async with httpx.AsyncClient() as rp:
                for name, token in cases.items():
                    data = {} if token is None else {"logout_token": token}
                    refused = await rp.post(demo + "/backchannel-logout", data=data)
                    assert refused.status_code == 400 and refused.json() == {"error": "invalid_request"}, name
                assert "Bonjour" in (await browser.get(demo + "/")).text        # still signed in
                # the same claims, signed by the provider's key, unchanged: each refusal above was its change
                control = signed()
                accepted = await rp.post(demo + "/backchannel-logout", data={"logout_token": control})
                assert accepted.status_code == 200
                assert "Se connecter avec mon compte Montréal" in (await browser.get(demo + "/")).text
                replayed = await rp.post(demo + "/backchannel-logout", data={"logout_token": control})
                assert replayed.status_code == 400
    finally:
        await resident_browser.close()


async def test_sign_out_everywhere_delivers_a_valid_logout_token_with_retries(front, browser):
    """Recorded with the logout (the sender need not be running), retried with backoff
    while the RP fails, delivered once it answers 200; the token verifies as the spec says."""
    received: list[tuple[float, str]] = []

    async def receiver(request: Request) -> Response:
        form = await request.form()
        received.append((time.monotonic(), form.get("logout_token")))
        return Response(status_code=503 if len(received) <= 2 else 200)

    async with served(Starlette(routes=[Route("/bcl", receiver, methods=["POST"])])) as (rp, _port):
        await add_client(front, OAuthClient(
            client_id="permits-backend", name="Permis", secret_hash=hash_client_secret(SECRET),
            redirect_uris=("http://127.0.0.1:9/permits",), grant_types=("authorization_code",), scopes=("openid",),
            backchannel_logout_uri=rp + "/bcl"))
        client = rp_client(client_id="permits-backend", scope="openid", redirect_uri="http://127.0.0.1:9/permits")
        tokens = await tokens_for(front, browser, client)
        await client.aclose()
        page = await browser.get(front.base + "/end-session")
        assert (await browser.submit(page, "/logout/everywhere")).status_code == 200
        assert received == []                                      # not sent yet: recorded
        async with sender(front, base_delay=0.3):
            await eventually(lambda: asyncio.sleep(0, len(received) >= 3))
        gaps = [b[0] - a[0] for a, b in zip(received, received[1:])]
        # exponential backoff: each wait at least twice the last (lower bounds: load only adds)
        assert gaps[0] >= 0.3 * 0.95 and gaps[1] >= 0.6 * 0.95, gaps
    keys = KeySet.import_key_set(front.provider.keys.jwks())
    id_claims = jwt.decode(tokens["id_token"], keys).claims
    decoded = jwt.decode(received[-1][1], keys)
    claims = decoded.claims
    assert decoded.header["typ"] == "logout+jwt"
    assert claims["iss"] == front.base and claims["aud"] == "permits-backend"
    assert claims["sub"] == id_claims["sub"] and claims["sid"] == id_claims["sid"]
    assert claims["events"] == {EVENT: {}} and "nonce" not in claims
    assert claims["exp"] > claims["iat"] >= time.time() - 60 and claims["jti"]
    assert len({jwt.decode(token, keys).claims["jti"] for _, token in received}) == 3   # fresh at each attempt
    async with front.uow() as uow:
        [delivery] = [d for d in await uow.logout_deliveries.for_session(id_claims["sid"])
                      if d.client_id == "permits-backend"]
    assert delivery.attempts == 3 and delivery.delivered_at is not None and delivery.last_error == ""


async def test_a_delivery_that_keeps_failing_is_given_up_and_recorded(front, browser):
    await add_client(front, OAuthClient(
        client_id="gone-backend", name="Disparu", secret_hash=hash_client_secret(SECRET),
        redirect_uris=("http://127.0.0.1:9/gone",), grant_types=("authorization_code",), scopes=("openid",),
        backchannel_logout_uri=f"http://127.0.0.1:{free_port()}/bcl"))   # nothing listens there
    client = rp_client(client_id="gone-backend", scope="openid", redirect_uri="http://127.0.0.1:9/gone")
    tokens = await tokens_for(front, browser, client)
    await client.aclose()
    page = await browser.get(front.base + "/end-session")
    assert (await browser.submit(page, "/logout/everywhere")).status_code == 200
    sid = jwt.decode(tokens["id_token"], KeySet.import_key_set(front.provider.keys.jwks())).claims["sid"]

    async def given_up():
        async with front.uow() as uow:
            return [d for d in await uow.logout_deliveries.for_session(sid) if d.gave_up_at is not None]
    async with sender(front, base_delay=0.05, max_attempts=3):
        [delivery] = await eventually(given_up)
    assert delivery.attempts == 3 and delivery.delivered_at is None
    assert delivery.last_error.startswith("request failed")


async def test_front_channel_logout_frames_each_client_with_iss_and_sid(front, browser):
    await add_client(front, OAuthClient(
        client_id="library-portal", name="Bibliothèques (portail)", secret_hash=hash_client_secret(SECRET),
        redirect_uris=("http://127.0.0.1:9/portal",), post_logout_redirect_uris=("http://127.0.0.1:9/portal/bye",),
        grant_types=("authorization_code",), scopes=("openid",),
        frontchannel_logout_uri="https://portail.example.ca/logout?from=mtlid"))
    client = rp_client(client_id="library-portal", scope="openid", redirect_uri="http://127.0.0.1:9/portal")
    tokens = await tokens_for(front, browser, client)
    await client.aclose()
    sid = jwt.decode(tokens["id_token"], KeySet.import_key_set(front.provider.keys.jwks())).claims["sid"]
    page = await browser.get(str(httpx.URL(front.base + "/end-session", params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:9/portal/bye",
        "state": "s9"})))
    assert page.status_code == 200                       # a page with the frames, not a redirect
    frame = httpx.URL(page.text.split('class="frontchannel-logout" src="', 1)[1].split('"', 1)[0].replace("&amp;", "&"))
    assert frame.host == "portail.example.ca" and frame.path == "/logout"
    assert dict(frame.params) == {"from": "mtlid", "iss": front.base, "sid": sid}
    assert "frame-src https://portail.example.ca" in page.headers["content-security-policy"]
    assert 'href="http://127.0.0.1:9/portal/bye?state=s9"' in page.text   # the way back, a link
    assert "mtlid_session=" in page.headers.get("set-cookie", "")        # the session cookie is cleared
    # the session is over
    check_url, _ = rp_client(client_id="library-portal", scope="openid",
                             redirect_uri="http://127.0.0.1:9/portal").create_authorization_url(
        front.base + "/authorize", code_verifier="v" * 50, prompt="none")
    assert httpx.URL((await browser.get(check_url)).headers["location"]).params["error"] == "login_required"


async def test_sign_out_everywhere_in_mon_compte_frames_this_browsers_front_channel_clients(front):
    """Issue 20: "sign out everywhere" in Mon compte triggers front-channel logout too: the
    signed-out page frames the front-channel logout URI of each client this browser's session
    signed in to, with iss and sid, and the page's CSP allows exactly their origins."""
    from services.identity.oidc.tokens import secret_hash

    email = "cadres.partout@example.ca"
    await add_resident(front.uow, email, LevelOfAssurance.SELF_ASSERTED, False)
    await add_client(front, OAuthClient(
        client_id="arenas-portal", name="Arénas (portail)", secret_hash=hash_client_secret(SECRET),
        redirect_uris=("http://127.0.0.1:9/arenas",), grant_types=("authorization_code",), scopes=("openid",),
        frontchannel_logout_uri="https://arenas.example.ca/logout"))
    resident_browser = Browser(front.base)
    try:
        client = rp_client(client_id="arenas-portal", scope="openid", redirect_uri="http://127.0.0.1:9/arenas")
        url, _ = client.create_authorization_url(front.base + "/authorize", code_verifier="v" * 50)
        await client.aclose()
        login = await resident_browser.follow(await resident_browser.get(url))
        consent = await resident_browser.login(login, email)
        if "/consent" in str(consent.url):
            consent = await resident_browser.consent(consent, [], [])
        assert consent.headers["location"].startswith("http://127.0.0.1:9/arenas?code=")
        async with front.uow() as uow:
            session = await uow.sessions.by_secret_hash(secret_hash(resident_browser.http.cookies["mtlid_session"]))
        security = await resident_browser.get("/account/security")
        assert security.status_code == 200
        page = await resident_browser.submit(security, "/logout/everywhere")
        assert page.status_code == 200
        frame = httpx.URL(page.text.split('class="frontchannel-logout" src="', 1)[1].split('"', 1)[0]
                          .replace("&amp;", "&"))
        assert frame.host == "arenas.example.ca" and frame.path == "/logout"
        assert dict(frame.params) == {"iss": front.base, "sid": session.session_id}
        assert "frame-src https://arenas.example.ca" in page.headers["content-security-policy"]
        assert (await resident_browser.get("/account")).headers["location"].startswith("/account/login")
    finally:
        await resident_browser.close()


async def test_discovery_advertises_logout_everywhere(front):
    async with httpx.AsyncClient() as http:
        meta = (await http.get(front.base + "/.well-known/openid-configuration")).json()
    for name in ("backchannel_logout_supported", "backchannel_logout_session_supported",
                 "frontchannel_logout_supported", "frontchannel_logout_session_supported"):
        assert meta[name] is True, name

