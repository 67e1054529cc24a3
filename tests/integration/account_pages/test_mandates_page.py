"""Issue 22, "Mes procurations", with the whole system running (``mtlid up`` as processes): a
resident gives a mandate to another by citizen number; bad input gets a 400 page with an error
summary and nothing is recorded; the other accepts it, sees it as received; the first revokes
it and both see it in the history; a borough system's decision follows at once."""

from __future__ import annotations

import asyncio
import json
import re

import grpc
import httpx
import pytest
from joserfc import jws
from joserfc.jwk import KeySet

from montreal.consent.v1 import consent_pb2 as cpb
from montreal.consent.v1 import consent_pb2_grpc
from services.identity.domain.citizen_number import CitizenNumber
from tests.e2e.system import System, prepare_catalogue
from tests.integration.account_pages.conftest import hidden_fields

PASSWORD = "a long enough password 2026"
MANDATE_ID = re.compile(r'name="mandate_id" value="([0-9a-f-]{36})"')


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    running = System(str(tmp_path_factory.mktemp("services") / "var"))
    running.start()
    try:
        prepare_catalogue(running)
        yield running
    finally:
        running.stop()


async def signed_in(system, email: str) -> tuple[httpx.AsyncClient, str]:
    resident_id = system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")["resident_id"]
    http = httpx.AsyncClient(base_url=system.issuer, follow_redirects=False, timeout=15)
    page = await http.get("/account/login")
    await http.post("/account/login", data={**hidden_fields(page.text), "email": email, "password": PASSWORD})
    return http, resident_id


def text(response: httpx.Response) -> str:
    return response.text.replace("&#39;", "'")


async def record_act(system, stub, mandate_id: str) -> None:
    """A service of the catalogue (its own client, scope consent:record) records a payment the
    son made for his mother, once consent has learned the service from accounts' events."""
    client = system.cli("client", "create", "--name", "Loisirs du Plateau", "--client-id", "loisirs-plateau",
                        "--grant-type", "client_credentials", "--scope", "consent:record",
                        "--audience", "urn:mtlid:consent", "--city")
    system.cli("service", "create", "--id", "loisirs-plateau", "--kind", "borough", "--borough", "Le Plateau-Mont-Royal",
               "--name-fr", "Loisirs du Plateau", "--name-en", "Plateau recreation", "--owner",
               "Arrondissement du Plateau-Mont-Royal", "--client-id", "loisirs-plateau", "--attribute", "email",
               "--purpose", "service-provision")
    token = system.client_token("loisirs-plateau", client["client_secret"], "consent:record", "urn:mtlid:consent")
    metadata = (("authorization", f"Bearer {token}"),)
    for _ in range(100):   # consent learns the service from accounts' service_registered event
        known = {r.recipient_id for r in (await stub.ListRecipients(cpb.ListRecipientsRequest())).recipients}
        if "loisirs-plateau" in known:
            break
        await asyncio.sleep(0.2)
    reply = await stub.RecordMandateAct(cpb.RecordMandateActRequest(
        mandate_id=mandate_id, act_id="plateau-paiement-0001", service="loisirs-plateau", action="pay"),
        metadata=metadata)
    assert not reply.already_recorded


async def test_give_accept_revoke_in_mon_compte(system):
    mother, mother_id = await signed_in(system, "mere.procuration@example.ca")
    son, son_id = await signed_in(system, "fils.procuration@example.ca")
    son_number = CitizenNumber.parse(son_id).human
    try:
        page = await mother.get("/account/mandates")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert "Mes procurations" in page.text and "Donner une procuration" in page.text
        token = hidden_fields(page.text)["csrf_token"]
        base = {"csrf_token": token, "mandatary": son_number, "service": "*", "action": ["view", "pay"],
                "until": ""}

        # Bad input: a 400 page naming the problem, nothing recorded.
        for fields, message in [
            ({"mandatary": CitizenNumber.parse(mother_id).human}, "à vous-même"),
            ({"mandatary": "MTL 0000-0000-0000"}, "numéro citoyen valide"),
            ({"action": []}, "Cochez au moins"),
            ({"until": "2020-01-01"}, "après aujourd'hui"),
            ({"until": "2099-01-01"}, "au plus un an"),
        ]:
            refused = await mother.post("/account/mandates/give", data={**base, "until": "2027-06-01", **fields})
            assert refused.status_code == 400, fields
            assert 'class="error-summary"' in refused.text and message in text(refused), (fields, text(refused)[:2000])
        assert not MANDATE_ID.search((await mother.get("/account/mandates")).text)

        given = await mother.post("/account/mandates/give", data={**base, "until": "2027-06-01"})
        assert given.status_code == 303 and given.headers["location"] == "/account/mandates?done=given"
        listing = text(await mother.get("/account/mandates?done=given"))
        assert f"À {son_number}" in listing and "En attente d'acceptation" in listing
        [mandate_id] = set(MANDATE_ID.findall(listing))

        # The son sees it waiting, accepts it; it is then received, in force.
        waiting = text(await son.get("/account/mandates?lang=en"))
        assert "Waiting for your acceptance" in waiting and f"For {CitizenNumber.parse(mother_id).human}" in waiting
        son_token = hidden_fields(waiting)["csrf_token"]
        accepted = await son.post("/account/mandates/accept", data={"csrf_token": son_token, "mandate_id": mandate_id})
        assert accepted.status_code == 303
        received = text(await son.get("/account/mandates?lang=en"))
        assert "In force" in received and "Renounce this mandate" in received

        # A borough system that asks consent "may the son act for his mother?".
        client = system.cli("client", "create", "--name", "Guichet du Plateau", "--client-id", "plateau-guichet",
                            "--grant-type", "client_credentials", "--scope", "consent:check",
                            "--audience", "urn:mtlid:consent", "--city")
        token_for_borough = system.client_token("plateau-guichet", client["client_secret"], "consent:check",
                                                "urn:mtlid:consent")
        async with grpc.aio.insecure_channel(system.target("consent")) as channel:
            stub = consent_pb2_grpc.ConsentServiceStub(channel)
            borough = (("authorization", f"Bearer {token_for_borough}"),)
            question = cpb.MandateQuestion(mandatary_id=son_id, represented_id=mother_id, service="montreal-ca",
                                           action="pay")
            [allowed] = (await stub.DecideMandates(cpb.DecideMandatesRequest(questions=[question]),
                                                   metadata=borough)).decisions
            assert allowed.allowed

            # A service records what the son did for his mother: both pages show it.
            await record_act(system, stub, mandate_id)
            assert "What was done under this mandate" in text(await son.get("/account/mandates?lang=en"))
            mine = text(await mother.get("/account/mandates"))
            assert "Ce qui a été fait en vertu de cette procuration" in mine and "Loisirs du Plateau : payer" in mine

            # The mother revokes; the next decision is refused at once; both see the history.
            revoked = await mother.post("/account/mandates/end", data={"csrf_token": token, "mandate_id": mandate_id})
            assert revoked.status_code == 303 and revoked.headers["location"].endswith("done=ended")
            [refused] = (await stub.DecideMandates(cpb.DecideMandatesRequest(questions=[question]),
                                                   metadata=borough)).decisions
            assert (refused.allowed, refused.reason) == (False, "MANDATE_REVOKED")
        mine = text(await mother.get("/account/mandates"))
        assert "Révoquée" in mine and "révoquée par la personne représentée" in mine
        assert "revoked by the person represented" in text(await son.get("/account/mandates?lang=en"))
        # Both sides download the mandate's signed receipt: its whole life, checked with joserfc
        # against the log's published keys; a third resident is told it does not exist.
        async with grpc.aio.insecure_channel(system.target("consent")) as channel:
            jwks = (await consent_pb2_grpc.ConsentServiceStub(channel).GetLogKeys(cpb.GetLogKeysRequest())).jwks_json
        keys = KeySet.import_key_set(json.loads(jwks))
        assert f'href="/account/mandates/{mandate_id}/receipt"' in mine
        for side in (mother, son):
            download = await side.get(f"/account/mandates/{mandate_id}/receipt")
            assert download.status_code == 200 and download.headers["content-type"].startswith("application/jose")
            assert download.headers["cache-control"] == "no-store"
            receipt = json.loads(jws.deserialize_compact(download.text, keys, algorithms=["ES256"]).payload)
            assert (receipt["mandate_id"], receipt["represented_id"], receipt["mandatary_id"], receipt["state"]) == (
                mandate_id, mother_id, son_id, "revoked")
            assert [e["type"] for e in receipt["entries"]] == [
                "mandate_granted", "mandate_accepted", "mandate_used", "mandate_revoked"]
        stranger, _ = await signed_in(system, "voisine.procuration@example.ca")
        try:
            assert (await stranger.get(f"/account/mandates/{mandate_id}/receipt")).status_code == 404
            assert (await stranger.get("/account/mandates/not-a-mandate/receipt")).status_code == 404
        finally:
            await stranger.aclose()

        # The mother's downloadable file has the mandate, its ending and the act, signed.
        export_form = await mother.get("/account/export")
        document = (await mother.post("/account/export", data={**hidden_fields(export_form.text),
                                                               "current_password": PASSWORD})).json()
        [exported] = [m for m in document["mandates"] if m["mandate_id"] == mandate_id]
        assert (exported["side"], exported["state"], exported["mandatary"]) == ("given", "revoked", son_id)
        assert [(a["service"], a["action"]) for a in exported["acts"]] == [("loisirs-plateau", "pay")]
        from services.common.file_signature import verify_file_signature
        assert verify_file_signature(document)[0]

        # Ending an ended mandate again is harmless (a double click); the state stays revoked.
        again = await son.post("/account/mandates/end", data={"csrf_token": son_token, "mandate_id": mandate_id})
        assert again.status_code == 303
        assert "revoked by the person represented" in text(await son.get("/account/mandates?lang=en"))
    finally:
        await mother.aclose()
        await son.aclose()
