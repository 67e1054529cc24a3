"""OpenID4VP 1.0 online verification end to end over real HTTP (issue 23): a borough system (an
OAuth client registered with ``carte-citoyenne:verify``) asks for ``age_over_18``; the
reference wallet (``mtlid wallet present --openid4vp``) fetches the request by reference and
answers ``direct_post``; the borough system fetches the outcome with its client credentials;
the release reaches the consent register as a data access by the borough system by name.
Refusals: wrong nonce, replay, revoked, claim not disclosed, a client not registered for it.
SQLite; PostgreSQL with MTLID_TEST_DATABASE=postgres."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from types import SimpleNamespace

import httpx
import pytest

from services.common.consumer import EventConsumer
from services.common.db import create_engine, session_factory
from services.common.events import CloudEvent
from services.common.migrations import migrate_async
from services.common.testing.databases import temporary_database
from services.consent.adapters.repositories import LedgerStore
from services.consent.adapters.uow import ConsentUnitOfWork
from services.consent.service_layer import commands, handlers
from services.consent.service_layer.event_handlers import IDENTITY_SUBJECTS, dispatcher
from services.identity.adapters.oauth_repositories import OAuthUnitOfWork
from services.identity.card import issuance
from services.identity.card.keys import card_issuer_for
from services.identity.card.wallet import ReferenceWallet
from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.clients import OAuthClient
from services.identity.http.app import create_app, serve
from services.identity.oidc.provider import CoreAuthenticator, Provider, derive_key
from services.identity.oidc.tokens import OidcConfig
from services.identity.service_layer.authentication import add_new_resident
from services.identity.service_layer.clients import RegisterClient, register_client
from services.identity.service_layer.keys import SigningKeys
from tests.integration.identity.conftest import outbox_events
from tests.integration.identity_oidc.conftest import free_port
from tests.unit.identity_card.fakes import ELOISE, PIN, mtlid_typing_pin

KEK = bytes(range(32))
BOROUGH = "plateau-bibliotheques"


@pytest.fixture(scope="module")
async def verifier_front():
    async with temporary_database("card_vp") as url:
        await migrate_async("identity", url)
        engine = create_engine(url)
        sessions = session_factory(engine)

        def uow_factory():
            return OAuthUnitOfWork(sessions, kek=KEK)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        provider = Provider(config=OidcConfig(issuer=base, pairwise_secret=b"p" * 32,
                                              interaction_key=derive_key(KEK, "interaction"), secure_cookies=False),
                            keys=await SigningKeys.load(uow_factory(), KEK), uow_factory=uow_factory,
                            authenticator=CoreAuthenticator(uow_factory),
                            card=card_issuer_for(SimpleNamespace(issuer=base, key_encryption_key=KEK), uow_factory))
        secrets = {}
        for client_id, name, scopes in ((BOROUGH, "Bibliothèques du Plateau-Mont-Royal", ("carte-citoyenne:verify",)),
                                        ("ahuntsic-permis", "Permis d'Ahuntsic", ("carte-citoyenne:verify",)),
                                        ("not-a-verifier", "Un autre système", ("services:read",))):
            _, secrets[client_id] = await register_client(RegisterClient(OAuthClient(
                client_id=client_id, name=name, secret_hash=None, grant_types=("client_credentials",), scopes=scopes,
                audiences=("accounts",))), uow_factory())
        stop, started = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(create_app(provider), "127.0.0.1", port, stop, started=started))
        await asyncio.wait_for(started.wait(), 10)
        try:
            yield SimpleNamespace(base=base, provider=provider, uow_factory=uow_factory, sessions=sessions,
                                  secrets=secrets)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await engine.dispose()


async def _wallet_with_card(front, tmp_path, email: str) -> tuple[str, ReferenceWallet]:
    async with front.uow_factory() as uow:
        resident = await add_new_resident(uow, email=email, password_hash=None, preferred_language="fr",
                                          now=dt.datetime.now(dt.timezone.utc), email_verified=True)
        resident.level = LevelOfAssurance.VERIFIED
        await uow.residents.save(resident)
        await uow.commit()
    offer = await issuance.create_offer(front.provider.card, resident.resident_id, ELOISE)
    wallet = ReferenceWallet.open(tmp_path / f"{email}.json", PIN)
    async with httpx.AsyncClient(timeout=10) as http:
        await wallet.accept_offer(http, offer.uri, offer.tx_code, pin=PIN)
    return resident.resident_id, wallet


async def _ask(front, http, claim="age_over_18", client=BOROUGH, **extra) -> httpx.Response:
    return await http.post(front.base + "/card/vp/requests", auth=(client, front.secrets[client]),
                           data={"claim": claim, **extra})


async def _result(front, http, transaction_id, client=BOROUGH) -> httpx.Response:
    return await http.post(front.base + "/card/vp/result", auth=(client, front.secrets[client]),
                           data={"transaction_id": transaction_id})


async def test_a_borough_system_checks_age_over_18_online_and_the_resident_sees_it(verifier_front, tmp_path,
                                                                                   capsys):
    front = verifier_front
    resident_id, wallet = await _wallet_with_card(front, tmp_path, "vp-age@example.ca")
    async with httpx.AsyncClient(timeout=10) as http:
        asked = await _ask(front, http, purpose="Carte de bibliothèque adulte")
        assert asked.status_code == 200, asked.text
        transaction = asked.json()
        assert transaction["authorization_request"].startswith("openid4vp://?client_id=redirect_uri%3A")
        # the request by reference: unsigned (redirect_uri: prefix), direct_post, one DCQL claim
        fetched = await http.get(transaction["request_uri"])
        assert fetched.headers["content-type"] == "application/oauth-authz-req+jwt"
        pending = await _result(front, http, transaction["transaction_id"])
        assert pending.json()["status"] == "pending"

        # A wrong PIN: the wallet refuses, signs nothing, sends nothing; the request still waits.
        answer = ["wallet", "present", "--openid4vp", transaction["authorization_request"], "--store", str(wallet.path)]
        assert await asyncio.to_thread(mtlid_typing_pin, answer, "000000") == 1
        assert "wrong PIN" in capsys.readouterr().err
        assert (await _result(front, http, transaction["transaction_id"])).json()["status"] == "pending"
        assert (await http.get(transaction["request_uri"])).status_code == 200

        # The resident's wallet answers over real HTTP, through the command, with the right PIN.
        code = await asyncio.to_thread(mtlid_typing_pin, answer)
        said = json.loads(capsys.readouterr().out)
        assert code == 0, said
        assert said["client_name"] == "Bibliothèques du Plateau-Mont-Royal" and said["asked"] == ["age_over_18"]

        result = (await _result(front, http, transaction["transaction_id"])).json()
        assert result["status"] == "accepted" and result["disclosed"] == {"age_over_18": True}
        # delivered once: the value is the borough system's now, not kept by the city
        again = (await _result(front, http, transaction["transaction_id"])).json()
        assert again["status"] == "accepted" and "disclosed" not in again
        # another borough system cannot read this transaction
        other = await _result(front, http, transaction["transaction_id"], client="ahuntsic-permis")
        assert other.status_code == 400 and other.json()["error"] == "invalid_request"
        # the request object is gone once answered
        assert (await http.get(transaction["request_uri"])).status_code == 404

    # The release is in identity's outbox, categories only, and the consent register records it.
    [released] = [e for e in await outbox_events(front.sessions, "data_released")
                  if e["data"]["resident_id"] == resident_id]
    assert released["data"]["channel"] == "openid4vp" and released["data"]["client_id"] == BOROUGH
    assert released["data"]["categories"] == ["date_of_birth"]
    assert "True" not in json.dumps(released) and "age_over_18" not in json.dumps(released)
    async with temporary_database("card_vp_consent") as consent_url:
        await migrate_async("consent", consent_url)
        engine = create_engine(consent_url)
        store = LedgerStore(session_factory(engine), os.urandom(32))
        try:
            consumer = EventConsumer(jetstream=lambda: None, uow_factory=lambda: ConsentUnitOfWork(store),
                                     durable="consent-identity", stream_service="identity",
                                     subjects=list(IDENTITY_SUBJECTS), handler=dispatcher(IDENTITY_SUBJECTS))
            assert await consumer.apply(CloudEvent(id=released["id"], type=released["type"], source=released["source"],
                                                   time=released["time"], data=released["data"]))
            entries, _ = await handlers.access_log(commands.ListPage(resident_id), ConsentUnitOfWork(store))
            [entry] = entries
            async with ConsentUnitOfWork(store) as uow:
                recipient = await uow.catalogue.recipient(entry.recipient_id)
            assert recipient.name_fr == "Bibliothèques du Plateau-Mont-Royal"
            assert entry.body["data_categories"] == ["date_of_birth"]
            assert entry.body["purpose_id"] == "service-provision" and entry.body["source"] == "identity:openid4vp"
        finally:
            await store.aclose()
            await engine.dispose()


async def test_refusals_with_reasons(verifier_front, tmp_path):
    front = verifier_front
    resident_id, wallet = await _wallet_with_card(front, tmp_path, "vp-refusals@example.ca")
    async with httpx.AsyncClient(timeout=10) as http:
        async def request():
            transaction = (await _ask(front, http)).json()
            query = dict(p.split("=", 1) for p in transaction["authorization_request"].split("?", 1)[1].split("&"))
            body = (await http.get(transaction["request_uri"])).text.split(".")[1]
            from services.identity.card.sd_jwt import b64url_decode
            return transaction, query, json.loads(b64url_decode(body))

        async def post(request_object, presentation):
            return await http.post(request_object["response_uri"], data={
                "vp_token": json.dumps({"carte": [presentation]}), "state": request_object["state"]})

        async def outcome(transaction):
            return (await _result(front, http, transaction["transaction_id"])).json()

        # wrong nonce: a presentation made for another nonce
        transaction, _, ro = await request()
        answer = await post(ro, wallet.present(["age_over_18"], pin=PIN, audience=ro["client_id"], nonce="not-this-one"))
        assert answer.status_code == 400 and answer.json()["reason"] == "wrong_nonce"
        assert await outcome(transaction) == {"transaction_id": transaction["transaction_id"], "status": "refused",
                                              "claims": ["age_over_18"], "reason": "wrong_nonce"}

        # replay: a good answer, then the same answer again (same request, then another request)
        transaction, _, ro = await request()
        good = wallet.present(["age_over_18"], pin=PIN, audience=ro["client_id"], nonce=ro["nonce"])
        assert (await post(ro, good)).status_code == 200
        replayed = await post(ro, good)
        assert replayed.status_code == 400 and replayed.json()["reason"] == "already_answered"
        assert (await outcome(transaction))["status"] == "accepted"  # the first answer stands
        transaction2, _, ro2 = await request()
        replayed = await post(ro2, good)
        assert replayed.json()["reason"] == "wrong_nonce"
        assert (await outcome(transaction2))["reason"] == "wrong_nonce"

        # claim not disclosed: the wallet shows something else than what was asked
        transaction, query, _ = await request()
        said = await wallet.answer_openid4vp(http, transaction["authorization_request"],
                                             claims=["resident_of_montreal"], pin=PIN)
        assert said["status"] == 400 and said["reason"] == "claim_not_disclosed"
        assert (await outcome(transaction))["reason"] == "claim_not_disclosed"
        # more than asked: refused, nothing kept
        transaction, _, _ = await request()
        said = await wallet.answer_openid4vp(http, transaction["authorization_request"],
                                             claims=["age_over_18", "given_name"], pin=PIN)
        assert said["reason"] == "claim_not_requested"
        assert "disclosed" not in await outcome(transaction)

        # a wrong audience: a presentation made for a counter, not for this verifier
        transaction, _, ro = await request()
        answer = await post(ro, wallet.present(["age_over_18"], pin=PIN, audience="comptoir-ahuntsic", nonce=ro["nonce"]))
        assert answer.json()["reason"] == "wrong_audience"

        # bad requests: no client registered for it, a bad secret, a claim not askable online
        assert (await _ask(front, http, client="not-a-verifier")).json()["error"] == "unauthorized_client"
        wrong = await http.post(front.base + "/card/vp/requests", auth=(BOROUGH, "nope"), data={"claim": "age_over_18"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        citizen = await _ask(front, http, claim="citizen_number")
        assert citizen.status_code == 400 and citizen.json()["error_description"].startswith("claim:")
        unknown = await http.post(front.base + "/card/vp/response", data={"state": "nope", "vp_token": "{}"})
        assert unknown.status_code == 400 and unknown.json()["error_description"].startswith("state:")

        # revoked: "J'ai perdu mon téléphone" — refused at once (a status list built for the answer)
        transaction, _, ro = await request()
        async with front.uow_factory() as uow:
            assert await issuance.revoke_all(uow, resident_id, "lost_device", front.provider.card.now())
            await uow.commit()
        answer = await post(ro, wallet.present(["age_over_18"], pin=PIN, audience=ro["client_id"], nonce=ro["nonce"]))
        assert answer.json()["reason"] == "revoked"
        assert (await outcome(transaction))["reason"] == "revoked"



@pytest.mark.parametrize("vp_token", [None, "", "[]", "{}", '{"carte": []}', '{"carte": ["a", "b"]}',
                                      '{"autre": ["x"]}', '{"carte": ["abc"]}', '{"carte": ["a~b~c"]}',
                                      '{"carte": ["eyJhbGciOiJFUzI1NiJ9.e30.AAAA~"]}', '{"carte": [42]}',
                                      '{"carte": ["' + "A" * 5000 + '~"]}'])
async def test_a_bad_vp_token_is_refused_with_a_reason_never_a_500(verifier_front, vp_token):
    front = verifier_front
    async with httpx.AsyncClient(timeout=10) as http:
        transaction = (await _ask(front, http)).json()
        state = transaction["request_uri"].rsplit("/", 1)[1]
        data = {"state": state} if vp_token is None else {"state": state, "vp_token": vp_token}
        answer = await http.post(front.base + "/card/vp/response", data=data)
        assert answer.status_code == 400, answer.text
        reason = answer.json()["reason"]
        assert reason in ("invalid_vp_token", "malformed", "bad_signature", "unknown_key", "tampered_disclosure")
        result = (await _result(front, http, transaction["transaction_id"])).json()
        assert (result["status"], result["reason"]) == ("refused", reason)


async def test_bad_requests_of_a_borough_system(verifier_front):
    front = verifier_front
    async with httpx.AsyncClient(timeout=10) as http:
        two = await http.post(front.base + "/card/vp/requests", auth=(BOROUGH, front.secrets[BOROUGH]),
                              data={"claim": ["age_over_18", "age_over_65"]})
        assert two.status_code == 400 and two.json()["error_description"].startswith("claim:")
        none = await http.post(front.base + "/card/vp/requests", auth=(BOROUGH, front.secrets[BOROUGH]))
        assert none.status_code == 400 and none.json()["error_description"].startswith("claim:")
        long_purpose = await _ask(front, http, purpose="x" * 201)
        assert long_purpose.status_code == 400 and long_purpose.json()["error_description"].startswith("purpose:")
        anonymous = await http.post(front.base + "/card/vp/requests", data={"claim": "age_over_18"})
        assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
        unknown = await _result(front, http, "no-such-transaction")
        assert unknown.status_code == 400 and unknown.json()["error_description"].startswith("transaction_id:")
        assert (await http.get(front.base + "/card/vp/request/no-such-request")).status_code == 404
        assert (await http.get(front.base + "/card/vp/response")).json()["error"] == "invalid_request"
