"""The console's pages once the agent is at level 3 (issue 17, point 3).

Every form is checked here first, completely, before anything is written (a refused form
writes nothing); then the services decide, through their gRPC APIs with the agent's token,
and the page confirms what was recorded. Reads of identity's own data (the resident's level)
are made in process and journaled like every other look-up.
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response

from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.citizen_number import CitizenNumber, InvalidCitizenNumber
from services.identity.domain.residents import email_problem
from services.identity.domain.sign_ins import counter_visit
from services.identity.http.counter.backends import CallRefused, agent_stub
from services.identity.http.convert import language
from services.identity.http.counter.letter import activation_letter
from services.identity.http.counter.web import (CONSOLE_CLIENT_ID, OnDuty, console_page, csrf_refused, first,
                                                form, on_duty, to_sign_in)
from services.identity.http.routes.common import provider
from services.identity.oidc.records import utcnow
from services.identity.service_layer.counter_journal import MONTREAL, record_look_up

DOCUMENT_TYPES = ("drivers_licence", "passport", "permanent_resident_card", "citizenship_certificate",
                  "birth_certificate", "other_government_id", "health_insurance_card")
_IDENTITY_DOCUMENT = {"drivers_licence": 1, "health_insurance_card": 2, "passport": 3, "permanent_resident_card": 4,
                      "citizenship_certificate": 5, "birth_certificate": 6, "other_government_id": 7}
_ACCOUNTS_DOCUMENT = {"drivers_licence": 1, "passport": 2, "permanent_resident_card": 3,
                      "citizenship_certificate": 4, "birth_certificate": 5}
#: Searches by name an agent may make per hour: enough for a busy counter, not for fishing.
NAME_SEARCHES_PER_HOUR = 30


def number_error(text: str) -> str | None:
    """The message key explaining what is wrong with a typed citizen number, or None."""
    if not (text or "").strip():
        return "counter.error.number_required"
    try:
        CitizenNumber.parse(text)
    except InvalidCitizenNumber as error:
        from services.common.organization_number import OrganizationNumber

        if OrganizationNumber.is_valid(text):
            return "counter.error.number_organization"   # issue 22: its file is on another page
        message = str(error)
        if "check character" in message:
            return "counter.error.number_check"
        if "characters after MTL" in message:
            return "counter.error.number_length"
        return "counter.error.number_symbol"
    return None


async def _journal(request: Request, duty: OnDuty, action: str, resident_id: str, details: dict) -> None:
    async with provider(request).uow_factory() as uow:
        await uow.agent_actions.record(agent_id=duty.agent.agent_id, client_id=CONSOLE_CLIENT_ID, action=action,
                                       resident_id=resident_id, details=details, now=utcnow(),
                                       office=duty.agent.office)
        await uow.commit()


async def _looked_up(request: Request, duty: OnDuty, action: str, resident_ids: list[str], details: dict) -> None:
    """Residents' files found or opened: journaled, and each one a data access in the
    resident's consent ledger (``counter_journal.record_look_up``, through the outbox)."""
    async with provider(request).uow_factory() as uow:
        await record_look_up(uow, duty.agent, client_id=CONSOLE_CLIENT_ID, action=action, resident_ids=resident_ids,
                             details=details, now=utcnow())
        await uow.commit()


async def _visit(request: Request, duty: OnDuty, found) -> None:
    """The resident's sign-in history records the visit: "au comptoir", the office, the level
    (``domain.sign_ins.counter_visit``: once per agent session and resident)."""
    async with provider(request).uow_factory() as uow:
        if await uow.sign_ins.add_once(counter_visit(found.resident_id, duty.session.session_id, duty.agent.office,
                                                     LevelOfAssurance(int(found.level)).acr, utcnow())):
            await uow.commit()


async def _guard(request: Request) -> OnDuty | Response:
    duty = await on_duty(request)
    if not isinstance(duty, OnDuty):
        return to_sign_in(request, duty)
    return duty


def _unavailable(refused: CallRefused) -> str:
    if refused.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return "counter.error.unavailable"
    if refused.code == "AGENT_TOKEN_REFUSED":
        return "counter.error.session"
    return "counter.error.refused"


async def home(request: Request) -> Response:
    duty = await _guard(request)
    if not isinstance(duty, OnDuty):
        return duty
    return console_page(request, "counter/home.html", duty, {"errors": {}, "nav": "home", "values": {}})


async def resident(request: Request) -> Response:
    """A resident's file, by citizen number (check character validated)."""
    duty = await _guard(request)
    if not isinstance(duty, OnDuty):
        return duty
    typed = request.query_params.get("citizen_number", "")[:40]
    problem = number_error(typed)
    if problem:
        return console_page(request, "counter/home.html", duty,
                            {"errors": {"citizen_number": problem}, "nav": "home",
                             "values": {"citizen_number": typed}}, 400)
    number = CitizenNumber.parse(typed)
    async with provider(request).uow_factory() as uow:
        found = await uow.residents.get(number.canonical)
    if found is None:
        return console_page(request, "counter/home.html", duty,
                            {"errors": {"citizen_number": "counter.error.number_unknown"}, "nav": "home",
                             "values": {"citizen_number": typed}}, 404)
    await _looked_up(request, duty, "find_resident", [found.resident_id], {"by": "citizen_number"})
    await _visit(request, duty, found)
    return await _file(request, duty, found, {})


async def _file(request: Request, duty: OnDuty, found, context: dict, status: int = 200) -> Response:
    profile, profile_problem = None, None
    try:
        from montreal.accounts.v1 import accounts_pb2 as apb

        async with agent_stub(request, duty, "accounts") as stub:
            reply = await stub.FindResident(apb.FindResidentRequest(resident_id=found.resident_id))
        profile = reply.matches[0] if reply.matches else None
    except CallRefused as refused:
        profile_problem = _unavailable(refused)
    consent = await _consent_choices(request, duty, found.resident_id)
    from services.identity.http.counter import mandates as counter_mandates   # it imports this module

    mandates = await counter_mandates.section(request, duty, found.resident_id)
    return console_page(request, "counter/resident.html", duty, {
        "consent": consent, "mandates": mandates, "mandate_bases": counter_mandates.BASES,
        "mandate_documents": counter_mandates.DOCUMENT_KINDS,
        "nav": "home", "number": CitizenNumber(found.resident_id).human, "resident_id": found.resident_id,
        "level": int(found.level), "activated": found.password_hash is not None, "has_email": bool(found.email),
        "disabled": found.disabled, "language": found.preferred_language, "profile": profile,
        "has_second_factor": found.has_totp or bool(await _passkey_count(request, found.resident_id)),
        "profile_problem": profile_problem, "document_types": DOCUMENT_TYPES,
        "errors": {}, "values": {}, **context}, status)


async def _resident_or_404(request: Request, duty: OnDuty, fields) -> tuple[object | None, Response | None]:
    typed = first(fields, "citizen_number")
    if number_error(typed):
        return None, console_page(request, "counter/home.html", duty, {
            "errors": {"citizen_number": number_error(typed)}, "nav": "home",
            "values": {"citizen_number": typed[:40]}}, 400)
    async with provider(request).uow_factory() as uow:
        found = await uow.residents.get(CitizenNumber.parse(typed).canonical)
    if found is None:
        return None, console_page(request, "counter/home.html", duty, {
            "errors": {"citizen_number": "counter.error.number_unknown"}, "nav": "home",
            "values": {"citizen_number": typed[:40]}}, 404)
    await _visit(request, duty, found)   # acting on the file opens it too (once per session)
    return found, None


async def _consent_choices(request: Request, duty: OnDuty, resident_id: str) -> dict:
    """The services, purposes and the resident's active consents, for the counter's consent form."""
    from montreal.consent.v1 import consent_pb2 as cpb

    en = language(request) == "en"
    try:
        async with agent_stub(request, duty, "consent") as stub:
            recipients = (await stub.ListRecipients(cpb.ListRecipientsRequest())).recipients
            purposes = (await stub.ListPurposes(cpb.ListPurposesRequest())).purposes
            active = (await stub.ListConsents(cpb.ListConsentsRequest(resident_id=resident_id, page_size=100))).consents
    except CallRefused as refused:
        return {"problem": _unavailable(refused)}
    names = {r.recipient_id: (r.name_en if en else r.name_fr) or r.recipient_id for r in recipients}
    titles = {p.purpose_id: (p.title_en if en else p.title_fr) or p.purpose_id for p in purposes if not p.biometric}
    return {"problem": None, "recipients": sorted(names.items(), key=lambda i: i[1].lower()),
            "purposes": sorted(titles.items(), key=lambda i: i[1].lower()),
            "active": [{"consent_id": c.consent_id, "service": names.get(c.recipient_id, c.recipient_id),
                        "purpose": titles.get(c.purpose_id, c.purpose_id)}
                       for c in active if c.state == cpb.CONSENT_STATE_GIVEN]}


async def record_consent(request: Request) -> Response:
    """A consent the resident gives or withdraws in person: their own choice, marked as
    collected at the counter (or by phone) by this agent (consent ``Grant``/``Withdraw``)."""
    posted = await _posted_on_file(request)
    if isinstance(posted, Response):
        return posted
    duty, fields, found = posted
    from montreal.consent.v1 import consent_pb2 as cpb

    decision = first(fields, "decision")
    values = {"recipient_id": first(fields, "recipient_id")[:64], "purpose_id": first(fields, "purpose_id")[:64],
              "channel": first(fields, "channel")}
    errors = {}
    if decision not in ("give", "withdraw"):
        errors["recipient_id"] = "counter.error.refused"
    if decision == "give":
        if not values["recipient_id"]:
            errors["recipient_id"] = "counter.error.consent_recipient"
        if not values["purpose_id"]:
            errors["purpose_id"] = "counter.error.consent_purpose"
        if values["channel"] not in ("counter", "phone"):
            errors["channel"] = "counter.error.consent_channel"
        if first(fields, "resident_choice") != "yes":
            errors["resident_choice"] = "counter.error.consent_choice"
    consent_id = first(fields, "consent_id")[:64]
    if decision == "withdraw" and not consent_id:
        errors["recipient_id"] = "counter.error.refused"
    if errors:
        return await _file(request, duty, found, {"errors": errors, "values": values}, 400)
    try:
        async with agent_stub(request, duty, "consent") as stub:
            if decision == "give":
                method = cpb.COLLECTION_METHOD_PHONE if values["channel"] == "phone" else cpb.COLLECTION_METHOD_COUNTER
                reply = await stub.Grant(cpb.GrantRequest(
                    resident_id=found.resident_id, recipient_id=values["recipient_id"],
                    items=[cpb.GrantItem(purpose_id=values["purpose_id"])], collection_method=method,
                    explicit_act=True, language=found.preferred_language))
                consent_ids = [c.consent_id for c in reply.consents]
            else:
                reply = await stub.Withdraw(cpb.WithdrawRequest(resident_id=found.resident_id, consent_id=consent_id))
                consent_ids = [reply.consent.consent_id]
    except CallRefused as refused:
        field = "purpose_id" if any("purpose" in f for f in refused.violations) else "recipient_id"
        key = "counter.error.consent_refused" if refused.code in ("INVALID_ARGUMENT", "FAILED_PRECONDITION",
                                                                  "NOT_FOUND") else _unavailable(refused)
        return await _file(request, duty, found, {"errors": {field: key}, "values": values}, 400)
    action = "record_consent" if decision == "give" else "withdraw_consent"
    await _journal(request, duty, action, found.resident_id, {"consent_ids": consent_ids, "channel": values["channel"]
                                                               if decision == "give" else "counter"})
    return await _file(request, duty, found, {"recorded": {"what": action, "recipient_id": values["recipient_id"],
                                                           "purpose_id": values["purpose_id"],
                                                           "channel": values["channel"] or "counter"}})


async def _posted_on_file(request: Request):
    """What every form of a resident's file starts with: the agent at level 3, the CSRF-checked
    form, the resident its ``citizen_number`` names — or the page that says which is missing."""
    duty = await _guard(request)
    if not isinstance(duty, OnDuty):
        return duty
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    found, refused_page = await _resident_or_404(request, duty, fields)
    if refused_page is not None:
        return refused_page
    return duty, fields, found


def document_errors(document_type: str, last_digits: str) -> dict[str, str]:
    errors = {}
    if document_type == "health_insurance_card":
        errors["document_type"] = "counter.error.health_card"
    elif document_type not in DOCUMENT_TYPES:
        errors["document_type"] = "counter.error.document_type"
    if not (2 <= len(last_digits) <= 4 and last_digits.isalnum() and last_digits.isascii()):
        errors["document_last_digits"] = "counter.error.last_digits"
    return errors


async def document_check(request: Request) -> Response:
    """Record a document check and raise the resident to level 2 (VERIFIED)."""
    posted = await _posted_on_file(request)
    if isinstance(posted, Response):
        return posted
    duty, fields, found = posted
    document_type, last_digits = first(fields, "document_type"), first(fields, "document_last_digits").strip()
    errors = document_errors(document_type, last_digits)
    values = {"document_type": document_type, "document_last_digits": last_digits[:8]}
    if errors:
        return await _file(request, duty, found, {"errors": errors, "values": values}, 400)
    from montreal.identity.v1 import identity_pb2 as pb

    try:
        async with agent_stub(request, duty, "identity") as stub:
            raised = await stub.RaiseLevelOfAssurance(pb.RaiseLevelOfAssuranceRequest(
                citizen_number=found.resident_id, level=pb.LEVEL_OF_ASSURANCE_VERIFIED,
                document_type=_IDENTITY_DOCUMENT[document_type], document_last_digits=last_digits))
    except CallRefused as refused:
        return await _file(request, duty, found, {"errors": {"document_type": _unavailable(refused)},
                                                  "values": values}, 400)
    recorded = {"what": "document", "document_type": document_type, "last_digits": last_digits,
                "level": int(raised.level), "action_id": raised.action_id}
    if document_type in _ACCOUNTS_DOCUMENT:
        from montreal.accounts.v1 import accounts_pb2 as apb

        try:
            async with agent_stub(request, duty, "accounts") as stub:
                await stub.RecordDocumentCheck(apb.RecordDocumentCheckRequest(
                    resident_id=found.resident_id, document_type=_ACCOUNTS_DOCUMENT[document_type],
                    last_digits=last_digits))
        except CallRefused as refused:
            recorded["accounts_problem"] = _unavailable(refused)
    async with provider(request).uow_factory() as uow:
        found = await uow.residents.get(found.resident_id)
    return await _file(request, duty, found, {"recorded": recorded})


async def _passkey_count(request: Request, resident_id: str) -> int:
    from services.identity.domain.passkeys import RESIDENT

    async with provider(request).uow_factory() as uow:
        return len(await uow.passkeys.of(RESIDENT, resident_id))


async def reset_second_factor(request: Request) -> Response:
    """"I lost my phone": after checking an identity document, turn the resident's second
    factor off (``second_factor.reset_at_counter``). In process, like the reads of identity's
    own data: the console is identity's, and the handler journals the agent, the console's
    client and the office exactly as the gRPC methods do."""
    posted = await _posted_on_file(request)
    if isinstance(posted, Response):
        return posted
    duty, fields, found = posted
    document_type, last_digits = first(fields, "reset_document_type"), first(fields, "reset_last_digits").strip()
    errors = {f"reset_{'document_type' if k == 'document_type' else 'last_digits'}": v
              for k, v in document_errors(document_type, last_digits).items()}
    values = {"reset_document_type": document_type, "reset_last_digits": last_digits[:8]}
    if errors:
        return await _file(request, duty, found, {"errors": errors, "values": values}, 400)
    from services.common.errors import FailedPrecondition
    from services.identity.service_layer import second_factor
    from services.identity.service_layer.agents import Agent

    try:
        action_id = await second_factor.reset_at_counter(second_factor.ResetAtCounter(
            agent=Agent(agent_id=duty.agent.agent_id, client_id=CONSOLE_CLIENT_ID, office=duty.agent.office),
            citizen_number=found.resident_id, document_type=document_type, document_last_digits=last_digits),
            provider(request).uow_factory())
    except FailedPrecondition as refused:
        reason = "counter.error.reset_last_way_in" if refused.reason == "LAST_WAY_IN" else "counter.error.no_second_factor"
        return await _file(request, duty, found, {"errors": {"reset_document_type": reason}, "values": values}, 400)
    async with provider(request).uow_factory() as uow:
        found = await uow.residents.get(found.resident_id)
    return await _file(request, duty, found, {"recorded": {
        "what": "second_factor_reset", "document_type": document_type, "last_digits": last_digits,
        "action_id": action_id}})


async def link_account(request: Request) -> Response:
    """Link a service account in person (accounts ``LinkAccountInPerson``)."""
    posted = await _posted_on_file(request)
    if isinstance(posted, Response):
        return posted
    duty, fields, found = posted
    service_id, reference = first(fields, "service_id").strip(), first(fields, "account_reference").strip()
    values = {"service_id": service_id[:100], "account_reference": reference[:100]}
    errors = {}
    if not service_id or len(service_id) > 100:
        errors["service_id"] = "counter.error.service_id"
    if not reference or len(reference) > 100:
        errors["account_reference"] = "counter.error.account_reference"
    if errors:
        return await _file(request, duty, found, {"errors": errors, "values": values}, 400)
    from montreal.accounts.v1 import accounts_pb2 as apb

    try:
        async with agent_stub(request, duty, "accounts") as stub:
            linked = await stub.LinkAccountInPerson(apb.LinkAccountInPersonRequest(
                resident_id=found.resident_id, service_id=service_id, account_reference=reference))
    except CallRefused as refused:
        field = next(iter(refused.violations), "service_id")
        field = "account_reference" if "reference" in field else "service_id"
        key = "counter.error.service_unknown" if refused.code in ("NOT_FOUND", "INVALID_ARGUMENT") \
            else _unavailable(refused)
        return await _file(request, duty, found, {"errors": {field: key}, "values": values}, 400)
    return await _file(request, duty, found, {"recorded": {"what": "link", "service_id": service_id,
                                                           "account_reference": reference,
                                                           "state": getattr(linked.account, "state", 0)}})


async def letter(request: Request) -> Response:
    """A new one-time activation code, printed on the letter (PDF, the language chosen)."""
    posted = await _posted_on_file(request)
    if isinstance(posted, Response):
        return posted
    duty, fields, found = posted
    lang = first(fields, "letter_language")
    if lang not in ("fr", "en"):
        return await _file(request, duty, found, {"errors": {"letter_language": "counter.error.letter_language"}}, 400)
    from montreal.identity.v1 import identity_pb2 as pb

    try:
        async with agent_stub(request, duty, "identity") as stub:
            issued = await stub.IssueActivationCode(pb.IssueActivationCodeRequest(citizen_number=found.resident_id))
    except CallRefused as refused:
        key = "counter.error.already_activated" if refused.reason == "ALREADY_ACTIVATED" else _unavailable(refused)
        return await _file(request, duty, found, {"errors": {"letter_language": key}}, 400)
    pdf = activation_letter(lang=lang, citizen_number=issued.citizen_number_human, code=issued.activation_code,
                            expires_at=issued.expire_time.ToDatetime(tzinfo=dt.timezone.utc),
                            activate_url=provider(request).config.endpoint("/activate"))
    filename = f"lettre-activation-{found.resident_id}.pdf" if lang == "fr" else f"activation-letter-{found.resident_id}.pdf"
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"})


ENROLL_FIELDS = ("family_name", "given_name", "date_of_birth", "email", "phone", "preferred_language",
                 "document_type", "document_last_digits")


def enroll_errors(values: dict[str, str], today: dt.date) -> dict[str, str]:
    """Every problem of the enrolment form at once (nothing is sent while one remains)."""
    errors = person_errors(values, today)
    if values["email"] and email_problem(values["email"]):
        errors["email"] = "counter.error.resident_email"
    if values["preferred_language"] not in ("fr", "en"):
        errors["preferred_language"] = "counter.error.letter_language"
    errors.update(document_errors(values["document_type"], values["document_last_digits"]))
    return errors


def person_errors(values: dict[str, str], today: dt.date) -> dict[str, str]:
    """The names, the date of birth and the phone (optional) of the profile, as the counter types them."""
    errors = {}
    for name in ("family_name", "given_name"):
        if not values[name] or len(values[name]) > 100 or any(ord(c) < 32 for c in values[name]):
            errors[name] = f"counter.error.{name}"
    try:
        born = dt.date.fromisoformat(values["date_of_birth"])
        if not (dt.date(1900, 1, 1) <= born <= today):
            raise ValueError
    except ValueError:
        errors["date_of_birth"] = "counter.error.date_of_birth"
    phone = values["phone"].replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    if values["phone"] and not (phone.lstrip("+").isdigit() and 10 <= len(phone.lstrip("+")) <= 15):
        errors["phone"] = "counter.error.phone"
    return errors


def _profile_attributes(apb, values: dict[str, str]) -> list:
    attributes = [apb.AttributeChange(name=name, value=values[name])
                  for name in ("family_name", "given_name", "date_of_birth") if values[name]]
    if values["phone"]:
        attributes.append(apb.AttributeChange(name="phone", value=_e164(values["phone"])))
    return attributes


def _profile_errors(violations: dict[str, str], names: list[str]) -> dict[str, str]:
    """accounts' field violations (``attributes[i].value``) as the enrolment form's fields."""
    errors = {}
    for path in violations:
        index = path.partition("[")[2].partition("]")[0]
        name = names[int(index)] if index.isdigit() and int(index) < len(names) else "family_name"
        errors[name] = ("counter.error.refused_field" if name in ("family_name", "given_name")
                        else f"counter.error.{name}")
    return errors or {"family_name": "counter.error.refused_field"}


def _e164(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit())
    return "+" + (digits if phone.strip().startswith("+") or len(digits) > 10 else "1" + digits)


async def enroll(request: Request) -> Response:
    duty = await _guard(request)
    if not isinstance(duty, OnDuty):
        return duty
    context = {"nav": "enroll", "document_types": DOCUMENT_TYPES}
    if request.method == "GET":
        return console_page(request, "counter/enroll.html", duty,
                            {**context, "errors": {}, "values": {"preferred_language": "fr"}})
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    values = {name: first(fields, name).strip()[:254] for name in ENROLL_FIELDS}
    errors = enroll_errors(values, dt.date.today())
    if errors:
        return console_page(request, "counter/enroll.html", duty, {**context, "errors": errors, "values": values}, 400)
    from montreal.accounts.v1 import accounts_pb2 as apb
    from montreal.identity.v1 import identity_pb2 as pb

    attributes = _profile_attributes(apb, values)
    # accounts judges the profile before identity issues a number (AIP-163 validate_only): a
    # value it would refuse must not leave a number without its profile. Unreachable, the number
    # is still issued, and the page says what could not be recorded (completed from the file).
    profile_problem = None
    try:
        async with agent_stub(request, duty, "accounts") as stub:
            await stub.EnrollResident(apb.EnrollResidentRequest(attributes=attributes, validate_only=True))
    except CallRefused as refused:
        if refused.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
            profile_problem = _unavailable(refused)   # not asked twice: the agent does not wait twice
        else:  # refused (bad input, this agent's token): nothing is written, the form says why
            errors = (_profile_errors(refused.violations, [a.name for a in attributes])
                      if refused.code == "INVALID_ARGUMENT" else {"family_name": _unavailable(refused)})
            return console_page(request, "counter/enroll.html", duty, {**context, "errors": errors, "values": values},
                                400)
    try:
        async with agent_stub(request, duty, "identity") as stub:
            created = await stub.CreateResidentInPerson(pb.CreateResidentInPersonRequest(
                email=values["email"], preferred_language=values["preferred_language"],
                document_type=_IDENTITY_DOCUMENT[values["document_type"]],
                document_last_digits=values["document_last_digits"]))
    except CallRefused as refused:
        errors = {f: "counter.error.refused_field" for f in refused.violations if f in ENROLL_FIELDS}
        if refused.reason == "EMAIL_ALREADY_REGISTERED":
            errors = {"email": "counter.error.email_taken"}
        return console_page(request, "counter/enroll.html", duty, {
            **context, "errors": errors or {"family_name": _unavailable(refused)}, "values": values}, 400)
    try:
        if profile_problem is None:
            async with agent_stub(request, duty, "accounts") as stub:
                await stub.EnrollResident(apb.EnrollResidentRequest(resident_id=created.resident_id,
                                                                    attributes=attributes))
    except CallRefused as refused:
        profile_problem = _unavailable(refused)
    async with provider(request).uow_factory() as uow:
        found = await uow.residents.get(created.resident_id)
    return await _file(request, duty, found, {"recorded": {
        "what": "enrolment", "number": created.citizen_number_human, "level": int(created.level),
        "document_type": values["document_type"], "last_digits": values["document_last_digits"],
        "family_name": values["family_name"], "given_name": values["given_name"],
        "date_of_birth": values["date_of_birth"], "email": values["email"], "phone": values["phone"],
        "profile_problem": profile_problem}, "letter_language": values["preferred_language"]})


PROFILE_FIELDS = ("family_name", "given_name", "date_of_birth", "phone")


async def complete_profile(request: Request) -> Response:
    """The profile an enrolment could not record (accounts did not answer then): the names, the
    date of birth and the phone, verified at the counter (accounts ``EnrollResident``, which
    completes a profile). As for the print, only after this agent checked an identity document
    of this resident in this visit: the values are verified ones."""
    posted = await _posted_on_file(request)
    if isinstance(posted, Response):
        return posted
    duty, fields, found = posted
    values = {name: first(fields, name).strip()[:254] for name in PROFILE_FIELDS}
    errors = person_errors(values, dt.date.today())
    if errors:
        return await _file(request, duty, found, {"errors": errors, "values": values}, 400)
    from services.identity.http.counter.printed_file import VISIT, document_checked_in_visit  # it imports this module

    started = duty.session.created_at
    started = started if started.tzinfo else started.replace(tzinfo=dt.timezone.utc)
    if not await document_checked_in_visit(provider(request).uow_factory(), duty.agent.agent_id, found.resident_id,
                                           max(started, utcnow() - VISIT)):
        return await _file(request, duty, found, {"errors": {"family_name": "counter.error.profile_needs_document"},
                                                  "values": values}, 400)
    from montreal.accounts.v1 import accounts_pb2 as apb

    attributes = _profile_attributes(apb, values)
    try:
        async with agent_stub(request, duty, "accounts") as stub:
            await stub.EnrollResident(apb.EnrollResidentRequest(resident_id=found.resident_id, attributes=attributes))
    except CallRefused as refused:
        errors = (_profile_errors(refused.violations, [a.name for a in attributes])
                  if refused.code == "INVALID_ARGUMENT" else {"family_name": _unavailable(refused)})
        return await _file(request, duty, found, {"errors": errors, "values": values}, 400)
    return await _file(request, duty, found, {"recorded": {"what": "profile", **values}})


async def search(request: Request) -> Response:
    """By name and date of birth: rate-limited per agent, journaled (no names kept in the
    journal), and only what tells homonyms apart is shown (names, year of birth, number)."""
    duty = await _guard(request)
    if not isinstance(duty, OnDuty):
        return duty
    values = {name: request.query_params.get(name, "").strip()[:100]
              for name in ("family_name", "given_name", "date_of_birth")}
    errors = {}
    if not values["family_name"]:
        errors["family_name"] = "counter.error.family_name"
    try:
        dt.date.fromisoformat(values["date_of_birth"])
    except ValueError:
        errors["date_of_birth"] = "counter.error.date_of_birth"
    if errors:
        return console_page(request, "counter/home.html", duty, {"errors": errors, "nav": "home", "values": values}, 400)
    async with provider(request).uow_factory() as uow:
        recent = await uow.agent_actions.count_since(duty.agent.agent_id, "find_by_name",
                                                     utcnow() - dt.timedelta(hours=1))
    if recent >= NAME_SEARCHES_PER_HOUR:
        response = console_page(request, "counter/home.html", duty, {
            "errors": {"family_name": "counter.error.search_limit"}, "nav": "home", "values": values}, 429)
        response.headers["Retry-After"] = "600"
        return response
    from montreal.accounts.v1 import accounts_pb2 as apb

    try:
        async with agent_stub(request, duty, "accounts") as stub:
            reply = await stub.FindResident(apb.FindResidentRequest(**values, page_size=10))
    except CallRefused as refused:
        key = "counter.error.refused_field" if refused.code == "INVALID_ARGUMENT" else _unavailable(refused)
        return console_page(request, "counter/home.html", duty, {"errors": {"family_name": key}, "nav": "home",
                                                                  "values": values}, 400)
    await _journal(request, duty, "find_by_name", "", {"matches": len(reply.matches)})
    # each resident the page shows learns it (the journal line above counts the search itself)
    await _looked_up(request, duty, "shown_in_name_search", [m.resident_id for m in reply.matches],
                     {"by": "name_and_date_of_birth"})
    matches = [{"number": CitizenNumber(m.resident_id).human, "given_name": m.given_name,
                "family_name": m.family_name, "birth_year": m.birth_year} for m in reply.matches]
    return console_page(request, "counter/search.html", duty, {"nav": "home", "matches": matches,
                                                               "values": values, "errors": {}})






async def supervision(request: Request) -> Response:
    """Supervisors: the agents' actions per agent, office and day, and the unusual ones
    (identity ``SummarizeAgentActions`` with the supervisor's own agent token)."""
    duty = await _guard(request)
    if not isinstance(duty, OnDuty):
        return duty
    if not duty.agent.is_supervisor:
        return console_page(request, "error.html", duty, {"reason": "counter_supervisor_only"}, 403)
    today = dt.datetime.now(MONTREAL).date()
    values = {"start_date": request.query_params.get("start_date", "")[:10] or (today - dt.timedelta(days=6)).isoformat(),
              "end_date": request.query_params.get("end_date", "")[:10] or today.isoformat(),
              "agent_id": request.query_params.get("agent_id", "").strip()[:128],
              "office": request.query_params.get("office", "").strip()[:100]}
    context = {"nav": "supervision", "values": values, "errors": {}, "summary": None}
    from montreal.identity.v1 import identity_pb2 as pb

    try:
        async with agent_stub(request, duty, "identity") as stub:
            summary = await stub.SummarizeAgentActions(pb.SummarizeAgentActionsRequest(**values))
    except CallRefused as refused:
        errors = {f: "counter.error.supervision_" + f for f in refused.violations
                  if f in ("start_date", "end_date", "agent_id", "office")}
        return console_page(request, "counter/supervision.html", duty,
                            {**context, "errors": errors or {"start_date": _unavailable(refused)}}, 400)
    return console_page(request, "counter/supervision.html", duty, {**context, "summary": summary})
