"""The resident's complete file, printed at the counter (issue 17; commitment 25: a resident
who never goes online still gets their file — Access Act, CQLR c. A-2.1, s. 83-84).

``POST /counter/resident/file`` (``citizen_number``, ``file_language``, ``file_format`` ``html``
— the default — or ``pdf``, the same page as a PDF: ``file_pdf.py``): the same document as
the resident's own export (``/account/export``, its printable HTML form ``account/file.html``):
identity's sections, accounts' export, consent's export with the ledger and its proofs, the
counter's actions — in the language the resident chose, whatever the console's language.

Authorization, in this order (each refusal a page that says why, nothing printed):
1. an agent at level 3 (the console's guard), the form's CSRF token;
2. a resident's file the number names (check character verified);
3. an identity document of this resident checked **by this agent in this session** (a document
   check or an enrolment journaled since the agent signed in, within ``VISIT``): the file
   goes only to the person in front of the agent;
4. the services agree: accounts ``ExportResidentData`` (scope ``accounts:agent``, ``act.sub``:
   journaled ``export_resident_data``) and consent ``Export`` (scope ``consent:agent``: an
   ``export_requested`` ledger entry with actor ``agent:<id>``). If either cannot answer, nothing
   is printed: a partial file printed as complete would mislead the resident.

The print itself is identity's journal line ``print_resident_file`` (office, agent, language),
written once the services answered and before identity's sections are read, so the printed
file already lists it (a refused print journals nothing); the resident sees it in "Qui a vu
mes données" and in every later export.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

from starlette.requests import Request
from starlette.responses import Response

from services.identity.domain.citizen_number import CitizenNumber
from services.identity.http.account.pages import FILE_STYLE
from services.identity.http.account.web import readable_times
from services.identity.http.convert import SECURITY_HEADERS, TEMPLATES
from services.identity.http.counter.backends import CallRefused, agent_stub
from services.identity.http.counter.console import _file, _posted_on_file, _unavailable
from services.identity.http.counter.file_pdf import file_pdf
from services.identity.http.counter.web import CONSOLE_CLIENT_ID
from services.identity.http.i18n import Translator
from services.identity.http.routes.common import provider
from services.identity.oidc.records import utcnow
from services.identity.service_layer.resident_file import SECTIONS as FILE_SECTIONS
from services.identity.service_layer.resident_file import FileSources
from services.identity.service_layer.resident_file import resident_file as build_resident_file

#: ``file_format``: the page (printed from the browser) or the same page as a PDF (``file_pdf``).
FORMATS = ("html", "pdf")
#: How long after a document check the agent may still print: one visit at the counter.
VISIT = dt.timedelta(hours=1)
#: What shows that the agent checked an identity document of this resident.
DOCUMENT_CHECKED = ("raise_level_of_assurance", "create_resident_in_person")


async def document_checked_in_visit(uow, agent_id: str, resident_id: str, since: dt.datetime) -> bool:
    """Whether this agent checked an identity document of this resident since ``since``."""
    async with uow:
        actions = await uow.agent_actions.for_resident(resident_id)
    return any(a["agent_id"] == agent_id and a["action"] in DOCUMENT_CHECKED and a["created_at"] >= since
               for a in actions)


async def printed_file(request: Request) -> Response:
    posted = await _posted_on_file(request)
    if isinstance(posted, Response):
        return posted
    duty, fields, found = posted
    lang = (fields.get("file_language") or [""])[0]
    if lang not in ("fr", "en"):
        return await _file(request, duty, found, {"errors": {"file_language": "counter.error.file_language"}}, 400)
    # the page to print from the browser (the default button), or the same page as a PDF
    file_format = (fields.get("file_format") or ["html"])[0] or "html"
    if file_format not in FORMATS:
        return await _file(request, duty, found, {"errors": {"file_format": "counter.error.file_format"},
                                                  "file_language": lang}, 400)
    p = provider(request)
    started = duty.session.created_at
    started = started if started.tzinfo else started.replace(tzinfo=dt.timezone.utc)
    since = max(started, utcnow() - VISIT)
    if not await document_checked_in_visit(p.uow_factory(), duty.agent.agent_id, found.resident_id, since):
        return await _file(request, duty, found, {"errors": {"file_language": "counter.error.file_needs_document"},
                                                  "file_language": lang}, 400)
    try:
        consent_reply, accounts_document, services, mandates = await _services_parts(request, duty, found)
    except CallRefused as refused:
        return await _file(request, duty, found, {"errors": {"file_language": _unavailable(refused)},
                                                  "file_language": lang}, 503 if refused.code == "UNAVAILABLE" else 400)
    async with p.uow_factory() as uow:
        await uow.agent_actions.record(agent_id=duty.agent.agent_id, client_id=CONSOLE_CLIENT_ID,
                                       action="print_resident_file", resident_id=found.resident_id,
                                       details={"language": lang, "format": file_format}, now=utcnow(),
                                       office=duty.agent.office)
        await uow.commit()
    document = await _complete_file(request, duty, found, lang, consent_reply, accounts_document, services, mandates)
    t = Translator(lang)
    shown = readable_times(document, t)         # Montréal time, as the resident's own page (issue 21)
    html = TEMPLATES.get_template("account/file.html").render(
        t=t, has=t.has, lang=lang, file=shown, consent=shown["consent"], sections=FILE_SECTIONS,
        style=FILE_STYLE.read_text())
    if file_format == "pdf":
        title = f'{t("account.file.title")} - {document["resident"]["citizen_number_human"]}'
        name = f'{"dossier" if lang == "fr" else "file"}-{found.resident_id}.pdf'
        return Response(file_pdf(html, title=title, lang=lang), media_type="application/pdf", headers={
            "Cache-Control": "no-store", "Content-Disposition": f'inline; filename="{name}"'})
    return Response(html, media_type="text/html; charset=utf-8", headers={
        "Cache-Control": "no-store", "Content-Security-Policy": _policy_for(html)})


def _policy_for(html: str) -> str:
    """The site's policy, with the file's own inline stylesheet allowed by its hash (CSP 3
    s. 8.3: the same page is the resident's download, which must open from disk without the
    site's stylesheets); still no script at all."""
    style = html.split("<style>", 1)[1].split("</style>", 1)[0] if "<style>" in html else ""
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return SECURITY_HEADERS[0][1].replace("style-src 'self'", f"style-src 'self' 'sha256-{digest}'")


async def _services_parts(request: Request, duty, found) -> tuple[object, dict, dict, object]:
    """consent's and accounts' exports (and the services' names), with the agent's tokens
    instead of the resident's session; ``CallRefused`` if either cannot answer."""
    from montreal.accounts.v1 import accounts_pb2 as apb
    from montreal.consent.v1 import consent_pb2 as cpb

    async with agent_stub(request, duty, "consent") as stub:
        consent_reply = await stub.Export(cpb.ExportRequest(resident_id=found.resident_id))
        # issue 22: the mandates that concern the resident, for the file's ``mandates`` section
        mandates = await stub.ListMandates(cpb.ListMandatesRequest(resident_id=found.resident_id, page_size=500))
    services = {}
    async with agent_stub(request, duty, "accounts") as stub:
        try:
            accounts_document = json.loads((await stub.ExportResidentData(
                apb.ExportResidentDataRequest(resident_id=found.resident_id))).document or b"{}")
        except CallRefused as refused:
            if refused.code != "NOT_FOUND":  # NOT_FOUND: no profile yet, accounts holds nothing
                raise
            accounts_document = {}
        if accounts_document.get("service_accounts"):
            services = {s.service_id: s for s in (await stub.ListServices(
                apb.ListServicesRequest(page_size=200))).services}
    return consent_reply, accounts_document, services, mandates


async def _complete_file(request: Request, duty, found, lang: str, consent_reply, accounts_document: dict,
                         services: dict, mandates) -> dict:
    """The resident's export, built from the same ``SECTIONS`` and signed the same way as the
    resident's own download (``account/pages.resident_file``); identity's sections read after
    the print was journaled, so the file lists it."""
    from services.identity.http.account.mandates import as_document as mandates_document
    from services.identity.http.account.web import _settings

    p = provider(request)
    sth = consent_reply.signed_tree_head
    remote = {
        "accounts": accounts_document,
        "linked_services": [{
            "account_id": a["account_id"], "service_id": a["service_id"],
            "service_name_fr": services[a["service_id"]].name_fr if a["service_id"] in services else "",
            "service_name_en": services[a["service_id"]].name_en if a["service_id"] in services else "",
            "account_reference": a["account_reference"], "state": a["state"], "linked_at": a["created_at"]}
            for a in accounts_document.get("service_accounts", [])],
        "consent": json.loads(consent_reply.document or b"{}"),
        "mandates": mandates_document(mandates),
        "consent_ledger_proof": {
            "signed_tree_head": {"tree_size": sth.tree_size, "jws": sth.jws, "key_id": sth.key_id},
            "keys": json.loads(consent_reply.jwks_json or "{}")},
    }
    resident = {"citizen_number": found.resident_id, "citizen_number_human": CitizenNumber(found.resident_id).human,
                # "" rather than None: the printed page shows an empty cell, not "None"
                "email": found.email or "", "email_verified": found.email_verified,
                "level_of_assurance": int(found.level), "second_factor": found.has_totp}
    sources = FileSources(resident_id=found.resident_id, resident=resident, uow_factory=p.uow_factory,
                          now=dt.datetime.now(dt.timezone.utc),
                          show_agent_names=_settings(request).counter_agent_display == "name", remote=remote)
    await p.refresh_keys()
    return await build_resident_file(sources, issuer=p.config.issuer, keys=p.keys)
