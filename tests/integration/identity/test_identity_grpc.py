"""The identity gRPC API through a real server (running_service: real database, real NATS,
real grpc.aio), called with access tokens signed by identity's own keys."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid

import grpc
from google.protobuf import field_mask_pb2
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from montreal.identity.v1 import identity_pb2 as pb
from montreal.identity.v1 import identity_pb2_grpc as pb_grpc
from services.common.grpc.client import StaticToken, make_channel, rpc_error_details
from services.common.nats import free_port
from services.common.testing.nats import nats_server
from services.common.testing.services import running_service
from services.identity.adapters.orm import AgentActionRow, ResidentRow
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.domain.clients import OAuthClient
from services.identity.domain.pairwise import pairwise_subject
from services.identity.service_layer import authentication as auth
from services.identity.service_layer.clients import RegisterClient, register_client
from services.identity.service_layer.keys import KeyRing, rotate_keys
from tests.integration.identity.conftest import KEK, PAIRWISE_SECRET, outbox_events

ISSUER = "http://identity.test"
AUD = "urn:mtlid:identity"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture(scope="module")
async def service(database_url):
    with nats_server() as nats:
        env = {"MTLID_ISSUER": ISSUER, "MTLID_HTTP_PORT": str(free_port()), "MTLID_KEY_ENCRYPTION_KEY": _b64(KEK),
               "MTLID_PAIRWISE_SECRET": _b64(PAIRWISE_SECRET)}
        async with running_service("identity", nats_url=nats.url, database_url=database_url, env=env) as runtime:
            yield runtime


@pytest.fixture(scope="module")
async def clients(service, sessions):
    from services.identity.adapters.uow import IdentityUnitOfWork

    def uow():
        return IdentityUnitOfWork(sessions, kek=KEK)

    def cc(client_id, scopes, **extra):
        return OAuthClient(client_id=client_id, name=client_id, secret_hash=None,
                           grant_types=("client_credentials",), scopes=tuple(scopes), audiences=(AUD,), **extra)

    for client in [
        cc("operators-console", ["identity:admin"], is_city_client=True, subject_type="public"),
        cc("plateau-permits", ["identity:validate", "identity:resolve"]),
        cc("accounts-service", ["identity:resolve"], is_city_client=True, subject_type="public"),
        cc("acces-montreal-counter", ["identity:agent", "identity:resolve"], is_city_client=True,
           subject_type="public"),
        OAuthClient(client_id="montreal-library", name="Bibliothèques", secret_hash=None,
                    redirect_uris=("https://biblio.montreal.ca/cb",), scopes=("openid",)),
    ]:
        await register_client(RegisterClient(client), uow())
    return uow


@pytest.fixture(scope="module")
async def keyring(clients):
    return KeyRing(clients, KEK)


@pytest.fixture(scope="module")
def mint(keyring):
    async def mint(client_id, scopes, *, aud=AUD, act=None, ttl=300, issuer=ISSUER, key=None, **claims):
        keys = await keyring.get()
        kid, signing_key = keys.current("ES256") if key is None else (key.thumbprint(), key)
        now = int(time.time())
        body = {"iss": issuer, "sub": client_id, "client_id": client_id, "aud": aud, "scope": " ".join(scopes),
                "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex, **claims}
        if act:
            body["act"] = {"sub": act}
        return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": kid}, body, signing_key)
    return mint


@pytest.fixture(scope="module")
async def stub_for(service, mint):
    channels = []

    async def stub_for(client_id, scopes, **options):
        token = await mint(client_id, scopes, **options)
        channel = make_channel(f"127.0.0.1:{service.bound_grpc_port}", token_provider=StaticToken(token))
        channels.append(channel)
        return pb_grpc.IdentityServiceStub(channel)

    yield stub_for
    for channel in channels:
        await channel.close()


async def _resident(clients, verified=True) -> str:
    email = f"r-{uuid.uuid4().hex[:8]}@example.ca"
    rid = await auth.register_resident(auth.RegisterResident(email, "une phrase de passe", "fr", ""), clients())
    return rid


async def _error(call):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return rpc_error_details(raised.value)


async def test_validate_token(stub_for, mint):
    stub = await stub_for("plateau-permits", ["identity:validate"])
    token = await mint("montreal-library", ["openid", "resident"], aud=["urn:mtlid:accounts"],
                       sub="someone", acr="urn:mtlid:loa:2")
    reply = await stub.ValidateToken(pb.ValidateTokenRequest(token=token))
    assert reply.active and reply.client_id == "montreal-library" and reply.subject == "someone"
    assert list(reply.scopes) == ["openid", "resident"] and list(reply.audiences) == ["urn:mtlid:accounts"]
    assert reply.acr == "urn:mtlid:loa:2" and reply.expire_time.seconds > time.time()

    forged_key = ECKey.generate_key("P-256", private=True)
    for bad in [await mint("x", ["a"], ttl=-10),                    # expired
                await mint("x", ["a"], issuer="http://elsewhere"),  # another issuer
                await mint("x", ["a"], key=forged_key),             # unknown key
                token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),  # bad signature
                "not a token"]:
        assert (await stub.ValidateToken(pb.ValidateTokenRequest(token=bad))).active is False

    code, violations, _ = await _error(stub.ValidateToken(pb.ValidateTokenRequest()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "token" in violations


async def test_scopes_are_enforced(stub_for):
    stub = await stub_for("plateau-permits", ["identity:validate"])
    code, _, _ = await _error(stub.ResolveCitizenNumber(pb.ResolveCitizenNumberRequest(citizen_number="x")))
    assert code == grpc.StatusCode.PERMISSION_DENIED



async def test_calls_without_a_token_are_unauthenticated(service):
    channel = make_channel(f"127.0.0.1:{service.bound_grpc_port}")
    try:
        stub = pb_grpc.IdentityServiceStub(channel)
        code, _, _ = await _error(stub.ValidateToken(pb.ValidateTokenRequest(token="x")))
        assert code == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await channel.close()


async def test_resolve_citizen_number(clients, stub_for):
    rid = await _resident(clients)
    human = CitizenNumber(rid).human
    partner = await stub_for("plateau-permits", ["identity:resolve"])
    reply = await partner.ResolveCitizenNumber(pb.ResolveCitizenNumberRequest(citizen_number=human.lower()))
    assert reply.subject == pairwise_subject(rid, "client:plateau-permits", PAIRWISE_SECRET)
    assert reply.subject_type == pb.SUBJECT_TYPE_PAIRWISE and reply.subject != rid
    assert reply.level == pb.LEVEL_OF_ASSURANCE_SELF_ASSERTED
    city = await stub_for("accounts-service", ["identity:resolve"])
    reply = await city.ResolveCitizenNumber(pb.ResolveCitizenNumberRequest(citizen_number=human))
    assert reply.subject == rid and reply.subject_type == pb.SUBJECT_TYPE_PUBLIC

    typo = human[:-2] + human[-1] + human[-2] if human[-1] != human[-2] else human[:-1] + ("A" if human[-1] != "A" else "B")
    code, violations, _ = await _error(partner.ResolveCitizenNumber(pb.ResolveCitizenNumberRequest(citizen_number=typo)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "mistyped or two were swapped" in violations["citizen_number"]
    unknown = CitizenNumber.new().human
    code, _, _ = await _error(partner.ResolveCitizenNumber(pb.ResolveCitizenNumberRequest(citizen_number=unknown)))
    assert code == grpc.StatusCode.NOT_FOUND

    # Level of assurance, by the subject the caller sees.
    level = await partner.GetLevelOfAssurance(pb.GetLevelOfAssuranceRequest(
        subject=pairwise_subject(rid, "client:plateau-permits", PAIRWISE_SECRET)))
    assert level.acr == "urn:mtlid:loa:1"
    code, _, _ = await _error(partner.GetLevelOfAssurance(pb.GetLevelOfAssuranceRequest(subject=rid)))
    assert code == grpc.StatusCode.NOT_FOUND  # a partner cannot use the universal id


async def test_brokers_resolve_subjects_partners_cannot(clients, stub_for):
    rid = await _resident(clients)
    library_sub = pairwise_subject(rid, "biblio.montreal.ca", PAIRWISE_SECRET)
    accounts = await stub_for("accounts-service", ["identity:resolve"])
    reply = await accounts.ResolveSubject(pb.ResolveSubjectRequest(client_id="montreal-library", subject=library_sub))
    assert reply.resident_id == rid
    back = await accounts.GetClientSubject(pb.GetClientSubjectRequest(client_id="montreal-library", resident_id=rid))
    assert back.subject == library_sub and back.subject_type == pb.SUBJECT_TYPE_PAIRWISE
    contact = await accounts.GetResidentContact(pb.GetResidentContactRequest(resident_id=rid))
    assert contact.email.endswith("@example.ca") and contact.preferred_language == "fr"
    code, _, _ = await _error(accounts.ResolveSubject(pb.ResolveSubjectRequest(
        client_id="plateau-permits", subject=library_sub)))  # another sector's subject
    assert code == grpc.StatusCode.NOT_FOUND
    partner = await stub_for("plateau-permits", ["identity:resolve"])
    code, _, reason = await _error(partner.ResolveSubject(pb.ResolveSubjectRequest(
        client_id="montreal-library", subject=library_sub)))
    assert code == grpc.StatusCode.PERMISSION_DENIED and reason == "NOT_A_BROKER"


async def _counts(sessions):
    async with sessions() as session:
        residents = (await session.execute(select(func.count()).select_from(ResidentRow))).scalar()
        actions = (await session.execute(select(func.count()).select_from(AgentActionRow))).scalar()
    return residents, actions, len(await outbox_events(sessions))


async def test_agent_creates_a_resident_in_person_and_is_recorded(sessions, stub_for):
    scopes = ["identity:agent"]
    nameless = await stub_for("acces-montreal-counter", scopes)
    code, _, reason = await _error(nameless.CreateResidentInPerson(pb.CreateResidentInPersonRequest(
        email="x@example.ca", document_type=pb.DOCUMENT_TYPE_PASSPORT)))
    assert code == grpc.StatusCode.PERMISSION_DENIED and reason == "AGENT_NOT_IDENTIFIED"

    agent = await stub_for("acces-montreal-counter", scopes, act="agent-0421")
    before = await _counts(sessions)
    code, violations, _ = await _error(agent.CreateResidentInPerson(pb.CreateResidentInPersonRequest(
        email="not-an-email", document_type=pb.DOCUMENT_TYPE_PASSPORT, document_last_digits="123456")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations) == {"email", "document_last_digits"}
    code, violations, _ = await _error(agent.CreateResidentInPerson(pb.CreateResidentInPersonRequest(
        email="ok@example.ca")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "document_type" in violations
    assert await _counts(sessions) == before  # nothing written

    email = f"counter-{uuid.uuid4().hex[:6]}@example.ca"
    created = await agent.CreateResidentInPerson(pb.CreateResidentInPersonRequest(
        email=email, preferred_language="en", document_type=pb.DOCUMENT_TYPE_DRIVERS_LICENCE,
        document_last_digits="42A7"))
    assert created.level == pb.LEVEL_OF_ASSURANCE_VERIFIED
    assert CitizenNumber.parse(created.citizen_number_human).canonical == created.resident_id
    async with sessions() as session:
        action = await session.get(AgentActionRow, created.action_id)
    assert action.agent_id == "agent-0421" and action.client_id == "acces-montreal-counter"
    assert action.details["document_type"] == "drivers_licence" and action.resident_id == created.resident_id
    registered = [e["data"] for e in await outbox_events(sessions, "resident_registered")
                  if e["data"]["resident_id"] == created.resident_id]
    assert registered == [{"resident_id": created.resident_id, "preferred_language": "en",
                           "registered_by": "agent", "email_verified": False, "agent_id": "agent-0421"}]


async def test_agent_raises_level_of_assurance(clients, sessions, stub_for):
    rid = await _resident(clients)
    agent = await stub_for("acces-montreal-counter", ["identity:agent"], act="agent-0007")
    # The health insurance card is refused with the reason, and nothing is written.
    code, violations, _ = await _error(agent.RaiseLevelOfAssurance(pb.RaiseLevelOfAssuranceRequest(
        citizen_number=CitizenNumber(rid).human, level=pb.LEVEL_OF_ASSURANCE_VERIFIED,
        document_type=pb.DOCUMENT_TYPE_HEALTH_INSURANCE_CARD)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "9.0.0.1" in violations["document_type"]
    request = pb.RaiseLevelOfAssuranceRequest(citizen_number=CitizenNumber(rid).human,
                                              level=pb.LEVEL_OF_ASSURANCE_VERIFIED,
                                              document_type=pb.DOCUMENT_TYPE_PASSPORT)
    raised = await agent.RaiseLevelOfAssurance(request)
    assert raised.level == pb.LEVEL_OF_ASSURANCE_VERIFIED and raised.changed
    again = await agent.RaiseLevelOfAssurance(request)
    assert not again.changed and again.action_id != raised.action_id  # recorded anyway
    events = [e["data"] for e in await outbox_events(sessions, "level_of_assurance_raised")
              if e["data"]["resident_id"] == rid]
    assert events == [{"resident_id": rid, "level": 2, "agent_id": "agent-0007",
                       "document_type": "passport"}]
    code, violations, _ = await _error(agent.RaiseLevelOfAssurance(pb.RaiseLevelOfAssuranceRequest(
        citizen_number=CitizenNumber(rid).human, level=pb.LEVEL_OF_ASSURANCE_VERIFIED_MFA,
        document_type=pb.DOCUMENT_TYPE_PASSPORT)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "level" in violations


async def test_client_registry(stub_for):
    admin = await stub_for("operators-console", ["identity:admin"])
    created = await admin.CreateClient(pb.CreateClientRequest(client=pb.Client(
        client_id="verdun-permits", name="Permis Verdun", grant_types=["authorization_code"],
        redirect_uris=["https://permis.verdun.ca/cb"], scopes=["openid"])))
    assert created.client_secret and created.client.subject_type == pb.SUBJECT_TYPE_PAIRWISE
    fetched = await admin.GetClient(pb.GetClientRequest(client_id="verdun-permits"))
    assert fetched.client.redirect_uris == ["https://permis.verdun.ca/cb"]
    code, _, _ = await _error(admin.CreateClient(pb.CreateClientRequest(client=pb.Client(
        client_id="verdun-permits", name="again", grant_types=["authorization_code"],
        redirect_uris=["https://permis.verdun.ca/cb"]))))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    code, violations, _ = await _error(admin.CreateClient(pb.CreateClientRequest(client=pb.Client(
        client_id="bad", name="Bad", grant_types=["implicit"]))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "client.grant_types" in violations
    seen, token = [], ""
    while True:
        page = await admin.ListClients(pb.ListClientsRequest(page_size=2, page_token=token))
        seen += [c.client_id for c in page.clients]
        token = page.next_page_token
        if not token:
            break
    assert "verdun-permits" in seen and len(seen) == len(set(seen)) >= 6
    code, violations, _ = await _error(admin.ListClients(pb.ListClientsRequest(page_token="%%%")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in violations


async def test_client_registry_with_a_staff_directory(stub_for):
    """Issue 17: a borough system with its own staff directory registered over gRPC as with
    ``mtlid client create --staff-directory-…``; GetClient and ListClients show it; every bad
    field named under ``client.staff_directory``, and a refused client is not written."""
    import json

    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", parameters={"kid": "lasalle-2026"}, private=True)
    jwks = {"keys": [key.as_dict(private=False)]}
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    admin = await stub_for("operators-console", ["identity:admin"])

    def borough(client_id: str, **directory) -> pb.CreateClientRequest:
        return pb.CreateClientRequest(client=pb.Client(
            client_id=client_id, name="Permis de LaSalle", grant_types=[exchange], scopes=["accounts:agent"],
            audiences=["urn:mtlid:accounts"], staff_directory=pb.StaffDirectory(**directory)))

    created = await admin.CreateClient(borough("lasalle-desk", issuer="https://annuaire.lasalle.example",
                                               jwks_json=json.dumps(jwks)))
    assert created.client_secret and created.client.staff_directory.issuer == "https://annuaire.lasalle.example"
    fetched = (await admin.GetClient(pb.GetClientRequest(client_id="lasalle-desk"))).client
    assert json.loads(fetched.staff_directory.jwks_json) == jwks and not fetched.staff_directory.jwks_uri
    listed = {c.client_id: c for c in (await admin.ListClients(pb.ListClientsRequest(page_size=100))).clients}
    assert listed["lasalle-desk"].staff_directory.issuer == "https://annuaire.lasalle.example"
    assert not listed["verdun-permits"].HasField("staff_directory")
    by_uri = await admin.CreateClient(borough("lachine-desk", issuer="https://annuaire.lachine.example",
                                              jwks_uri="https://annuaire.lachine.example/jwks"))
    assert by_uri.client.staff_directory.jwks_uri == "https://annuaire.lachine.example/jwks"

    for client_id, directory, field in (
            ("no-keys", {"issuer": "https://annuaire.example"}, "client.staff_directory.jwks_json"),
            ("both-keys", {"issuer": "https://annuaire.example", "jwks_json": json.dumps(jwks),
                           "jwks_uri": "https://annuaire.example/jwks"}, "client.staff_directory.jwks_json"),
            ("not-json", {"issuer": "https://annuaire.example", "jwks_json": "{keys"}, "client.staff_directory.jwks_json"),
            ("no-key-in-set", {"issuer": "https://annuaire.example", "jwks_json": '{"keys": []}'},
             "client.staff_directory.jwks_json"),
            ("plain-http", {"issuer": "https://annuaire.example", "jwks_uri": "http://annuaire.example/jwks"},
             "client.staff_directory.jwks_uri"),
            ("no-issuer", {"jwks_json": json.dumps(jwks)}, "client.staff_directory.issuer")):
        code, violations, _ = await _error(admin.CreateClient(borough(client_id, **directory)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and field in violations, (client_id, violations)
        code, _, _ = await _error(admin.GetClient(pb.GetClientRequest(client_id=client_id)))
        assert code == grpc.StatusCode.NOT_FOUND
    # a directory serves the token exchange only
    code, violations, _ = await _error(admin.CreateClient(pb.CreateClientRequest(client=pb.Client(
        client_id="site-web", name="Site", grant_types=["authorization_code"], redirect_uris=["https://site.example/cb"],
        staff_directory=pb.StaffDirectory(issuer="https://annuaire.example", jwks_json=json.dumps(jwks))))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "client.staff_directory.issuer" in violations


async def test_client_registry_with_private_key_jwt_logout_par_and_dpop(stub_for):
    """Issue 20 over gRPC, as ``mtlid client create`` does it: a private_key_jwt client with its
    keys (JWK Set or jwks_uri) and no secret, back- and front-channel logout URIs, required PAR,
    a public client that must send DPoP proofs; GetClient shows them; bad keys are named."""
    import json

    from joserfc.jwk import ECKey

    jwks = {"keys": [ECKey.generate_key("P-256", parameters={"kid": "permis-1"}).as_dict(private=False)]}
    admin = await stub_for("operators-console", ["identity:admin"])
    created = await admin.CreateClient(pb.CreateClientRequest(client=pb.Client(
        client_id="permis-en-ligne", name="Permis en ligne", grant_types=["authorization_code"], scopes=["openid"],
        redirect_uris=["https://permis.montreal.ca/cb"], token_endpoint_auth_method="private_key_jwt",
        jwks_json=json.dumps(jwks), require_pushed_authorization_requests=True,
        backchannel_logout_uri="https://permis.montreal.ca/bcl",
        frontchannel_logout_uri="https://permis.montreal.ca/fcl")))
    assert created.client_secret == ""
    fetched = (await admin.GetClient(pb.GetClientRequest(client_id="permis-en-ligne"))).client
    assert fetched.token_endpoint_auth_method == "private_key_jwt" and json.loads(fetched.jwks_json) == jwks
    assert fetched.require_pushed_authorization_requests and not fetched.dpop_bound_access_tokens
    assert fetched.backchannel_logout_uri == "https://permis.montreal.ca/bcl"
    assert fetched.frontchannel_logout_uri == "https://permis.montreal.ca/fcl"
    by_uri = await admin.CreateClient(pb.CreateClientRequest(client=pb.Client(
        client_id="taxes-system", name="Taxes", grant_types=["client_credentials"], scopes=["identity:validate"],
        audiences=["urn:mtlid:identity"], token_endpoint_auth_method="private_key_jwt",
        jwks_uri="https://taxes.montreal.ca/jwks.json")))
    assert by_uri.client.jwks_uri == "https://taxes.montreal.ca/jwks.json" and not by_uri.client_secret
    app = await admin.CreateClient(pb.CreateClientRequest(client=pb.Client(
        client_id="permis-mobile", name="Permis (mobile)", grant_types=["authorization_code", "refresh_token"],
        scopes=["openid"], redirect_uris=["https://permis.montreal.ca/app"], token_endpoint_auth_method="none",
        dpop_bound_access_tokens=True)))
    assert app.client.dpop_bound_access_tokens and not app.client_secret
    for client_id, fields, field in (
            ("no-keys", {}, "client.jwks_json"),
            ("not-json", {"jwks_json": "{keys"}, "client.jwks_json"),
            ("private-key", {"jwks_json": json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=True)]})},
             "client.jwks_json"),
            ("plain-http", {"jwks_uri": "http://permis.example/jwks"}, "client.jwks_uri"),
            ("bad-logout", {"jwks_json": json.dumps(jwks), "backchannel_logout_uri": "http://permis.example/bcl"},
             "client.backchannel_logout_uri")):
        code, violations, _ = await _error(admin.CreateClient(pb.CreateClientRequest(client=pb.Client(
            client_id=client_id, name="Mauvais", grant_types=["authorization_code"], scopes=["openid"],
            redirect_uris=["https://permis.example/cb"], token_endpoint_auth_method="private_key_jwt", **fields))))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and field in violations, (client_id, violations)
        code, _, _ = await _error(admin.GetClient(pb.GetClientRequest(client_id=client_id)))
        assert code == grpc.StatusCode.NOT_FOUND
    # probe finding 5 over gRPC: a client_credentials client cannot hold resident scopes
    code, violations, _ = await _error(admin.CreateClient(pb.CreateClientRequest(client=pb.Client(
        client_id="permits-batch", name="Permis (lot)", grant_types=["client_credentials"],
        scopes=["accounts:release", "openid", "email"], audiences=["urn:mtlid:accounts"]))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "client.scopes" in violations, violations


async def test_tokens_signed_before_a_rotation_stay_valid(clients, keyring, mint, stub_for):
    import datetime as dt

    stub = await stub_for("plateau-permits", ["identity:validate"])
    old_token = await mint("montreal-library", ["openid"])
    await rotate_keys(clients(), KEK, force=True)
    keys = await keyring.reload()
    new_token = await mint("montreal-library", ["openid"])
    assert jwt.decode(new_token, keys.public_key(keys.current("ES256")[0])) is not None
    # The running service learns the new key (unknown kid → reload) and keeps the retired one.
    assert (await stub.ValidateToken(pb.ValidateTokenRequest(token=new_token))).active
    assert (await stub.ValidateToken(pb.ValidateTokenRequest(token=old_token))).active
    # Callers authenticate with tokens signed by the new key too.
    fresh = await stub_for("plateau-permits", ["identity:validate"])
    assert (await fresh.ValidateToken(pb.ValidateTokenRequest(token=new_token))).active


async def test_revoked_tokens_are_inactive(service, mint, stub_for):
    import datetime as dt

    from services.identity.adapters.oauth_repositories import OAuthUnitOfWork

    stub = await stub_for("plateau-permits", ["identity:validate"])
    jti = uuid.uuid4().hex
    token = await mint("montreal-library", ["openid"], jti=jti)
    assert (await stub.ValidateToken(pb.ValidateTokenRequest(token=token))).active
    async with OAuthUnitOfWork(service.session_factory, kek=KEK) as uow:
        await uow.revoked_tokens.add(jti, dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5))
        await uow.commit()
    assert not (await stub.ValidateToken(pb.ValidateTokenRequest(token=token))).active


async def test_every_replica_hears_a_rotation_through_nats(service, clients):
    keys = await service.identity.keys.get()
    before = keys.current("RS256")[0]
    # As `mtlid keys rotate` would, from another process: only the database and the outbox.
    result = await rotate_keys(clients(), KEK, force=True)
    expected = next(r["current"] for r in result if r["alg"] == "RS256")
    for _ in range(60):
        if keys.current("RS256")[0] == expected:
            break
        await asyncio.sleep(0.1)
    assert before != expected and keys.current("RS256")[0] == expected


async def test_validate_tokens_answers_each_as_validate_token(service, stub_for, mint):
    """ValidateTokens (issue 24): each token's answer equals ValidateToken's, in order (the
    same token twice answered twice), and a revocation committed between two batches makes
    that token, and only it, inactive in the next one."""
    import datetime as dt

    from services.identity.adapters.oauth_repositories import OAuthUnitOfWork

    stub = await stub_for("plateau-permits", ["identity:validate"])
    jti = uuid.uuid4().hex
    revoked_later = await mint("montreal-library", ["openid"], jti=jti)
    good = await mint("montreal-library", ["openid", "resident"], aud=["urn:mtlid:accounts"],
                      sub="someone", acr="urn:mtlid:loa:2")
    batch = [good, await mint("x", ["a"], ttl=-10), await mint("x", ["a"], issuer="http://elsewhere"),
             await mint("x", ["a"], key=ECKey.generate_key("P-256", private=True)),
             good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"), "not a token", "", revoked_later, good]

    async def agrees() -> list[bool]:
        answer = await stub.ValidateTokens(pb.ValidateTokensRequest(tokens=batch))
        assert len(answer.results) == len(batch)
        for token, result in zip(batch, answer.results):
            single = await stub.ValidateToken(pb.ValidateTokenRequest(token=token)) if token else \
                pb.ValidateTokenResponse(active=False)  # the single call refuses an empty token
            assert result == single
        return [r.active for r in answer.results]

    assert await agrees() == [True, False, False, False, False, False, False, True, True]
    async with OAuthUnitOfWork(service.session_factory, kek=KEK) as uow:
        await uow.revoked_tokens.add(jti, dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5))
        await uow.commit()
    assert await agrees() == [True, False, False, False, False, False, False, False, True]
    for tokens in ([], ["x"] * 1001):
        code, violations, _ = await _error(stub.ValidateTokens(pb.ValidateTokensRequest(tokens=tokens)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "tokens" in violations
    other = await stub_for("plateau-permits", ["identity:resolve"])
    code, _, _ = await _error(other.ValidateTokens(pb.ValidateTokensRequest(tokens=[good])))
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_validate_tokens_reads_sessions_and_families_as_validate_token(service, stub_for, mint):
    """ValidateTokens reads every revocation of a batch in one statement (issue 24): a
    resident's token dies with its SSO session (ended or unknown: inactive; offline_access
    outlives it) and with its grant family (RFC 7009), token by token as ValidateToken
    answers, before and after the session ends and the family is revoked."""
    import datetime as dt

    from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
    from services.identity.oidc.records import SsoSession

    stub = await stub_for("plateau-permits", ["identity:validate"])
    now = dt.datetime.now(dt.timezone.utc)
    open_sid, other_sid = str(uuid.uuid4()), str(uuid.uuid4())
    async with OAuthUnitOfWork(service.session_factory, kek=KEK) as uow:
        for sid in (open_sid, other_sid):
            await uow.sessions.add(SsoSession(session_id=sid, secret_hash=uuid.uuid4().hex, resident_id="123456789ABC",
                                              auth_time=int(now.timestamp()), amr=("pwd",), acr="urn:mtlid:loa:2",
                                              created_at=now, expires_at=now + dt.timedelta(hours=1)))
        await uow.commit()
    family = uuid.uuid4().hex
    batch = [await mint("montreal-library", ["openid"], sid=open_sid, sub="123456789ABC"),
             await mint("montreal-library", ["openid", "offline_access"], sid=open_sid, sub="123456789ABC"),
             await mint("montreal-library", ["openid"], sid=str(uuid.uuid4()), sub="123456789ABC"),  # no such session
             await mint("montreal-library", ["openid"], sid=other_sid, sub="123456789ABC"),
             await mint("montreal-library", ["openid"], jti=f"{family}:1"),
             await mint("montreal-library", ["openid"], jti=f"{family}:2", sid=other_sid, sub="123456789ABC"),
             await mint("montreal-library", ["openid"], jti=f"{uuid.uuid4().hex}:1")]

    async def agrees() -> list[bool]:
        answer = await stub.ValidateTokens(pb.ValidateTokensRequest(tokens=batch))
        for token, result in zip(batch, answer.results, strict=True):
            assert result == await stub.ValidateToken(pb.ValidateTokenRequest(token=token))
        return [r.active for r in answer.results]

    assert await agrees() == [True, True, False, True, True, True, True]
    async with OAuthUnitOfWork(service.session_factory, kek=KEK) as uow:
        await uow.sessions.end(open_sid, dt.datetime.now(dt.timezone.utc))
        await uow.revoked_tokens.add(family, dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5))
        await uow.commit()
    assert await agrees() == [False, True, False, True, False, False, True]


async def test_update_client_changes_what_the_mask_names_and_nothing_else(stub_for, sessions):
    """AIP-134 over gRPC: the masked fields change, the others are kept, the result is checked
    as at registration, and the change is published (field names only)."""
    admin = await stub_for("operators-console", ["identity:admin"])
    await admin.CreateClient(pb.CreateClientRequest(client=pb.Client(
        client_id="lachine-permits", name="Permis Lachine", grant_types=["authorization_code"],
        redirect_uris=["https://permis.lachine.ca/cb"], scopes=["openid"], purposes=["service-provision"])))
    mask = field_mask_pb2.FieldMask(paths=["name", "redirect_uris", "backchannel_logout_uri"])
    updated = await admin.UpdateClient(pb.UpdateClientRequest(client=pb.Client(
        client_id="lachine-permits", name="Permis de Lachine", redirect_uris=["https://permis.lachine.ca/retour"],
        backchannel_logout_uri="https://permis.lachine.ca/bcl", scopes=["openid", "email"]), update_mask=mask))
    fetched = (await admin.GetClient(pb.GetClientRequest(client_id="lachine-permits"))).client
    assert fetched == updated.client
    assert fetched.name == "Permis de Lachine" and list(fetched.redirect_uris) == ["https://permis.lachine.ca/retour"]
    assert fetched.backchannel_logout_uri == "https://permis.lachine.ca/bcl"
    # not in the mask: kept, although the request carried another value
    assert list(fetched.scopes) == ["openid"] and list(fetched.purposes) == ["service-provision"]
    changed = [e["data"] for e in await outbox_events(sessions, "client_changed")
               if e["data"]["client_id"] == "lachine-permits"]
    assert changed == [{"client_id": "lachine-permits",
                        "fields": ["backchannel_logout_uri", "name", "redirect_uris"]}]

    disabled = await admin.UpdateClient(pb.UpdateClientRequest(
        client=pb.Client(client_id="lachine-permits", disabled=True), update_mask=field_mask_pb2.FieldMask(
            paths=["disabled"])))
    assert disabled.client.disabled and disabled.client.name == "Permis de Lachine"

    refusals = [
        (["subject_type"], {"subject_type": pb.SUBJECT_TYPE_PUBLIC}, "update_mask"),
        (["token_endpoint_auth_method"], {"token_endpoint_auth_method": "none"}, "update_mask"),
        (["client_id"], {}, "update_mask"),
        (["*"], {}, "update_mask"),
        ([], {"name": "Sans masque"}, "update_mask"),
        (["redirect_uris"], {"redirect_uris": ["http://permis.lachine.ca/cb"]}, "client.redirect_uris"),
        (["grant_types"], {"grant_types": ["implicit"]}, "client.grant_types"),
        (["jwks_json"], {"jwks_json": "{keys"}, "client.jwks_json"),
        (["name"], {"name": ""}, "client.name"),
    ]
    for paths, fields, field in refusals:
        code, violations, _ = await _error(admin.UpdateClient(pb.UpdateClientRequest(
            client=pb.Client(client_id="lachine-permits", **fields), update_mask=field_mask_pb2.FieldMask(paths=paths))))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and field in violations, (paths, violations)
    code, _, _ = await _error(admin.UpdateClient(pb.UpdateClientRequest(
        client=pb.Client(client_id="nobody-here", name="x"), update_mask=field_mask_pb2.FieldMask(paths=["name"]))))
    assert code == grpc.StatusCode.NOT_FOUND
    # nothing half-written: the refusals changed nothing, and published nothing
    assert (await admin.GetClient(pb.GetClientRequest(client_id="lachine-permits"))).client == disabled.client
    assert len([e for e in await outbox_events(sessions, "client_changed")
                if e["data"]["client_id"] == "lachine-permits"]) == 2
    reader = await stub_for("plateau-permits", ["identity:validate"])
    code, _, _ = await _error(reader.UpdateClient(pb.UpdateClientRequest(
        client=pb.Client(client_id="lachine-permits", name="x"), update_mask=field_mask_pb2.FieldMask(paths=["name"]))))
    assert code == grpc.StatusCode.PERMISSION_DENIED
