"""Borough systems with their own staff directory (issue 17): the same RFC 8693 token exchange,
the ``subject_token`` a JWT from the directory the client is registered with. Real key pairs
(joserfc), the real token endpoint over HTTP; the issued token verified with joserfc; every
refusal the RFC's ``invalid_request`` with its reason; the exchange journaled with the client
and the office; the registration through ``mtlid client create``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from types import SimpleNamespace

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from services.cli import main
from services.identity.domain.clients import TOKEN_EXCHANGE, OAuthClient
from services.identity.service_layer.clients import RegisterClient, register_client
from tests.integration.identity_oidc.conftest import SECRET

JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
DIRECTORY = "https://annuaire.verdun.example"
OFFICE = "Bureau d'arrondissement de Verdun"
SECRETS: dict[str, str] = {}    # the secrets register_client generated


def _key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)


DIRECTORY_KEY, ROGUE_KEY = _key("verdun-2026"), _key("verdun-2026")


def staff_token(front, *, key: ECKey = DIRECTORY_KEY, **overrides) -> str:
    """What the borough's directory signs after its staff member's sign-in with a second factor."""
    now = int(time.time())
    claims = {"iss": DIRECTORY, "sub": "jtremblay", "aud": front.base + "/token", "iat": now, "exp": now + 300,
              "auth_time": now - 60, "amr": ["pwd", "otp", "mfa"], "office": OFFICE, "jti": str(uuid.uuid4()),
              **overrides}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


async def exchange(front, subject_token: str, client: str = "verdun-permits",
                   resource: str = "urn:mtlid:accounts") -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(front.base + "/token", auth=(client, SECRETS.get(client, SECRET)), data={
            "grant_type": TOKEN_EXCHANGE, "subject_token": subject_token, "subject_token_type": JWT_TYPE,
            "resource": resource})


@pytest.fixture(scope="module")
async def verdun(front):
    """Verdun's permit system, registered as ``mtlid client create`` does, trusting its directory."""
    client = OAuthClient(client_id="verdun-permits", name="Permis de Verdun", secret_hash=None,
                         grant_types=(TOKEN_EXCHANGE,), scopes=("accounts:agent",), audiences=("urn:mtlid:accounts",),
                         staff_directory_issuer=DIRECTORY,
                         staff_directory_jwks={"keys": [DIRECTORY_KEY.as_dict(private=False)]})
    _created, SECRETS[client.client_id] = await register_client(RegisterClient(client, allow_http_loopback=True),
                                                                front.uow())
    return client


async def test_a_directory_staff_member_gets_a_token_naming_them_under_the_client(front, verdun):
    answer = await exchange(front, staff_token(front))
    assert answer.status_code == 200, answer.text
    async with httpx.AsyncClient() as http:
        keys = KeySet.import_key_set((await http.get(front.base + "/jwks")).json())
    decoded = jwt.decode(answer.json()["access_token"], keys, algorithms=["ES256"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": front.base},
                          aud={"essential": True, "value": "urn:mtlid:accounts"}).validate(decoded.claims)
    # namespaced: never one of our AG… agents, never another borough's "jtremblay"
    assert decoded.claims["act"] == {"sub": "verdun-permits:jtremblay", "iss": DIRECTORY}
    assert decoded.claims["office"] == OFFICE and decoded.claims["sub"] == "verdun-permits"
    assert decoded.claims["scope"] == "accounts:agent"
    async with front.uow() as uow:
        now = dt.datetime.now(dt.timezone.utc)
        journal = await uow.agent_actions.between(now - dt.timedelta(minutes=5), now + dt.timedelta(minutes=1),
                                                  agent_id="verdun-permits:jtremblay")
    assert [(a["action"], a["client_id"], a["office"], a["details"]["issuer"]) for a in journal] == [
        ("agent_token_exchanged", "verdun-permits", OFFICE, DIRECTORY)]
    # audience as our issuer is fine too (the directory may name the issuer rather than the endpoint)
    assert (await exchange(front, staff_token(front, aud=front.base))).status_code == 200


@pytest.mark.parametrize("overrides, reason", [
    ({"key": ROGUE_KEY}, "does not verify with the directory's keys"),
    ({"iss": "https://annuaire.lasalle.example"}, "not a staff directory this client is registered with"),
    ({"aud": "https://ailleurs.example/token"}, "not addressed to this token endpoint"),
    ({"exp": int(time.time()) - 120, "iat": int(time.time()) - 600}, "has expired"),
    ({"exp": int(time.time()) + 7200}, "valid too long"),
    ({"amr": ["pwd"], "acr": "urn:mtlid:loa:2"}, "did not sign in with a second factor"),
    ({"amr": None, "acr": None}, "did not sign in with a second factor"),
    ({"office": None}, "names no office"),
    ({"sub": "jean tremblay"}, "names no staff member"),
    ({"sub": "j" * 120}, "names no staff member"),  # "verdun-permits:" + 120: more than the journals keep
    ({"jti": None}, "has no identifier (jti)"),
    ({"jti": "j" * 201}, "has no identifier (jti)"),
], ids=["signature", "unknown-issuer", "audience", "expired", "lifetime", "weak-acr", "no-acr", "office", "sub",
        "long-sub", "no-jti", "long-jti"])
async def test_refusals_are_invalid_request_with_the_reason(front, verdun, overrides, reason):
    key = overrides.pop("key", DIRECTORY_KEY)
    answer = await exchange(front, staff_token(front, key=key, **overrides))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"                 # RFC 8693 s. 2.2.2
    assert reason in answer.json()["error_description"]


async def test_a_staff_token_is_exchanged_once_whichever_identity_process_sees_it(front, verdun):
    """Replay protection (RFC 7519 s. 4.1.7 ``jti``): a directory's token copied from a log or
    the wire is refused the second time, by this process and by another identity process on
    the same database (a second replica: its own server, provider and key caches); sent to both
    at once, exactly one wins. A refused exchange (wrong audience) does not use the jti up."""
    from services.identity.http.app import create_app, serve
    from services.identity.oidc.provider import CoreAuthenticator, Provider
    from tests.integration.counter.conftest import free_tcp_port

    provider = front.provider
    replica = Provider(config=provider.config, keys=provider.keys, uow_factory=front.uow,
                       authenticator=CoreAuthenticator(front.uow))
    port = free_tcp_port()
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(create_app(replica), "127.0.0.1", port, stop, started=started))
    await asyncio.wait_for(started.wait(), 10)
    other = SimpleNamespace(base=f"http://127.0.0.1:{port}")
    try:
        token = staff_token(front)
        assert (await exchange(front, token)).status_code == 200
        again = await exchange(front, token)
        assert again.status_code == 400 and again.json()["error"] == "invalid_request"
        assert "already exchanged" in again.json()["error_description"]
        elsewhere = await exchange(other, token)
        assert elsewhere.status_code == 400 and "already exchanged" in elsewhere.json()["error_description"]
        # both replicas at once: one token, one access token
        raced = staff_token(front)
        answers = await asyncio.gather(exchange(front, raced), exchange(other, raced))
        assert sorted(a.status_code for a in answers) == [200, 400], [a.text for a in answers]
        # a token refused for another reason can still be exchanged once it is right
        jti = str(uuid.uuid4())
        refused = await exchange(front, staff_token(front, jti=jti, aud="https://ailleurs.example/token"))
        assert refused.status_code == 400 and "not addressed" in refused.json()["error_description"]
        assert (await exchange(other, staff_token(front, jti=jti))).status_code == 200
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_directory_is_trusted_only_by_the_client_registered_with_it(front, verdun):
    # borough-counter (conftest) trusts no directory: Verdun's token is not a subject token for it
    answer = await exchange(front, staff_token(front), client="borough-counter")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert "not a staff directory this client is registered with" in answer.json()["error_description"]


@pytest.fixture
def cli(front, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MTLID_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("MTLID_IDENTITY_DATABASE_URL", str(front.sessions.kw["bind"].url.render_as_string(
        hide_password=False)))

    def run(*argv):
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err
    return run


def test_mtlid_client_create_registers_the_directory_and_refuses_half_of_one(cli, tmp_path):
    jwks = tmp_path / "annuaire.jwks.json"
    jwks.write_text(json.dumps({"keys": [DIRECTORY_KEY.as_dict(private=False)]}))
    common = ("client", "create", "--grant-type", TOKEN_EXCHANGE, "--scope", "accounts:agent",
              "--audience", "urn:mtlid:accounts")
    code, printed, _ = cli(*common, "--name", "Permis de LaSalle", "--staff-directory-issuer",
                           "https://annuaire.lasalle.example", "--staff-directory-jwks-file", str(jwks))
    assert code == 0 and printed["staff_directory"]["issuer"] == "https://annuaire.lasalle.example"
    assert printed["staff_directory"]["jwks"]["keys"][0]["kid"] == "verdun-2026" and printed["client_secret"]
    code, _, err = cli(*common, "--name", "Permis de Lachine", "--staff-directory-issuer",
                       "https://annuaire.lachine.example")
    assert code != 0 and "staff_directory_jwks" in err
    code, _, err = cli("client", "create", "--name", "Site", "--redirect-uri", "https://site.example/cb",
                       "--staff-directory-issuer", "https://annuaire.example", "--staff-directory-jwks-uri",
                       "https://annuaire.example/jwks")
    assert code != 0 and "staff_directory_issuer" in err  # not a token-exchange client
