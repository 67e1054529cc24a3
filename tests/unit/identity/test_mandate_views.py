"""Issue 22, unit logic of the account pages: a consent given by a mandatary says so on the
represented resident's "Mes consentements" (the gRPC path is tested with a real server in
tests/integration/consent/test_mandates_grpc.py)."""

from __future__ import annotations

import asyncio

from montreal.consent.v1 import consent_pb2 as cpb
from services.identity.domain.citizen_number import CitizenNumber
from services.identity.http.account.pages import _consent_views
from services.identity.http.i18n import Translator


class Backend:
    def __init__(self, consents):
        self._consents = consents

    async def consents(self, include_inactive):
        return self._consents

    async def purposes(self):
        return {}

    async def categories(self):
        return {}

    async def recipients(self):
        return {}


def test_a_consent_given_by_a_mandatary_names_them_and_the_mandate():
    parent = CitizenNumber.new().canonical
    given = cpb.Consent(consent_id="c1", resident_id=CitizenNumber.new().canonical, recipient_id="montreal-camps",
                        purpose_id="communication", state=cpb.CONSENT_STATE_GIVEN, given_by_mandatary=parent,
                        mandate_id="m-1")
    own = cpb.Consent(consent_id="c2", recipient_id="montreal-camps", purpose_id="statistics",
                      state=cpb.CONSENT_STATE_GIVEN)
    _c, _p, _r, active, _past = asyncio.run(_consent_views(Backend([given, own]), "fr", Translator("fr")))
    by_id = {v["id"]: v for v in active}
    assert by_id["c1"]["by_mandatary"] == CitizenNumber(parent).human and by_id["c1"]["mandate_id"] == "m-1"
    assert by_id["c2"]["by_mandatary"] is None
