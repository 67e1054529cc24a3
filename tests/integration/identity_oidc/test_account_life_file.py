"""The resident's file has the account's life (issue 21): each "this was not me" report and
each closure with its receipt number and its reopening at a counter, as the resident reads
them in the export (``resident_file.SECTIONS``, section ``account_life``), in the
order they happened, with nothing secret."""

from __future__ import annotations

import datetime as dt
import json

from services.identity.domain.assurance import LevelOfAssurance
from services.identity.service_layer import account_closure as closure
from services.identity.service_layer import suspicious_activity as suspicious
from services.identity.service_layer.agents import Agent
from services.identity.service_layer.resident_file import FileSources
from services.identity.service_layer.resident_file import account_life as account_life_section
from tests.integration.identity_oidc.conftest import PASSWORD, add_resident


async def test_the_file_has_each_report_and_each_closure_with_its_reopening(front):
    resident = await add_resident(front.uow, "vie.du.compte@example.ca", LevelOfAssurance.SELF_ASSERTED, False)
    empty = await _account_life(front, resident.resident_id)
    assert empty == {"closures": [], "security_reports": []}

    report = await suspicious.report_suspicious_activity(
        suspicious.ReportSuspiciousActivity(resident.resident_id), front.uow())
    async with front.uow() as uow:          # a new password chosen since (the report asks for it)
        again = await uow.residents.get(resident.resident_id)
        again.password_change_required = False
        await uow.residents.save(again)
        await uow.commit()
    receipt = await closure.close_account(closure.CloseAccount(resident.resident_id, PASSWORD), front.uow())
    await closure.reopen_account(closure.ReopenAccount(
        Agent("agent-0042", "acces-montreal-counter"), resident.resident_id, "passport"), front.uow())
    second = await closure.close_account(closure.CloseAccount(resident.resident_id, PASSWORD), front.uow())

    life = await _account_life(front, resident.resident_id)
    [reported] = life["security_reports"]
    assert reported["report_number"] == report.report_id and reported["session_named"] is None
    assert reported["reported_at"].endswith("Z") and reported["sessions_ended"] == 0
    first, last = life["closures"]
    assert first["receipt_number"] == receipt.closure_id and first["closed_by"] == "resident"
    assert first["reopened_at"] and first["reopened_by_agent"] == "agent-0042"
    assert last["receipt_number"] == second.closure_id and last["reopened_at"] is None
    assert first["closed_at"] < last["closed_at"]
    assert "secret" not in json.dumps(life) and PASSWORD not in json.dumps(life)


async def _account_life(front, resident_id: str) -> dict:
    """The ``account_life`` section exactly as the export builds it."""
    return await account_life_section(FileSources(resident_id=resident_id, resident={}, uow_factory=front.uow,
                                                  now=dt.datetime.now(dt.timezone.utc)))
