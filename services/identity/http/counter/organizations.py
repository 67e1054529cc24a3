"""The counter registers an organization and names its representatives (issue 22;
docs/mandates.md "Organizations").

    GET  /counter/organization[?organization_number=…]   find an organization, or register one; its file
    POST /counter/organization                           register (name, kind, NEQ) on the register's statement
    POST /counter/organization/representative            name a representative (a resident) on the statement
    POST /counter/organization/representative/end        revoke or suspend a representative's mandate

The agent has the enterprise register's statement (état de renseignements) in hand: for the
registration, the organization's name, kind and NEQ; for a representative, the statement (or
the board's resolution joined to it) naming that person, whose identity the agent checked as
for any counter act. A representative's mandate is an ``organization_representative``
mandate in the consent register, for the organization, one year at most (renewable: a new
one is recorded on a newer statement).

Authorization, in this order: the agent at level 3 (``console._guard``), the CSRF-checked
form, the organization the form names; then consent's agent guard (``consent:agent`` with
``act.sub``) for the mandates. Every form is checked completely before anything is written.
"""

from __future__ import annotations

import datetime as dt
import re

from starlette.requests import Request
from starlette.responses import Response

from services.common.errors import AlreadyExists, InvalidArgument
from services.common.organization_number import InvalidOrganizationNumber, OrganizationNumber
from services.identity.domain.citizen_number import CitizenNumber, InvalidCitizenNumber
from services.identity.domain.organizations import OrganizationKind, normalized_neq, registration_problems
from services.identity.http.counter.backends import CallRefused, agent_stub
from services.identity.http.counter.mandates import MONTREAL, _BASES, _STATES
from services.identity.http.counter.web import OnDuty, console_page, csrf_refused, first, form
from services.identity.http.routes.common import provider
from services.identity.service_layer.organizations import RegisterOrganization, register_organization

KINDS = tuple(k.value for k in OrganizationKind)
#: What a representative may do for the organization *(choice, docs/mandates.md)*: see, ask
#: and pay at every city service; ``consent`` is a resident's own (Law 25 protects people).
REPRESENTATIVE_ACTIONS = ["view", "request", "pay"]
#: One year at most (consent refuses beyond: TOO_LONG); the form's default end.
LONGEST = dt.timedelta(days=365)
_UUID = re.compile(r"^[0-9a-f-]{36}$")


def _number_error(text: str) -> str | None:
    if not (text or "").strip():
        return "counter.organization.error.number_required"
    try:
        OrganizationNumber.parse(text)
    except InvalidOrganizationNumber:
        return "counter.organization.error.number"
    return None


def _today() -> dt.date:
    return dt.datetime.now(MONTREAL).date()


async def _guard(request: Request):
    from services.identity.http.counter import console

    return await console._guard(request)


async def page(request: Request) -> Response:
    duty = await _guard(request)
    if not isinstance(duty, OnDuty):
        return duty
    typed = request.query_params.get("organization_number", "")[:40]
    if not typed:
        return _home(request, duty, {})
    problem = _number_error(typed)
    if problem:
        return _home(request, duty, {"errors": {"organization_number": problem},
                                     "values": {"organization_number": typed}}, 400)
    async with provider(request).uow_factory() as uow:
        found = await uow.organizations.get(OrganizationNumber.parse(typed).canonical)
    if found is None:
        return _home(request, duty, {"errors": {"organization_number": "counter.organization.error.unknown"},
                                     "values": {"organization_number": typed}}, 404)
    await _journal(request, duty, "find_organization", found.organization_id, {})
    return await _file(request, duty, found, {})


def _home(request: Request, duty: OnDuty, context: dict, status: int = 200) -> Response:
    return console_page(request, "counter/organization.html", duty, {
        "nav": "home", "organization": None, "kinds": KINDS, "errors": {}, "values": {}, **context}, status)


async def _journal(request: Request, duty: OnDuty, action: str, organization_id: str, details: dict) -> None:
    from services.identity.http.counter import console

    await console._journal(request, duty, action, organization_id, details)


async def register(request: Request) -> Response:
    duty = await _guard(request)
    if not isinstance(duty, OnDuty):
        return duty
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    values = {"name": first(fields, "name")[:300], "kind": first(fields, "kind")[:40],
              "neq": first(fields, "neq")[:40]}
    # Every field is checked before anything is written (the same rules as the service layer's).
    errors = {name: f"counter.organization.error.{name}"
              for name, _ in registration_problems(values["name"], values["kind"], normalized_neq(values["neq"]))}
    if first(fields, "statement_seen") != "yes":
        errors["statement_seen"] = "counter.organization.error.statement_seen"
    found = None
    if not errors:
        try:
            found = await register_organization(RegisterOrganization(
                name=values["name"], kind=values["kind"], neq=values["neq"] or None,
                registered_by=duty.agent.agent_id), provider(request).uow_factory())
        except InvalidArgument as bad:
            errors.update({name: f"counter.organization.error.{name}" for name, _ in bad.violations})
        except AlreadyExists:
            errors["neq"] = "counter.organization.error.neq_taken"
    if errors or found is None:
        return _home(request, duty, {"errors": errors, "values": values}, 400)
    await _journal(request, duty, "register_organization", found.organization_id, {"kind": found.kind.value})
    return await _file(request, duty, found, {"recorded": {"what": "register_organization"}})


async def _posted_on_organization(request: Request):
    duty = await _guard(request)
    if not isinstance(duty, OnDuty):
        return duty
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    typed = first(fields, "organization_number")[:40]
    found = None
    if not _number_error(typed):
        async with provider(request).uow_factory() as uow:
            found = await uow.organizations.get(OrganizationNumber.parse(typed).canonical)
    if found is None:
        return _home(request, duty, {"errors": {"organization_number": "counter.organization.error.unknown"},
                                     "values": {"organization_number": typed}}, 404)
    return duty, fields, found


async def _file(request: Request, duty: OnDuty, organization, context: dict, status: int = 200) -> Response:
    from montreal.consent.v1 import consent_pb2 as cpb

    problem, representatives = None, []
    try:
        async with agent_stub(request, duty, "consent") as stub:
            listing = await stub.ListMandates(cpb.ListMandatesRequest(resident_id=organization.organization_id,
                                                                      page_size=100))
        for m in listing.given:
            representatives.append({
                "id": m.mandate_id, "number": _human(m.mandatary_id), "basis": _BASES.get(m.basis, ""),
                "state": _STATES.get(m.state, ""), "under": bool(m.under_mandate_id),
                "until": m.valid_until_time.ToDatetime().date().isoformat() if m.HasField("valid_until_time") else "",
                "acts": len(m.acts)})
    except CallRefused as refused:
        from services.identity.http.counter import console

        problem = console._unavailable(refused)
    return console_page(request, "counter/organization.html", duty, {
        "nav": "home", "organization": organization, "number": organization.number.human,
        "kinds": KINDS, "representatives": representatives, "problem": problem,
        "default_until": (_today() + LONGEST).isoformat(), "errors": {}, "values": {}, **context}, status)


def _human(resident_id: str) -> str:
    try:
        return CitizenNumber(resident_id).human
    except InvalidCitizenNumber:
        return resident_id


async def name_representative(request: Request) -> Response:
    from montreal.consent.v1 import consent_pb2 as cpb
    from services.identity.http.counter import console

    posted = await _posted_on_organization(request)
    if isinstance(posted, Response):
        return posted
    duty, fields, organization = posted
    values = {"holder": first(fields, "holder")[:40], "document_reference": first(fields, "document_reference")[:200],
              "until": first(fields, "until")[:10]}
    errors: dict[str, str] = {}
    holder = None
    try:
        holder = CitizenNumber.parse(values["holder"]).canonical
    except InvalidCitizenNumber:
        errors["holder"] = "counter.organization.error.holder"
    if holder is not None:
        async with provider(request).uow_factory() as uow:
            if await uow.residents.get(holder) is None:
                errors["holder"] = "counter.error.number_unknown"
    if not values["document_reference"].strip():
        errors["document_reference"] = "counter.mandate.error.reference"
    if first(fields, "statement_seen") != "yes":
        errors["statement_seen"] = "counter.organization.error.statement_names"
    until = None
    try:
        day = dt.date.fromisoformat(values["until"]) if values["until"] else _today() + LONGEST
        if day <= _today():
            errors["until"] = "counter.mandate.error.past"
        elif day > _today() + LONGEST:
            errors["until"] = "counter.organization.error.too_long"
        else:
            until = dt.datetime.combine(day, dt.time(0, 0), MONTREAL).astimezone(dt.timezone.utc)
    except ValueError:
        errors["until"] = "counter.mandate.error.date"
    if errors:
        return await _file(request, duty, organization, {"errors": errors, "values": values}, 400)
    request_pb = cpb.GiveMandateRequest(
        represented_id=organization.organization_id, mandatary_id=holder, grantor_id=holder,
        basis=cpb.MANDATE_BASIS_ORGANIZATION_REPRESENTATIVE,
        scope=[cpb.MandateScope(service="*", actions=REPRESENTATIVE_ACTIONS)],
        document_kind="registry_statement", document_reference=values["document_reference"].strip())
    request_pb.valid_until_time.FromDatetime(until)
    try:
        async with agent_stub(request, duty, "consent") as stub:
            mandate = (await stub.GiveMandate(request_pb)).mandate
    except CallRefused as refused:
        key = ("counter.mandate.error.refused" if refused.code in ("INVALID_ARGUMENT", "FAILED_PRECONDITION",
                                                                    "NOT_FOUND") else console._unavailable(refused))
        return await _file(request, duty, organization, {"errors": {"holder": key}, "values": values,
                                                         "refusal": refused.reason or ""}, 400)
    await _journal(request, duty, "name_representative", organization.organization_id,
                   {"mandate_id": mandate.mandate_id})
    return await _file(request, duty, organization, {"recorded": {
        "what": "name_representative", "holder": CitizenNumber(holder).human}})


async def end_representative(request: Request) -> Response:
    from montreal.consent.v1 import consent_pb2 as cpb
    from services.identity.http.counter import console

    posted = await _posted_on_organization(request)
    if isinstance(posted, Response):
        return posted
    duty, fields, organization = posted
    mandate_id, how = first(fields, "mandate_id")[:36], first(fields, "how")
    if not _UUID.match(mandate_id) or how not in ("revoke", "suspend"):
        return await _file(request, duty, organization, {"errors": {"holder": "counter.error.refused"}}, 400)
    try:
        async with agent_stub(request, duty, "consent") as stub:
            listing = await stub.ListMandates(cpb.ListMandatesRequest(resident_id=organization.organization_id,
                                                                      page_size=100))
            if mandate_id not in {m.mandate_id for m in listing.given}:
                # Only a mandate of this organization's file is ended from its page.
                return await _file(request, duty, organization, {"errors": {"holder": "counter.error.refused"}}, 400)
            await stub.EndMandate(cpb.EndMandateRequest(mandate_id=mandate_id, suspend=how == "suspend"))
    except CallRefused as refused:
        return await _file(request, duty, organization, {"errors": {"holder": console._unavailable(refused)}}, 400)
    action = "suspend_representative" if how == "suspend" else "revoke_representative"
    await _journal(request, duty, action, organization.organization_id, {"mandate_id": mandate_id})
    return await _file(request, duty, organization, {"recorded": {"what": action}})


__all__ = ["page", "register", "name_representative", "end_representative"]
