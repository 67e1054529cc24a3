"""Issue 22, the counter records legal mandates for adults on their judgment, with the whole
system running (``mtlid up`` as processes), over the console's HTTP forms: a court-homologated
protection mandate (CCQ arts. 2166 ff.) and a tutorship to an adult (arts. 268 ff.). Each bad
form first — the wrong document for the basis, the original not confirmed as seen, the
protected person named as their own holder — answers 400 naming the field, and nothing is
recorded (consent still says NO_MANDATE). Recorded on the judgment, open-ended when the judgment
says so, in force at once for every service and action; the protected person sees it in "Mes
procurations" without a revoke button (a legal authority ends at the counter or by judgment);
suspended at the counter, the next decision is refused."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from montreal.consent.v1 import consent_pb2 as cpb
from montreal.consent.v1 import consent_pb2_grpc
from services.identity.domain.citizen_number import CitizenNumber
from tests.e2e.system import System, prepare_catalogue
from tests.integration.account_pages.test_organizations import Counter
from tests.integration.account_pages.test_sign_in_on_behalf import Resident


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    running = System(str(tmp_path_factory.mktemp("services") / "var"))
    running.start()
    try:
        prepare_catalogue(running)
        yield running
    finally:
        running.stop()


def decide(system, token: str, mandatary: str, represented: str) -> cpb.MandateDecision:
    with grpc.insecure_channel(system.target("consent")) as channel:
        [decision] = consent_pb2_grpc.ConsentServiceStub(channel).DecideMandates(cpb.DecideMandatesRequest(
            questions=[cpb.MandateQuestion(mandatary_id=mandatary, represented_id=represented,
                                           service="montreal-ca", action="consent")]),
            metadata=(("authorization", f"Bearer {token}"),), timeout=5).decisions
    return decision


async def test_adult_legal_mandates_recorded_at_the_counter_on_their_judgment(system):
    client = system.cli("client", "create", "--name", "Guichet Verdun", "--client-id", "guichet-verdun",
                        "--grant-type", "client_credentials", "--scope", "consent:check",
                        "--audience", "urn:mtlid:consent", "--city")
    token = system.client_token("guichet-verdun", client["client_secret"], "consent:check", "urn:mtlid:consent")
    counter = Counter(system)
    protected = Resident(system, "personne.protegee@example.ca")
    mandatary, tutor = Resident(system, "mandataire.homologue@example.ca"), Resident(system, "tuteur.majeur@example.ca")
    try:
        await counter.sign_in()
        file_page = f"/counter/resident?citizen_number={protected.resident_id}"
        base = {"citizen_number": protected.resident_id, "holder": CitizenNumber.parse(mandatary.resident_id).human,
                "basis": "protection_mandate", "mandate_document": "homologation_judgment",
                "document_reference": "500-14-000123-261", "document_seen": "yes", "until": ""}
        for changed, field in [({"mandate_document": "birth_certificate"}, "mandate_document"),
                               ({"document_seen": ""}, "document_seen"),
                               ({"document_reference": " "}, "document_reference"),
                               ({"holder": CitizenNumber.parse(protected.resident_id).human}, "holder"),
                               ({"basis": "resident_consent"}, "basis")]:
            refused = await counter.post("/counter/resident/mandate", file_page, **{**base, **changed})
            assert refused.status_code == 400 and f'href="#{field}"' in refused.text, (changed, refused.text[:500])
            decision = decide(system, token, mandatary.resident_id, protected.resident_id)
            assert (decision.allowed, decision.reason) == (False, "NO_MANDATE"), changed

        # On the homologation judgment, open-ended as judged: in force at once, for consent too.
        recorded = await counter.post("/counter/resident/mandate", file_page, **base)
        assert recorded.status_code == 200 and 'id="recorded"' in recorded.text, recorded.text[:500]
        assert "Mandat de protection homologué" in recorded.text and "500-14-000123-261" not in recorded.text
        allowed = decide(system, token, mandatary.resident_id, protected.resident_id)
        assert allowed.allowed and allowed.mandate_id

        # A tutorship to an adult, on its judgment, until a date the judgment gives.
        until = (dt.date.today() + dt.timedelta(days=3 * 365)).isoformat()
        tutorship = await counter.post("/counter/resident/mandate", file_page, **{
            **base, "holder": CitizenNumber.parse(tutor.resident_id).human, "basis": "court_tutorship",
            "mandate_document": "tutorship_judgment", "until": until})
        assert tutorship.status_code == 200 and "Tutelle au majeur" in tutorship.text
        assert decide(system, token, tutor.resident_id, protected.resident_id).allowed

        # The protected person sees both in Mes procurations, and cannot revoke them online.
        await protected.sign_in_to_account()
        mine = (await protected.http.get("/account/mandates")).text
        assert CitizenNumber.parse(mandatary.resident_id).human in mine and "Mandat de protection" in mine
        assert f"/account/mandates/{allowed.mandate_id}/receipt" in mine   # its signed receipt, to keep
        assert "form method=\"post\" action=\"/account/mandates/end\"" not in mine.split('class="cards mandates-given"')[1] \
            .split("</ul>")[0]

        # Suspended at the counter (pending a court's decision): refused at once.
        suspended = await counter.post("/counter/resident/mandate/end", file_page, citizen_number=protected.resident_id,
                                       mandate_id=allowed.mandate_id, how="suspend")
        assert suspended.status_code == 200, suspended.text[:500]
        refused = decide(system, token, mandatary.resident_id, protected.resident_id)
        assert (refused.allowed, refused.reason) == (False, "MANDATE_SUSPENDED")
    finally:
        await counter.http.aclose()
        for person in (protected, mandatary, tutor):
            await person.http.aclose()
