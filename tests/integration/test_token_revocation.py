"""Issue 15, point 3, across real processes (``mtlid up``: identity, accounts, consent, NATS):
a resident's access token that works at accounts stops working there within 5 s once the
resident ends the connection in Mon compte — accounts verifies tokens itself and learns the
revocation from identity's ``tokens_revoked`` event (through the outbox, no token value in it).
Identity itself (userinfo, introspection) refuses the token at once.

The relying party asks for its token to be valid at accounts too (RFC 8707 ``resource`` at the
token request, one of its registered audiences) and holds ``accounts:release``."""

from __future__ import annotations

import asyncio
import time

import grpc
import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

from montreal.accounts.v1 import accounts_pb2 as apb
from montreal.accounts.v1 import accounts_pb2_grpc
from services.common.grpc.client import rpc_error_details
from tests.e2e.system import System
from tests.integration.account_pages.conftest import hidden_fields

PASSWORD = "a long enough password 2026"
REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    running = System(str(tmp_path_factory.mktemp("services") / "var"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def _follow(http: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    while response.status_code in (302, 303) and response.headers["location"].startswith("/"):
        response = await http.get(response.headers["location"])
    return response


async def _accounts_call(system, token: str):
    """ListServices with the token: (status code, ErrorInfo reason)."""
    async with grpc.aio.insecure_channel(system.target("accounts")) as channel:
        stub = accounts_pb2_grpc.AccountsServiceStub(channel)
        try:
            await stub.ListServices(apb.ListServicesRequest(), metadata=(("authorization", f"Bearer {token}"),),
                                    timeout=5)
            return grpc.StatusCode.OK, None
        except grpc.aio.AioRpcError as error:
            code, _violations, reason = rpc_error_details(error)
            return code, reason


async def test_ending_the_connection_stops_the_access_token_at_accounts_within_5_s(system):
    system.cli("resident", "create", "--email", "lea@example.ca", "--password", PASSWORD, "--verified")
    system.cli("client", "create", "--name", "Vélo partage", "--client-id", "velo-app", "--public",
               "--redirect-uri", REDIRECT, "--grant-type", "authorization_code", "--scope", "openid",
               "--scope", "email", "--scope", "accounts:release", "--audience", "urn:mtlid:accounts")
    http = httpx.AsyncClient(base_url=system.issuer, follow_redirects=False, timeout=15)
    rp = AsyncOAuth2Client(client_id="velo-app", scope="openid email accounts:release", redirect_uri=REDIRECT,
                           code_challenge_method="S256", token_endpoint_auth_method="none")
    try:
        verifier = generate_token(48)
        url, _ = rp.create_authorization_url(system.issuer + "/authorize", code_verifier=verifier)
        page = await _follow(http, await http.get(url))
        page = await _follow(http, await http.post("/login", data={**hidden_fields(page.text),
                                                                   "email": "lea@example.ca", "password": PASSWORD}))
        if "/consent" in str(page.url):
            page = await http.post("/consent", data={**hidden_fields(page.text), "decision": "accept"})
            while page.status_code in (302, 303) and page.headers["location"].startswith("/"):
                page = await http.get(page.headers["location"])
        assert page.status_code == 302 and page.headers["location"].startswith(REDIRECT), page.text[:500]
        tokens = await rp.fetch_token(system.issuer + "/token", authorization_response=page.headers["location"],
                                      code_verifier=verifier, resource="urn:mtlid:accounts")
        access = tokens["access_token"]
        assert "accounts:release" in tokens["scope"].split()

        # it works at accounts (verified there, with no call to identity) and at identity
        assert await _accounts_call(system, access) == (grpc.StatusCode.OK, None)
        assert (await http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})).status_code == 200

        # the resident ends the connection in "Services connectés" (same browser session)
        services = await http.get("/account/services")
        assert services.status_code == 200 and "Vélo partage" in services.text, services.text[:300]
        ended = await http.post("/account/services/end", data={
            "csrf_token": hidden_fields(services.text)["csrf_token"], "service": "client:velo-app"})
        assert ended.headers["location"] == "/account/services?done=ended"
        started = time.monotonic()

        # identity refuses it at once
        answer = await http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
        assert answer.status_code == 401

        # accounts within 5 s
        while True:
            code, reason = await _accounts_call(system, access)
            if code != grpc.StatusCode.OK or time.monotonic() - started > 5.0:
                break
            await asyncio.sleep(0.1)
        assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")
        assert time.monotonic() - started < 5.0
    finally:
        await rp.aclose()
        await http.aclose()
