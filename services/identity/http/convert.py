"""Starlette ↔ the OIDC core's framework-neutral request and response.

Also where every page is rendered (jinja2, message catalogues, CSRF token, language) and
every response gets its security headers and cookie attributes — in one place.
"""

from __future__ import annotations

import dataclasses
import pathlib
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import Response

from services.identity.http import csrf
from services.identity.http.i18n import LANG_COOKIE, Translator, choose_language
from services.identity.oidc.sessions import SESSION_COOKIE
from services.identity.oidc.wire import WireRequest, WireResponse

TEMPLATES = Environment(loader=FileSystemLoader(pathlib.Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)

SECURITY_HEADERS = [
    # No inline script anywhere; forms post to us; nobody may frame the login (clickjacking).
    ("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    # The authorization code travels in redirect URLs: never leak it in a Referer.
    ("Referrer-Policy", "no-referrer"),
]
MAX_FORM_FIELDS = 100


@dataclasses.dataclass(frozen=True)
class FrontOptions:
    secure_cookies: bool


async def to_wire(request: Request) -> WireRequest:
    query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        query.setdefault(key, []).append(value)
    form: dict[str, list[str]] = {}
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded") or content_type.startswith("multipart/form-data"):
            data = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
            for key, value in data.multi_items():
                if isinstance(value, str):
                    form.setdefault(key, []).append(value)
    headers = {k.lower(): v for k, v in request.headers.items()}
    if len(proofs := request.headers.getlist("dpop")) > 1:
        # RFC 9449 s. 4.3 item 1: exactly one proof; joined, the proof check refuses them
        headers["dpop"] = ",".join(proofs)
    return WireRequest(method=request.method, path=request.url.path, query=query, form=form,
                       headers=headers,
                       cookies=dict(request.cookies),
                       remote_addr=request.client.host if request.client else "")


def language(request: Request) -> str:
    return choose_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


def render_page(request: Request, template: str, context: dict, status: int, options: FrontOptions) -> Response:
    lang = language(request)
    t = Translator(lang)
    nonce = request.cookies.get(csrf.CSRF_COOKIE) or new_csrf(request)
    token = csrf.form_token(csrf.key_for(request), nonce, request.cookies.get(SESSION_COOKIE))
    params = dict(request.query_params)
    params["lang"] = "en" if lang == "fr" else "fr"
    html = TEMPLATES.get_template(template).render(
        t=t, has=t.has, lang=lang, csrf_token=token,
        switch_lang_url=request.url.path + "?" + urlencode(params), **context)
    response = Response(html, status_code=status, media_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    if context.get("frame_origins"):  # front-channel logout iframes (oidc/end_session.py)
        response.headers["Content-Security-Policy"] = (SECURITY_HEADERS[0][1] + "; frame-src "
                                                       + " ".join(context["frame_origins"]))
    set_cookie(response, csrf.CSRF_COOKIE, nonce, None, options)
    if request.query_params.get("lang") in ("fr", "en"):
        set_cookie(response, LANG_COOKIE, lang, 365 * 24 * 3600, options, http_only=False)
    return response


def new_csrf(request: Request) -> str:
    token = csrf.new_token()
    request.state.new_csrf = token
    return token


def set_cookie(response: Response, name: str, value: str, max_age: int | None, options: FrontOptions,
               http_only: bool = True) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=http_only,
                        secure=options.secure_cookies, samesite="lax")


def from_wire(request: Request, wire: WireResponse, options: FrontOptions) -> Response:
    if wire.page is not None:
        template, context = wire.page
        response = render_page(request, template, context, wire.status, options)
        for name, value in wire.headers:
            if name.lower() != "cache-control":
                response.headers.append(name, value)
    else:
        response = Response(wire.body_bytes(), status_code=wire.status)
        for name, value in wire.headers:
            response.headers.append(name, value)
    for name, value, max_age in wire.cookies:
        if max_age is None and not value:
            response.delete_cookie(name, path="/", secure=options.secure_cookies, httponly=True, samesite="lax")
        else:
            set_cookie(response, name, value, max_age, options)
    return response


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    return response
