"""The sign-in history names the service the resident signed in to, and how: a password at
montreal.ca, then the open session at the library (single sign-on)."""

from __future__ import annotations

from services.identity.domain.assurance import LevelOfAssurance
from services.identity.service_layer import sign_ins
from tests.integration.identity_oidc.conftest import LIBRARY_REDIRECT, add_resident
from tests.integration.identity_oidc.flows import code_for, rp_client


async def test_each_service_signed_in_to_is_in_the_history(front, browser):
    resident = await add_resident(front.uow, "noor@example.ca", LevelOfAssurance.VERIFIED, False)
    city = rp_client(scope="openid")
    await code_for(front, browser, city, email=resident.email)
    library = rp_client("library", scope="openid", redirect_uri=LIBRARY_REDIRECT)
    await code_for(front, browser, library)
    listed = await sign_ins.history(resident.resident_id, front.uow())
    by_service = {(e.client_name, e.methods, e.acr, e.outcome) for e in listed}
    assert ("montreal.ca", ("pwd",), "urn:mtlid:loa:2", "succeeded") in by_service
    assert ("Bibliothèques de Montréal", ("session", "pwd"), "urn:mtlid:loa:2", "succeeded") in by_service
    await city.aclose()
    await library.aclose()
