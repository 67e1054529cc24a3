"""The account pages with the accounts and consent services really running (``mtlid up`` as
processes): a resident reaches only their own consents, a withdrawal needs the CSRF token,
the access log pages through its records and shrugs off an altered page link, receipts are
JWS signed by the ledger's key, the export is one JSON attachment."""

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
from tests.e2e.system import BOROUGH_SERVICE, Borough, System, prepare_catalogue
from tests.integration.account_pages.conftest import hidden_fields

PASSWORD = "a long enough password 2026"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    running = System(str(tmp_path_factory.mktemp("pages") / "var"))
    running.start()
    try:
        running.secret = prepare_catalogue(running)
        yield running
    finally:
        running.stop()


async def _resident(system, email: str) -> tuple[httpx.AsyncClient, str]:
    created = system.cli("resident", "create", "--email", email, "--password", PASSWORD, "--verified")
    resident_id = created["resident_id"]
    http = httpx.AsyncClient(base_url=system.issuer, follow_redirects=False, timeout=15)
    page = await http.get("/account/login")
    signed = await http.post("/account/login", data={**hidden_fields(page.text), "email": email, "password": PASSWORD})
    assert signed.status_code in (302, 303), signed.text[:500]
    return http, resident_id


async def _give_communication_consent(http: httpx.AsyncClient) -> str:
    page = await http.get("/account/consents")
    assert page.status_code == 200
    granted = await http.post("/account/consents/grant", data={
        "csrf_token": hidden_fields(page.text)["csrf_token"], "recipient_id": BOROUGH_SERVICE,
        "purpose_id": "communication"})
    assert granted.status_code == 303
    listing = (await http.get("/account/consents")).text
    return re.search(r'/account/consents/([\w-]+)/withdraw', listing).group(1)


async def test_residents_reach_only_their_own_consents_and_withdrawal_needs_csrf(system):
    alice, alice_id = await _resident(system, "alice@example.ca")
    bob, _ = await _resident(system, "bob@example.ca")
    borough = Borough(system, system.secret)
    borough.link(alice_id, "PMR-A")
    try:
        consent_id = await _give_communication_consent(alice)
        # Bob, signed in, asks to withdraw Alice's consent: the ledger refuses, nothing changes
        bob_page = await bob.get("/account/consents")
        refused = await bob.post(f"/account/consents/{consent_id}/withdraw",
                                 data={"csrf_token": hidden_fields(bob_page.text)["csrf_token"]})
        assert refused.status_code in (400, 404)
        assert (await bob.get(f"/account/consents/{consent_id}/withdraw")).status_code == 404
        assert (await bob.get(f"/account/consents/{consent_id}/receipt")).status_code == 404
        # Alice without the CSRF token: refused, still active
        no_token = await alice.post(f"/account/consents/{consent_id}/withdraw", data={})
        assert no_token.status_code == 403
        assert borough.release_email(alice_id).released[0].consent_id == consent_id
        # the receipt is a JWS signed by the ledger's published key
        receipt = await alice.get(f"/account/consents/{consent_id}/receipt")
        assert receipt.status_code == 200 and "attachment" in receipt.headers["content-disposition"]
        with grpc.insecure_channel(system.target("consent")) as channel:
            keys = consent_pb2_grpc.ConsentServiceStub(channel).GetLogKeys(cpb.GetLogKeysRequest(), timeout=5)
        verified = jws.deserialize_compact(receipt.text, KeySet.import_key_set(json.loads(keys.jwks_json)))
        assert consent_id in verified.payload.decode()
        # with the token: withdrawn, and the next release withholds
        page = await alice.get(f"/account/consents/{consent_id}/withdraw")
        done = await alice.post(f"/account/consents/{consent_id}/withdraw",
                                data={"csrf_token": hidden_fields(page.text)["csrf_token"]})
        assert done.status_code == 303 and done.headers["location"] == "/account/consents?done=withdrawn"
        assert list(borough.release_email(alice_id).released) == []
    finally:
        await alice.aclose()
        await bob.aclose()


async def test_access_log_pages_and_filters(system):
    http, resident_id = await _resident(system, "charlie@example.ca")
    borough = Borough(system, system.secret)
    borough.link(resident_id, "PMR-C")
    try:
        await _give_communication_consent(http)
        for _ in range(23):
            assert borough.release_email(resident_id).access_id
        first = await http.get("/account/access", params={"service": BOROUGH_SERVICE})
        assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
        assert first.text.count('<li class="card">') == 20
        older = re.search(r'href="(/account/access\?[^"]*page=[^"]+)"', first.text).group(1).replace("&amp;", "&")
        second = await http.get(older)
        assert second.text.count('<li class="card">') == 3
        assert "Revenir aux plus récents" in second.text
        # an altered page link starts again from the newest, it is never an error page
        tampered = older[:-3] + ("AAA" if not older.endswith("AAA") else "BBB")
        again = await http.get(tampered)
        assert again.status_code == 200 and again.text.count('<li class="card">') == 20
        # another service's filter: nothing
        other = await http.get("/account/access", params={"service": "montreal-ca"})
        assert other.text.count('<li class="card">') == 0
        # the resident asks the borough to unlink: recorded, shown, asked once
        home = await http.get("/account")
        assert "PMR-C" in home.text and "Actif" in home.text
        unlink = await http.post("/account/unlink", data=hidden_fields(home.text))
        assert unlink.headers["location"] == "/account?done=unlink_requested"
        after = await http.get("/account?done=unlink_requested")
        assert 'role="status"' in after.text and "Vous avez demandé de retirer ce lien" in after.text
        assert 'action="/account/unlink"' not in after.text
    finally:
        await http.aclose()


async def test_export_is_one_json_attachment(system):
    http, resident_id = await _resident(system, "dominique@example.ca")
    try:
        page = await http.get("/account/export")
        # The file is everything the city holds: the session alone does not get it.
        for password, error in (("", "Entrez votre mot de passe actuel."),
                                ("not the password", "Ce n'est pas votre mot de passe actuel.")):
            refused = await http.post("/account/export", data={**hidden_fields(page.text), "current_password": password})
            assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/html")
            assert 'id="current_password-error"' in refused.text and error in refused.text.replace("&#39;", "'")
        response = await http.post("/account/export", data={**hidden_fields(page.text), "current_password": PASSWORD})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["content-disposition"].startswith('attachment; filename="mes-donnees-montreal-')
        assert response.headers["cache-control"] == "no-store"
        document = response.json()
        assert document["resident"]["citizen_number"] == resident_id
        assert set(document) >= {"resident", "linked_services", "accounts", "consent", "consent_ledger_proof",
                                 "sign_ins"}
        # the history: the wrong password re-entered for the export just before, and the sign-in
        # that opened this session (never a password or an address)
        outcomes = [(e["outcome"], e["methods"], e["reason"]) for e in document["sign_ins"]["attempts"]]
        assert outcomes[0] == ("refused", ["pwd"], "invalid_credentials")
        assert ("succeeded", ["pwd"], None) in outcomes[1:]
        assert PASSWORD not in json.dumps(document["sign_ins"])
    finally:
        await http.aclose()


async def _publish_as_accounts(system, *events) -> None:
    """What accounts' outbox relay puts on NATS (services/common/outbox.py), for events that
    in production follow the resident's closing and a counter's reopening. That hop itself,
    from identity's resident_closed on, is shown in tests/integration/accounts/
    test_resident_closure.py and tests/integration/test_one_trace.py; here: what the resident
    reads of it."""
    import nats

    from services.common.outbox import outbox_row

    connection = await nats.connect(system.nats_url)
    try:
        jetstream = connection.jetstream()
        for event in events:
            row = outbox_row("accounts", event)
            await jetstream.publish(row["subject"], row["envelope"].encode(),
                                    headers={"Nats-Msg-Id": row["event_id"]})
    finally:
        await connection.close()


async def _access_page_once_it_says(http: httpx.AsyncClient, words: str) -> httpx.Response:
    for _ in range(100):
        page = await http.get("/account/access")
        if words in page.text.replace("&#39;", "'"):
            return page
        await asyncio.sleep(0.2)
    return page


async def test_the_access_page_says_which_services_were_told_of_the_closing_and_reopening(system):
    from services.accounts.domain.events import ServiceAccountReactivated, ServiceAccountSuspended

    http, resident_id = await _resident(system, "eve@example.ca")
    try:
        before = await http.get("/account/access")
        assert "informé de la fermeture" not in before.text     # nothing closed, nothing told
        account_id = "0b7e1c9a-6c55-4a55-9a43-4f3c1d2a9e10"
        # Closing and reopening are days apart in life; here each is awaited before the next, as
        # the two events travel on two subjects (one durable consumer each) with no order
        # between them.
        await _publish_as_accounts(
            system,
            ServiceAccountSuspended(account_id=account_id, resident_id=resident_id, service_id=BOROUGH_SERVICE,
                                    reason="resident_closed"))
        page = await _access_page_once_it_says(http, "informé de la fermeture du compte")
        await _publish_as_accounts(
            system,
            ServiceAccountReactivated(account_id=account_id, resident_id=resident_id, service_id=BOROUGH_SERVICE,
                                      reason="resident_reopened"))
        page = await _access_page_once_it_says(http, "informé de la réouverture du compte")
        assert page.status_code == 200
        text = page.text.replace("&#39;", "'")
        assert "Services informés de la fermeture de votre compte" in text
        # newest first, each with the proof of its ledger entry
        closed, reopened = (text.index("Permis du Plateau informé de la fermeture du compte"),
                            text.index("Permis du Plateau informé de la réouverture du compte"))
        assert reopened < closed
        section = text[text.index('id="services-informed-title"'):]
        assert section.count("/proof\" download>") == 2
        proof = await http.get(re.search(r'href="(/account/ledger/\d+/proof)"', section).group(1))
        assert proof.status_code == 200 and "service_informed" in proof.text
        english = (await http.get("/account/access?lang=en")).text
        assert "Plateau permits told that the account was closed" in english
        assert "Plateau permits told that the account was reopened" in english

        # The downloaded file: the consent register's section lists both, by service.
        form = await http.get("/account/export")
        exported = json.loads((await http.post("/account/export", data={
            **hidden_fields(form.text), "current_password": PASSWORD})).content)
        informed = [e["entry"] for e in exported["consent"]["ledger_entries"]
                    if e["entry"]["type"] == "service_informed"]
        assert [(e["recipient_id"], e["informed_of"], e["account_id"]) for e in informed] == [
            (BOROUGH_SERVICE, "resident_closed", account_id), (BOROUGH_SERVICE, "resident_reopened", account_id)]
    finally:
        await http.aclose()
