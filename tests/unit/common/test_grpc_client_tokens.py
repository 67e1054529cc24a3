"""Client side: OAuth 2.0 client-credentials tokens (RFC 6749 s.4.4, RFC 8707), cached."""

from __future__ import annotations

import asyncio
import base64
import urllib.parse

import httpx
import pytest

from services.common import errors
from services.common.grpc import client as client_module
from services.common.grpc.client import ClientCredentialsTokens


class FakeTokenEndpoint:
    def __init__(self, status: int = 200, expires_in: int = 300) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.expires_in = expires_in

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "invalid_client"})
        return httpx.Response(200, json={"access_token": f"token-{len(self.requests)}", "token_type": "Bearer",
                                         "expires_in": self.expires_in})

    def tokens(self, secret: str = "s3cret:with/odd chars") -> ClientCredentialsTokens:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return ClientCredentialsTokens("http://identity.test/token", "mtlid-accounts", secret,
                                       scope="consent:broker", audience="urn:mtlid:consent", client=http)


async def test_the_grant_request_follows_rfc6749_and_rfc8707():
    endpoint = FakeTokenEndpoint()
    assert await endpoint.tokens()() == "token-1"
    [request] = endpoint.requests
    form = urllib.parse.parse_qs(request.content.decode())
    assert form == {"grant_type": ["client_credentials"], "scope": ["consent:broker"],
                    "resource": ["urn:mtlid:consent"]}
    scheme, _, credentials = request.headers["authorization"].partition(" ")
    user, _, password = base64.b64decode(credentials).decode().partition(":")
    assert scheme == "Basic"
    # RFC 6749 s.2.3.1: id and secret are form-encoded before Basic encoding
    assert (urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)) == (
        "mtlid-accounts", "s3cret:with/odd chars")


async def test_tokens_are_cached_until_shortly_before_expiry(monkeypatch):
    endpoint = FakeTokenEndpoint(expires_in=300)
    tokens = endpoint.tokens()
    now = [1000.0]
    monkeypatch.setattr(client_module.time, "monotonic", lambda: now[0])
    assert [await tokens() for _ in range(3)] == ["token-1"] * 3
    now[0] += 300 - 31
    assert await tokens() == "token-1"
    now[0] += 2  # inside the refresh margin
    assert await tokens() == "token-2"
    assert len(endpoint.requests) == 2


async def test_concurrent_callers_share_one_request():
    endpoint = FakeTokenEndpoint()
    tokens = endpoint.tokens()
    assert set(await asyncio.gather(*(tokens() for _ in range(10)))) == {"token-1"}
    assert len(endpoint.requests) == 1


async def test_a_refusal_is_unavailable_and_never_shows_the_secret():
    endpoint = FakeTokenEndpoint(status=401)
    tokens = endpoint.tokens(secret="do-not-print-me")
    with pytest.raises(errors.Unavailable) as caught:
        await tokens()
    assert "invalid_client" in caught.value.message
    assert "do-not-print-me" not in caught.value.message and "do-not-print-me" not in repr(tokens)
