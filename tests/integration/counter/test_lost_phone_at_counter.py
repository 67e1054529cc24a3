""""I lost my phone" at the counter (issue 20, point 5): after checking an identity document,
an agent turns a resident's second factor off; the action is journaled with the document and
shown in the resident's history; a refused form changes nothing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from services.identity.adapters import crypto
from services.identity.adapters.orm import AgentActionRow
from services.identity.domain import totp
from services.identity.domain.passkeys import RESIDENT, Passkey
from services.identity.service_layer.authentication import add_new_resident
from services.identity.service_layer.counter_journal import actions_for_resident
from tests.integration.counter.conftest import KEK, AgentBrowser, agent_of
from tests.integration.counter.test_console import _post


async def _resident_with_a_phone(uow, email: str = "telephone.perdu@example.ca", *, totp_on: bool = True,
                                 password_hash: str | None = "$argon2id$stand-in") -> str:
    """A resident with a TOTP key, two recovery codes and a passkey (its public key is a stand-in)."""
    now = dt.datetime.now(dt.timezone.utc)
    async with uow() as u:
        resident = await add_new_resident(u, email=email, password_hash=password_hash, preferred_language="fr",
                                          now=now, email_verified=True)
        if totp_on:
            resident.totp_secret_encrypted = crypto.encrypt(KEK, totp.new_secret(), resident.resident_id.encode())
        await u.residents.save(resident)
        await u.recovery_codes.replace(resident.resident_id, ["a" * 64, "b" * 64], now)
        await u.passkeys.add(Passkey(credential_id=f"cred-{resident.resident_id}", owner_kind=RESIDENT,
                                     owner_id=resident.resident_id, public_key=b"\xa5", sign_count=0,
                                     multi_device=True, name="Téléphone", created_at=now))
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
            assert len(await u.passkeys.of(RESIDENT, rid)) == 1
        done = await _post(browser, file_path, "/counter/resident/second-factor/reset", citizen_number=rid,
                           reset_document_type="passport", reset_last_digits="K7Q4")
        assert done.status_code == 200
        assert ("Vérification en deux étapes désactivée, codes de récupération et clés d&#39;accès retirés, "
                "sessions fermées, après vérification de : Passeport ••K7Q4.") in done.text
        assert 'action="/counter/resident/second-factor/reset"' not in done.text  # nothing left to reset
        async with uow() as u:
            assert not (await u.residents.get(rid)).has_totp and await u.recovery_codes.remaining(rid) == 0
            assert await u.passkeys.of(RESIDENT, rid) == []
            row = (await u.session.execute(select(AgentActionRow.agent_id, AgentActionRow.office,
                                                  AgentActionRow.details).where(
                AgentActionRow.resident_id == rid, AgentActionRow.action == "reset_second_factor"))).one()
        assert row.agent_id == agent.agent_id and row.office == agent.office
        assert row.details == {"document_type": "passport", "document_last_digits": "K7Q4",
                               "passkeys_removed": 1, "sessions_ended": 0}
        # The resident sees it in their history, with the office and the document.
        history = await actions_for_resident(uow(), rid)
        assert any(a["action"] == "reset_second_factor" and a["office"] == agent.office
                   and a["details"]["document_type"] == "passport" for a in history)
        # Never the last way in: a resident without a password keeps the passkeys they sign in with.
        other = await _resident_with_a_phone(uow, "sans.mot.de.passe@example.ca", totp_on=False, password_hash=None)
        other_path = "/counter/resident?citizen_number=" + other
        refused = await _post(browser, other_path, "/counter/resident/second-factor/reset", citizen_number=other,
                              reset_document_type="passport", reset_last_digits="1234")
        assert refused.status_code == 400 and "doit d&#39;abord activer son compte" in refused.text
        async with uow() as u:
            assert len(await u.passkeys.of(RESIDENT, other)) == 1
    finally:
        await browser.close()
