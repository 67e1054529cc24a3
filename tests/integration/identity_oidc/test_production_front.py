"""The identity front as production serves it (``MTLID_ENV`` other than development): HSTS
from the app itself on every response (probe finding 6), over the real HTTP server."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.identity.http.app import create_app, serve
from tests.integration.identity_oidc.conftest import SECRET, free_port


@pytest.fixture(scope="module")
async def production_base(front):
    """A second front on the same provider and database, with production's transport rules."""
    port = free_port()
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(create_app(front.provider, secure_cookies=True), "127.0.0.1", port, stop,
                                     started=started))
    await asyncio.wait_for(started.wait(), 10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_hsts_on_pages_protocol_and_direct_endpoints(production_base):
    async with httpx.AsyncClient(base_url=production_base) as http:
        responses = [await http.get("/.well-known/openid-configuration"), await http.get("/login"),
                     await http.get("/no-such-page"),
                     await http.post("/token", data={"grant_type": "client_credentials"}, auth=("single-aud", SECRET))]
    for response in responses:
        assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains", \
            response.request.url
    assert responses[3].status_code == 200


async def test_no_hsts_in_development(front):
    async with httpx.AsyncClient(base_url=front.base) as http:
        response = await http.get("/.well-known/openid-configuration")
    assert "strict-transport-security" not in response.headers
