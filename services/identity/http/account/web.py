"""What every account page shares: the signed-in resident (from the SSO session cookie), the
gRPC backends, CSRF, rendering through the message catalogues, dates in Montréal time.

Pages with personal data are never cached (``Cache-Control: no-store``, set by
``render_page``) and never framed (the front's security headers).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.identity.http import csrf
from services.identity.http.convert import language, render_page
from services.identity.http.i18n import Translator
from services.identity.http.routes.common import options, provider
from services.identity.http.account.backends import BackendError, Backends, ResidentClient
from services.identity.oidc.sessions import SESSION_COOKIE, find_session

log = logging.getLogger("services.identity.http.account")
MONTREAL = ZoneInfo("America/Montreal")
MAX_FORM_BYTES = 16 * 1024
_backends_lock = asyncio.Lock()


@dataclass(frozen=True)
class SignedIn:
    """The resident behind the session cookie."""

    resident_id: str
    session_id: str
    email: str
    level: int
    has_totp: bool
    email_verified: bool
    acr: str
    amr: tuple[str, ...]


async def signed_in(request: Request) -> SignedIn | None:
    p = provider(request)
    async with p.uow_factory() as uow:
        session = await find_session(uow, request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        resident = await uow.residents.get(session.resident_id)
    if resident is None or resident.disabled:
        return None
    if resident.has_totp and not {"otp", "mfa"} & set(session.amr):
        # Two-step verification is on and this session has only the password (the second step
        # was never done, or a service's sign-in did not need it): not enough for Mon compte.
        return None
    return SignedIn(resident_id=resident.resident_id, session_id=session.session_id, email=resident.email,
                    level=int(resident.level), has_totp=resident.has_totp, email_verified=resident.email_verified,
                    acr=session.acr, amr=tuple(session.amr))


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (("?" + request.url.query) if request.url.query else "")
    return RedirectResponse("/account/login?" + urlencode({"next": target}), status_code=303,
                            headers={"Cache-Control": "no-store"})


def _settings(request: Request):
    settings = getattr(request.app.state, "settings", None)
    if settings is None:
        from services.common.config import Settings

        settings = Settings.from_env()
        request.app.state.settings = settings
    return settings


def settings(request: Request):
    """The validated settings the front runs with (``MTLID_…``)."""
    return _settings(request)


async def backends(request: Request) -> Backends:
    existing = getattr(request.app.state, "account_backends", None)
    if existing is not None:
        return existing
    async with _backends_lock:
        existing = getattr(request.app.state, "account_backends", None)
        if existing is None:
            settings = _settings(request)
            existing = Backends.connect(settings.grpc_target("accounts"), settings.grpc_target("consent"))
            request.app.state.account_backends = existing
    return existing


async def client_for(request: Request, who: SignedIn) -> ResidentClient:
    return ResidentClient(await backends(request), provider(request), who.resident_id, who.session_id)


def page(request: Request, template: str, context: dict, status: int = 200) -> Response:
    if request.method != "GET" and "lang_path" not in context:
        # A page answering a POST (a form with errors): the language link must lead to a page
        # one can GET, not back to the form's action.
        context = {**context, "lang_path": _readable_path(request.url.path, context)}
    return render_page(request, template, context, status, options(request))


def _readable_path(path: str, context: dict) -> str:
    if path.startswith("/account/security"):
        return "/account/security"
    if path.startswith("/account/consents"):
        return "/account/consents"
    if path == "/signup/verify" and context.get("token"):
        return "/signup/verify?" + urlencode({"t": context["token"]})
    return path


def unavailable(request: Request, error: BackendError | None = None) -> Response:
    if error is not None:
        log.warning("account backend call failed", extra={"code": error.code, "reason": error.reason})
    return page(request, "account/unavailable.html", {"nav": ""}, 503)


async def form(request: Request) -> dict[str, list[str]] | None:
    """The posted form, or None when it is too large or its CSRF token does not match."""
    length = request.headers.get("content-length", "0")
    if not length.isdigit() or int(length) > MAX_FORM_BYTES:
        return None
    data = await request.form(max_files=0, max_fields=50)
    fields: dict[str, list[str]] = {}
    for key, value in data.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
    if not csrf.request_valid(request, (fields.get(csrf.CSRF_FIELD) or [None])[0]):
        return None
    return fields


def first(fields: dict[str, list[str]], name: str) -> str:
    return (fields.get(name) or [""])[0]


def new_password(fields: dict[str, list[str]]) -> tuple[str, dict[str, str]]:
    """A form's new password (``new_password``, typed again in ``new_password_confirm``) and
    the errors of its two fields; its strength is the service layer's to judge."""
    new, confirm = first(fields, "new_password"), first(fields, "new_password_confirm")
    errors: dict[str, str] = {}
    if not new:
        errors["new_password"] = "signup.error.password_required"
    elif new != confirm:
        errors["new_password_confirm"] = "signup.error.password_mismatch"
    return new, errors


def csrf_refused(request: Request) -> Response:
    return page(request, "error.html", {"reason": "csrf"}, 403)


class Opening(NamedTuple):
    """What an account page handler starts from: the resident, the posted form (None for a
    GET), or the answer to give at once instead (``refusal``)."""

    who: SignedIn | None
    fields: dict[str, list[str]] | None
    refusal: Response | None


async def opening(request: Request) -> Opening:
    """The opening every account page handler shares, checked in this order:

    1. a signed-in resident (the SSO session cookie), else to the sign-in page and back here;
    2. for a POST, a form that fits (``MAX_FORM_BYTES``) and whose CSRF token matches (OWASP
       ASVS 4.0 V4.2.2), else 403 — before anything is done on the resident's behalf.
    """
    who = await signed_in(request)
    if who is None:
        return Opening(None, None, to_login(request))
    if request.method != "POST":
        return Opening(who, None, None)
    fields = await form(request)
    if fields is None:
        return Opening(who, None, csrf_refused(request))
    return Opening(who, fields, None)


def translator(request: Request) -> Translator:
    return Translator(language(request))


def local_time(value, t: Translator) -> dict[str, str] | None:
    """A timestamp (protobuf Timestamp or datetime) as ``{"iso", "text"}`` in Montréal time
    (America/Montreal, daylight time included), worded for the resident: Québec French as the
    Office québécois de la langue française writes it ("1er décembre 2026 à 14 h 05": "1er"
    for the first of the month, 24-hour clock, "h" between spaces, minutes in two digits),
    Canadian English as Canada.ca does ("December 1, 2026 at 2:05 p.m.")."""
    if value is None:
        return None
    if hasattr(value, "ToDatetime"):
        if not value.seconds and not value.nanos:
            return None
        value = value.ToDatetime(tzinfo=dt.timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    local = value.astimezone(MONTREAL)
    month = t(f"month.{local.month}")
    if t.lang == "fr":
        day = "1er" if local.day == 1 else str(local.day)
        text = f"{day} {month} {local.year} à {local.hour} h {local.minute:02d}"
    else:
        hour = local.hour % 12 or 12
        text = f"{month} {local.day}, {local.year} at {hour}:{local.minute:02d} {'a.m.' if local.hour < 12 else 'p.m.'}"
    return {"iso": value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"), "text": text}


#: an instant as the export writes it (RFC 3339 s. 5.6, UTC "Z" or an offset)
_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)")
#: a calendar date alone (RFC 3339 full-date: a birth date, an expiry day)
_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def local_date(value: dt.date, t: Translator) -> str:
    """A calendar date worded as ``local_time`` words the day ("1er décembre 2026",
    "December 1, 2026"); a date has no time zone to convert."""
    month = t(f"month.{value.month}")
    if t.lang == "fr":
        return f"{'1er' if value.day == 1 else value.day} {month} {value.year}"
    return f"{month} {value.day}, {value.year}"


def readable_times(value, t):
    """A copy of the resident's file for its readable page (``account/file.html``): every
    instant worded as ``local_time`` words it (Montréal time, Québec conventions; issue 21,
    "dates everywhere"), every date alone as ``local_date``. The JSON download and the
    signatures keep RFC 3339 for machines."""
    if isinstance(value, dict):
        return {key: readable_times(item, t) for key, item in value.items()}
    if isinstance(value, list):
        return [readable_times(item, t) for item in value]
    if isinstance(value, str) and _INSTANT.fullmatch(value):
        return local_time(dt.datetime.fromisoformat(value.replace("Z", "+00:00")), t)["text"]
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return local_date(dt.date.fromisoformat(value), t)
        except ValueError:      # shaped like a date, not one (2026-13-40): shown as it is
            return value
    return value


def name_in(obj, lang: str, base: str = "name") -> str:
    """``name_fr``/``name_en`` (or ``title_…``, ``label_…``) in the page's language, the other as fallback."""
    own, other = getattr(obj, f"{base}_{lang}", ""), getattr(obj, f"{base}_{'en' if lang == 'fr' else 'fr'}", "")
    return own or other


def forget_session(request: Request, response: Response) -> Response:
    """The browser forgets its session cookie: for an answer given after the session ended
    server-side (an account closed, "this was not me")."""
    response.delete_cookie(SESSION_COOKIE, path="/", secure=options(request).secure_cookies, httponly=True,
                           samesite="lax")
    return response
