""""I lost my phone" at the counter (issue 20, point 5): after checking an identity document,
an agent turns a resident's second factor off; the action is journaled with the document and
shown in the resident's history; a refused form changes nothing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from services.identity.adapters import crypto
from services.identity.adapters.orm import AgentActionRow
from services.identity.domain import totp
from services.identity.service_layer.authentication import add_new_resident
from services.identity.service_layer.counter_journal import actions_for_resident
from tests.integration.counter.conftest import KEK, AgentBrowser, agent_of
from tests.integration.counter.test_console import _post


async def _resident_with_a_phone(uow) -> str:
    async with uow() as u:
        resident = await add_new_resident(u, email="telephone.perdu@example.ca", password_hash=None,
                                          preferred_language="fr", now=dt.datetime.now(dt.timezone.utc),
                                          email_verified=True)
        resident.totp_secret_encrypted = crypto.encrypt(KEK, totp.new_secret(), resident.resident_id.encode())
        await u.residents.save(resident)
        await u.recovery_codes.replace(resident.resident_id, ["a" * 64, "b" * 64], dt.datetime.now(dt.timezone.utc))
        await u.commit()
    return resident.resident_id


async def test_an_agent_resets_the_second_factor_after_a_document_check(running_identity):
    _runtime, base, uow = running_identity
    rid = await _resident_with_a_phone(uow)
    agent = await agent_of(uow)
    browser = AgentBrowser(base)
    try:
        await browser.sign_in(agent)
        file_path = "/counter/resident?citizen_number=" + rid
        page = await browser.http.get(file_path)
        assert 'action="/counter/resident/second-factor/reset"' in page.text
        # The health insurance card is not accepted, and four characters at most: nothing changes.
        refused = await _post(browser, file_path, "/counter/resident/second-factor/reset", citizen_number=rid,
                              reset_document_type="health_insurance_card", reset_last_digits="123456")
        assert refused.status_code == 400
        assert 'href="#reset_document_type"' in refused.text and 'href="#reset_last_digits"' in refused.text
        async with uow() as u:
            assert (await u.residents.get(rid)).has_totp and await u.recovery_codes.remaining(rid) == 2
        done = await _post(browser, file_path, "/counter/resident/second-factor/reset", citizen_number=rid,
                           reset_document_type="passport", reset_last_digits="K7Q4")
        assert done.status_code == 200
        assert "Vérification en deux étapes désactivée, après vérification de : Passeport ••K7Q4." in done.text
        assert 'action="/counter/resident/second-factor/reset"' not in done.text  # nothing left to reset
        async with uow() as u:
            assert not (await u.residents.get(rid)).has_totp and await u.recovery_codes.remaining(rid) == 0
            row = (await u.session.execute(select(AgentActionRow.agent_id, AgentActionRow.office,
                                                  AgentActionRow.details).where(
                AgentActionRow.resident_id == rid, AgentActionRow.action == "reset_second_factor"))).one()
        assert row.agent_id == agent.agent_id and row.office == agent.office
        assert row.details == {"document_type": "passport", "document_last_digits": "K7Q4"}
        # The resident sees it in their history, with the office and the document.
        history = await actions_for_resident(uow(), rid)
        assert any(a["action"] == "reset_second_factor" and a["office"] == agent.office
                   and a["details"]["document_type"] == "passport" for a in history)
    finally:
        await browser.close()
