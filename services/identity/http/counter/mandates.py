"""The counter records a legal mandate on a document (issue 22; docs/mandates.md): parental
authority or tutorship for a minor, a court-homologated protection mandate or tutorship for an
adult. It is recorded on the file of the **represented** resident (the child, the protected
adult), naming the holder by citizen number; the agent has seen the original document and types
its number, of which consent keeps only a hash. The authority covers every city service and
every action *(choice: a legal authority is general; docs/mandates.md)*.

    POST /counter/resident/mandate        record (holder, basis, document, end date)
    POST /counter/resident/mandate/end    revoke or suspend a mandate of this file

Authorization, in this order: the agent at level 3 (``_guard``), the CSRF-checked form, the
resident the file names; then consent's agent guard (``consent:agent`` with ``act.sub``).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from starlette.requests import Request
from starlette.responses import Response

from services.identity.domain.citizen_number import CitizenNumber
from services.identity.http.counter.backends import CallRefused, agent_stub
from services.identity.http.counter.web import OnDuty, first
from services.identity.http.routes.common import provider

MONTREAL = zoneinfo.ZoneInfo("America/Montreal")
BASES = ("parental_authority", "tutorship_minor", "protection_mandate", "court_tutorship")
#: The documents an agent may record for each basis (consent checks the same list).
DOCUMENTS = {"parental_authority": ("birth_certificate", "adoption_judgment", "custody_judgment"),
             "tutorship_minor": ("tutorship_judgment", "tutorship_declaration"),
             "protection_mandate": ("homologation_judgment",),
             "court_tutorship": ("tutorship_judgment",)}
DOCUMENT_KINDS = tuple(dict.fromkeys(k for kinds in DOCUMENTS.values() for k in kinds))
ALL_ACTIONS = ["view", "request", "pay", "consent"]
_UUID = re.compile(r"^[0-9a-f-]{36}$")
_STATES = {1: "pending", 2: "active", 3: "suspended", 4: "revoked", 5: "expired"}
_BASES = {1: "resident_consent", 2: "parental_authority", 3: "tutorship_minor", 4: "protection_mandate",
          5: "court_tutorship", 60: "organization_representative"}


async def section(request: Request, duty: OnDuty, resident_id: str) -> dict:
    """The mandates of a file (for it and held by it), for the file page."""
    from montreal.consent.v1 import consent_pb2 as cpb

    try:
        async with agent_stub(request, duty, "consent") as stub:
            listing = await stub.ListMandates(cpb.ListMandatesRequest(resident_id=resident_id, page_size=100))
    except CallRefused:
        return {"problem": "counter.error.unavailable", "entries": []}

    def view(m, held: bool) -> dict:
        other = m.represented_id if held else m.mandatary_id
        shown = CitizenNumber(other).human if _valid(other) else _organization(other)
        return {"id": m.mandate_id, "held": held, "other": shown,
                "basis": _BASES.get(m.basis, ""), "state": _STATES.get(m.state, ""),
                "document": m.document_kind, "until": m.valid_until_time.ToDatetime().date().isoformat()
                if m.HasField("valid_until_time") else ""}

    return {"problem": None, "entries": [view(m, False) for m in listing.given] + [view(m, True) for m in listing.received]}


def _organization(party_id: str) -> str:
    """An organization's number in its human form (issue 22), else the id as stored."""
    from services.common.organization_number import InvalidOrganizationNumber, OrganizationNumber

    try:
        return OrganizationNumber(party_id).human
    except InvalidOrganizationNumber:
        return party_id


def _valid(resident_id: str) -> bool:
    try:
        CitizenNumber(resident_id)
        return True
    except ValueError:
        return False


async def record(request: Request) -> Response:
    from montreal.consent.v1 import consent_pb2 as cpb
    from services.identity.http.counter import console

    posted = await console._posted_on_file(request)
    if isinstance(posted, Response):
        return posted
    duty, fields, found = posted
    values = {"holder": first(fields, "holder")[:40], "basis": first(fields, "basis")[:40],
              "mandate_document": first(fields, "mandate_document")[:40],
              "document_reference": first(fields, "document_reference")[:200],
              "until": first(fields, "until")[:10]}
    errors: dict[str, str] = {}
    holder = None
    try:
        holder = CitizenNumber.parse(values["holder"]).canonical
    except ValueError:
        errors["holder"] = "counter.mandate.error.holder"
    if holder is not None:
        if holder == found.resident_id:
            errors["holder"] = "counter.mandate.error.self"
        else:
            async with provider(request).uow_factory() as uow:
                if await uow.residents.get(holder) is None:
                    errors["holder"] = "counter.error.number_unknown"
    if values["basis"] not in BASES:
        errors["basis"] = "counter.mandate.error.basis"
    elif values["mandate_document"] not in DOCUMENTS[values["basis"]]:
        errors["mandate_document"] = "counter.mandate.error.document"
    if not values["document_reference"].strip():
        errors["document_reference"] = "counter.mandate.error.reference"
    if first(fields, "document_seen") != "yes":
        errors["document_seen"] = "counter.mandate.error.seen"
    until = None
    if values["until"]:
        try:
            day = dt.date.fromisoformat(values["until"])
            if day <= dt.datetime.now(MONTREAL).date():
                errors["until"] = "counter.mandate.error.past"
            else:
                until = dt.datetime.combine(day, dt.time(0, 0), MONTREAL).astimezone(dt.timezone.utc)
        except ValueError:
            errors["until"] = "counter.mandate.error.date"
    elif values["basis"] in ("parental_authority", "tutorship_minor"):
        # A minor's authority ends at majority (CCQ art. 153): the agent enters the 18th birthday.
        errors["until"] = "counter.mandate.error.until_minor"
    if errors:
        return await console._file(request, duty, found, {"errors": errors, "values": values}, 400)
    request_pb = cpb.GiveMandateRequest(
        represented_id=found.resident_id, mandatary_id=holder, grantor_id=holder,
        basis={"parental_authority": cpb.MANDATE_BASIS_PARENTAL_AUTHORITY,
               "tutorship_minor": cpb.MANDATE_BASIS_TUTORSHIP_MINOR,
               "protection_mandate": cpb.MANDATE_BASIS_PROTECTION_MANDATE,
               "court_tutorship": cpb.MANDATE_BASIS_COURT_TUTORSHIP}[values["basis"]],
        scope=[cpb.MandateScope(service="*", actions=ALL_ACTIONS)],
        document_kind=values["mandate_document"], document_reference=values["document_reference"].strip())
    if until is not None:
        request_pb.valid_until_time.FromDatetime(until)
    try:
        async with agent_stub(request, duty, "consent") as stub:
            mandate = (await stub.GiveMandate(request_pb)).mandate
    except CallRefused as refused:
        key = "counter.mandate.error.refused" if refused.code in ("INVALID_ARGUMENT", "FAILED_PRECONDITION",
                                                                  "NOT_FOUND") else console._unavailable(refused)
        return await console._file(request, duty, found, {"errors": {"holder": key}, "values": values}, 400)
    await console._journal(request, duty, "record_mandate", found.resident_id,
                           {"mandate_id": mandate.mandate_id, "basis": values["basis"],
                            "document": values["mandate_document"]})
    return await console._file(request, duty, found, {"recorded": {
        "what": "record_mandate", "basis": values["basis"], "holder": CitizenNumber(holder).human}})


async def end(request: Request) -> Response:
    from montreal.consent.v1 import consent_pb2 as cpb
    from services.identity.http.counter import console

    posted = await console._posted_on_file(request)
    if isinstance(posted, Response):
        return posted
    duty, fields, found = posted
    mandate_id, how = first(fields, "mandate_id")[:36], first(fields, "how")
    if not _UUID.match(mandate_id) or how not in ("revoke", "suspend"):
        return await console._file(request, duty, found, {"errors": {"holder": "counter.error.refused"}}, 400)
    try:
        async with agent_stub(request, duty, "consent") as stub:
            await stub.EndMandate(cpb.EndMandateRequest(mandate_id=mandate_id, suspend=how == "suspend"))
    except CallRefused as refused:
        return await console._file(request, duty, found, {"errors": {"holder": console._unavailable(refused)}}, 400)
    action = "suspend_mandate" if how == "suspend" else "revoke_mandate"
    await console._journal(request, duty, action, found.resident_id, {"mandate_id": mandate_id})
    return await console._file(request, duty, found, {"recorded": {"what": action}})


__all__ = ["section", "record", "end"]
