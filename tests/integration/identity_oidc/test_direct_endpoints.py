"""``POST /token`` and ``POST /introspect`` answered straight on ASGI (``http/direct.py``):
the same answers, headers and limits as every other endpoint, through a real uvicorn."""

from __future__ import annotations

import httpx

from tests.integration.identity_oidc.conftest import SECRET

CLIENT = ("borough-system", SECRET)
GRANT = {"grant_type": "client_credentials", "scope": "accounts:release", "resource": "urn:mtlid:accounts"}
SECURITY = {"content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy"}


async def _post(front, path: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(front.base + path, **kwargs)


async def test_a_token_answer_carries_the_security_cache_and_cors_headers(front):
    response = await _post(front, "/token", data=GRANT, auth=CLIENT)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    assert SECURITY <= set(response.headers)
    assert response.headers["cache-control"] == "no-store"          # RFC 6749 s. 5.1
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["content-type"] == "application/json"
    introspected = await _post(front, "/introspect", data={"token": response.json()["access_token"]}, auth=CLIENT)
    assert introspected.json()["active"] is True
    assert SECURITY <= set(introspected.headers)
    assert "access-control-allow-origin" not in introspected.headers   # not for browsers


async def test_a_chunked_body_is_read_whole(front):
    body = "&".join(f"{k}={v}" for k, v in GRANT.items()).encode()

    async def chunks():
        for start in range(0, len(body), 7):
            yield body[start:start + 7]

    response = await _post(front, "/token", content=chunks(), auth=CLIENT,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "accounts:release"


async def test_a_body_past_64_kib_is_refused_before_it_is_read_whole(front):
    for content in (b"grant_type=client_credentials&pad=" + b"x" * 70_000,):
        response = await _post(front, "/token", content=content, auth=CLIENT,
                               headers={"content-type": "application/x-www-form-urlencoded"})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"

    async def endless():
        yield b"grant_type=client_credentials&pad="
        for _ in range(20):
            yield b"x" * 8192

    response = await _post(front, "/introspect", content=endless(), auth=CLIENT,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_too_many_fields_or_repeated_parameters_are_invalid_requests(front):
    crowded = "&".join(f"f{n}=1" for n in range(150))
    response = await _post(front, "/token", content=crowded, auth=CLIENT,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    repeated = "grant_type=client_credentials&scope=accounts:release&scope=consent:check"
    response = await _post(front, "/token", content=repeated, auth=CLIENT,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


async def test_other_bodies_and_methods_get_the_same_protocol_errors_as_before(front):
    multipart = await _post(front, "/token", files={k: (None, v) for k, v in GRANT.items()}, auth=CLIENT)
    # multipart goes through Starlette's form parser, as before: a token all the same
    assert multipart.status_code == 200, multipart.text
    assert multipart.json()["token_type"] == "Bearer"
    async with httpx.AsyncClient() as http:
        get = await http.get(front.base + "/token")
        preflight = await http.options(front.base + "/token", headers={"origin": "https://app.example",
                                                                        "access-control-request-method": "POST"})
    assert (get.status_code, get.json()["error"]) == (400, "invalid_request")
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"


async def test_a_wrong_secret_and_an_unknown_client_are_invalid_client(front):
    for auth in (("borough-system", "not-the-secret"), ("nobody", SECRET)):
        response = await _post(front, "/token", data=GRANT, auth=auth)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].lower().startswith("basic")


async def test_percent_encoded_utf8_is_decoded(front):
    # RFC 6749 Appendix B: form values are UTF-8, percent-encoded
    response = await _post(front, "/token", content="grant_type=client_credentials&scope=accounts%3Arelease"
                           "&resource=urn%3Amtlid%3Aaccounts&x=%C3%A9t%C3%A9",
                           auth=CLIENT, headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert response.status_code == 200, response.text


async def test_a_database_that_refuses_connections_gets_503_temporarily_unavailable(front, monkeypatch):
    """Not a server_error: the client may retry (RFC 9110 s. 15.6.4), and nothing leaks."""

    async def refused(*_args, **_kwargs):
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    monkeypatch.setattr(front.provider.reads, "client", refused)
    response = await _post(front, "/token", data=GRANT, auth=CLIENT)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"] == "1"
    assert "5432" not in response.text
    monkeypatch.undo()
    assert (await _post(front, "/token", data=GRANT, auth=CLIENT)).status_code == 200


async def test_a_bug_is_a_server_error_without_details(front, monkeypatch):
    async def bug(*_args, **_kwargs):
        raise KeyError("secret-ish detail")

    monkeypatch.setattr(front.provider.reads, "client", bug)
    response = await _post(front, "/introspect", data={"token": "x"}, auth=CLIENT)
    assert response.status_code == 500 and response.json() == {"error": "server_error"}
    assert "secret-ish" not in response.text
