"""The authorization endpoint (RFC 6749 s. 3.1, 4.1.1-4.1.2; OIDC Core s. 3.1.2).

1. ``checks.run_checks``: the ordered table of checks. Before the client and its redirect URI
   are verified an error is an error *page* (RFC 6749 s. 4.1.2.1); after, a redirect.
2. ``next_step``: what the resident must still do — log in, present the second factor
   (step-up for ``acr_values``), consent — or nothing. With ``prompt=none`` anything left to do
   is an error (``login_required``, ``consent_required``, ``interaction_required``).
3. Issue a single-use code bound to the client, redirect URI, PKCE challenge, nonce and the
   session's ``auth_time``/``acr``/``amr``; redirect with ``code``, ``state`` and ``iss`` (RFC 9207).
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlencode, urlsplit, urlunsplit

from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.sign_ins import session_sign_in
from services.identity.oidc import interaction
from services.identity.oidc.checks import AuthorizationContext, run_checks
from services.identity.oidc.errors import (
    AccessDenied, ConsentRequired, InteractionRequired, LoginRequired, OAuth2Error, UnmetAuthenticationRequirements,
    UntrustedRedirect,
)
from services.identity.oidc.logout import remember_client
from services.identity.oidc.records import AuthorizationCode, Grant, SsoSession, as_utc, utcnow
from services.identity.oidc.sessions import acr_for
from services.identity.oidc.tokens import new_secret, secret_hash
from services.identity.oidc.wire import WireRequest, WireResponse

log = logging.getLogger(__name__)

ACR_VALUES_SUPPORTED = tuple(level.acr for level in LevelOfAssurance)
LOGIN, SECOND_FACTOR, CONSENT = "login", "second-factor", "consent"
#: Issue 22: "for whom do you act?" after sign-in, for clients that accept mandates.
ACT_FOR = "act-for"
#: The chooser's answer in the sealed interaction state: "self" or a mandate id. Only the
#: chooser sets it; an authorization request that carries it has it removed.
ACT_FOR_PARAM = "mtlid_act_for"
UNMET = "unmet"   # an essential acr this resident cannot reach: a failed authentication
INTERACTION_PATHS = {LOGIN: "/login", SECOND_FACTOR: "/login/second-factor", CONSENT: "/consent",
                     ACT_FOR: "/act-for"}


def add_query(uri: str, params: list[tuple[str, str]]) -> str:
    parts = urlsplit(uri)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def error_page(error: UntrustedRedirect) -> WireResponse:
    return WireResponse(400, "", [("Cache-Control", "no-store")],
                        page=("error.html", {"reason": error.reason, "description": error.description}))


def redirect_error(issuer: str, redirect_uri: str, error: OAuth2Error, state: str | None,
                   mode: str = "query") -> WireResponse:
    """RFC 6749 s. 4.1.2.1 error response with ``iss`` (RFC 9207 s. 2)."""
    params = [("error", error.error)]
    if error.description:
        params.append(("error_description", error.description))
    if state:
        params.append(("state", state))
    params.append(("iss", issuer))
    return authorization_response(redirect_uri, params, mode)


def response_mode(params: dict[str, list[str]]) -> str:
    """``form_post`` when asked for (OAuth 2.0 Form Post Response Mode), else ``query``."""
    return "form_post" if params.get("response_mode") == ["form_post"] else "query"


def authorization_response(redirect_uri: str, params: list[tuple[str, str]], mode: str) -> WireResponse:
    """The response to the client's redirect URI: in its query (RFC 6749 s. 4.1.2), or with
    ``form_post`` as a form the browser POSTs there (OAuth 2.0 Form Post Response Mode s. 2):
    a small script submits it at once, and without scripts the resident presses Continue."""
    if mode == "form_post":
        return WireResponse(200, "", [("Cache-Control", "no-store")],
                            page=("form_post.html", {"action": redirect_uri, "fields": params}))
    return WireResponse.redirect(add_query(redirect_uri, params))


def requested_level(ctx: AuthorizationContext) -> int | None:
    """The lowest level among ``acr_values`` and the ``claims`` parameter's acr values: any
    of them satisfies the client (OIDC Core s. 3.1.2.1, s. 5.5.1.1)."""
    values = (*ctx.acr_values, *ctx.claims_acr)
    if not values:
        return None
    return min(int(LevelOfAssurance.from_acr(v)) for v in values)


def acr_reported(ctx: AuthorizationContext, session_acr: str) -> str:
    """The ID token's ``acr``: the session's level, or — when an essential acr was asked —
    the highest asked value the session meets (s. 5.5.1.1: "MUST return an acr Claim Value
    that matches one of the requested values")."""
    if not (ctx.acr_essential and ctx.claims_acr):
        return session_acr
    level = int(LevelOfAssurance.from_acr(session_acr))
    met = [v for v in ctx.claims_acr if int(LevelOfAssurance.from_acr(v)) <= level]
    return max(met, key=lambda v: int(LevelOfAssurance.from_acr(v))) if met else session_acr


def consent_items(ctx: AuthorizationContext) -> tuple[set[str], set[str]]:
    """Scopes and purposes the resident decides on (``openid`` — being logged in — is the request itself)."""
    return {s for s in ctx.scopes if s != "openid"}, set(ctx.client.purposes)


def next_step(ctx: AuthorizationContext, session: SsoSession | None, resident, grant: Grant | None,
              now: dt.datetime, started_at: float | None) -> str | None:
    if session is None or resident is None:
        return LOGIN
    # A login during this interaction opened a new session: compare its creation time, to the
    # millisecond (auth_time has whole seconds and would let a login in the same second count).
    logged_in_during = started_at is not None and as_utc(session.created_at).timestamp() >= started_at
    if "login" in ctx.prompts and not logged_in_during:
        return LOGIN
    if ctx.max_age is not None and now.timestamp() - session.auth_time > ctx.max_age and not logged_in_during:
        return LOGIN
    wanted = requested_level(ctx)
    if wanted is not None and int(LevelOfAssurance.from_acr(session.acr)) < wanted:
        # Step-up only if the second factor can reach the level: a verified resident with TOTP
        # or a passkey.
        reachable = (wanted == LevelOfAssurance.VERIFIED_MFA and int(resident.level) >= LevelOfAssurance.VERIFIED
                     and (resident.has_totp or getattr(resident, "has_passkey", False)))
        if reachable:
            return SECOND_FACTOR
        if ctx.acr_essential:
            return UNMET
    scopes, purposes = consent_items(ctx)
    if grant is None or not grant.covers(scopes, purposes):
        return CONSENT
    if "consent" in ctx.prompts and not (started_at is not None and as_utc(grant.created_at).timestamp() >= started_at):
        return CONSENT
    return None


async def authorization_endpoint(provider, request: WireRequest) -> WireResponse:
    """GET or POST /authorize; with a pushed request's ``request_uri``, its parameters (RFC 9126 s. 4)."""
    from services.identity.oidc import par  # par imports this module

    params = request.params()
    params.pop(par.PUSHED, None)
    params.pop(ACT_FOR_PARAM, None)   # only the chooser's sealed answer counts
    if "request_uri" in params:
        async with provider.uow_factory() as uow:
            try:
                params = await par.expand(uow, params)
            except UntrustedRedirect as error:
                return error_page(error)
            await uow.commit()                        # the request_uri is used up
        params.pop(ACT_FOR_PARAM, None)               # nor from a pushed request
    return await handle_authorization(provider, params, request.cookies.get("mtlid_session"), None)


async def resume_endpoint(provider, request: WireRequest) -> WireResponse:
    """GET /authorize/resume?interaction=… — after a login, second factor or consent."""
    try:
        params, started_at = interaction.unseal(provider.config.interaction_key, request.first(request.query, "interaction"))
    except interaction.InteractionInvalid as exc:
        return error_page(UntrustedRedirect("interaction_expired", str(exc)))
    return await handle_authorization(provider, params, request.cookies.get("mtlid_session"), started_at)


async def validated_context(provider, params: dict[str, list[str]]) -> AuthorizationContext:
    """Look up the client and run the checks (raises ``UntrustedRedirect`` or ``OAuth2Error``).

    The client comes from ``provider.reads`` (a fresh point read; on PostgreSQL a cache the
    database empties at the commit of any change to the client, adapters/hot_reads.py), not
    from ``uow``: every step of a sign-in reads it, and a client disabled or changed by
    ``mtlid client`` is seen at its next request either way."""
    client_ids = params.get("client_id") or []
    client = (await provider.reads.client(client_ids[0])
              if len(client_ids) == 1 and len(client_ids[0]) <= 64 else None)
    if client is not None and getattr(client, "disabled", False):
        client = None
    ctx = AuthorizationContext(params=params, client=client, acr_supported=ACR_VALUES_SUPPORTED,
                               pushed=params.get("mtlid_pushed") == ["1"])
    run_checks(ctx)
    return ctx


async def handle_authorization(provider, params: dict[str, list[str]], session_secret: str | None,
                               started_at: float | None) -> WireResponse:
    config = provider.config
    now = utcnow()
    state = (params.get("state") or [None])[0]
    ctx = AuthorizationContext(params=params, client=None, acr_supported=ACR_VALUES_SUPPORTED)
    try:
        ctx = await validated_context(provider, params)
    except UntrustedRedirect as error:
        return error_page(error)
    except OAuth2Error as error:
        return redirect_error(config.issuer, ctx_redirect(params), error, state, response_mode(params))

    # Reads only, outside any transaction (issue 24): most passes here send the browser to a
    # page and write nothing; the unit of work opens when a code is issued.
    signing_in = await provider.reads.sign_in_state(session_secret, ctx.client.client_id, now)
    session, resident = signing_in.session, signing_in.resident
    if resident is not None and resident.disabled:
        resident = None
    if session is not None and resident is not None:
        # the level may have been raised at a counter since the login (never lowered)
        session.acr = acr_for(resident.level, session.amr)
    grant = signing_in.grant if resident is not None else None
    step = next_step(ctx, session, resident, grant, now, started_at)
    chosen = (params.get(ACT_FOR_PARAM) or [None])[0] if accepts_mandates(provider, ctx) else None
    if step is None and accepts_mandates(provider, ctx) and chosen is None and "none" not in ctx.prompts:
        # Someone who holds mandates chooses whom they act for ("Vous-même" first). With
        # prompt=none no page can be shown: the resident signs in as themselves.
        if await provider.mandates.held_by(resident.resident_id):
            step = ACT_FOR

    if step == UNMET:
        return redirect_error(config.issuer, ctx.redirect_uri,
                              UnmetAuthenticationRequirements("The essential acr cannot be reached."),
                              state, response_mode(params))
    if step is not None:
        if "none" in ctx.prompts:
            error = {LOGIN: LoginRequired, CONSENT: ConsentRequired}.get(step, InteractionRequired)()
            return redirect_error(config.issuer, ctx.redirect_uri, error, state, response_mode(params))
        token = interaction.seal(config.interaction_key, params,
                                 started_at if started_at is not None else now.timestamp(),
                                 config.interaction_ttl)
        query = {"interaction": token}
        # OIDC Core s. 3.1.2.1 ui_locales: the client's preferred language for our pages
        locales = (ctx.get("ui_locales") or "").split()
        if locales and locales[0].split("-")[0].lower() in ("fr", "en"):
            query["lang"] = locales[0].split("-")[0].lower()
        return WireResponse.redirect(INTERACTION_PATHS[step] + "?" + urlencode(query))

    granted = tuple(s for s in ctx.scopes if s == "openid" or s in grant.scopes)
    on_behalf = None
    if chosen not in (None, "self"):
        on_behalf = await decide_on_behalf(provider, resident.resident_id, chosen, ctx.client.client_id)
        if isinstance(on_behalf, OAuth2Error):
            return redirect_error(config.issuer, ctx.redirect_uri, on_behalf, state, response_mode(params))
    if on_behalf is not None and "profile" in ctx.scopes and "profile" not in granted:
        # Issue 22: on someone's behalf, both people's names go to a client that accepts
        # mandates because it asked for ``profile``: they rest on the mandate (the represented
        # resident) and on the mandatary's choice to act under it, told on the chooser page
        # (act_for.html), not on the consent screen's ``profile`` (the language). The code's
        # scope carries that ask to the token endpoint (``token.owner_for``); docs/mandates.md.
        granted = (*granted, "profile")
    code = new_secret()
    async with provider.uow_factory() as uow:
        await uow.codes.add(AuthorizationCode(
            code_hash=secret_hash(code), client_id=ctx.client.client_id, resident_id=resident.resident_id,
            session_id=session.session_id, redirect_uri=ctx.redirect_uri, scope=" ".join(granted),
            code_challenge=ctx.get("code_challenge"), code_challenge_method="S256", nonce=ctx.get("nonce"),
            auth_time=session.auth_time, acr=acr_reported(ctx, session.acr), amr=session.amr, created_at=now,
            expires_at=now + dt.timedelta(seconds=config.code_ttl), dpop_jkt=ctx.get("dpop_jkt"),
            **(on_behalf or {})))
        if not (started_at is not None and as_utc(session.created_at).timestamp() >= started_at):
            # signed in to this service on the open session: a sign-in of the history too
            # (a login during this interaction was recorded with its event)
            await uow.sign_ins.add(session_sign_in(resident.resident_id, ctx.client.client_id, ctx.client.name,
                                                   tuple(session.amr), session.acr, now, session.session_id))
        await remember_client(uow, session.session_id, ctx.client.client_id)  # told at logout
        await uow.commit()
    params_out = [("code", code)]
    if state:
        params_out.append(("state", state))
    params_out.append(("iss", config.issuer))
    return authorization_response(ctx.redirect_uri, params_out, response_mode(params))


def accepts_mandates(provider, ctx: AuthorizationContext) -> bool:
    """Only a client registered with ``accepts_mandates`` ever gets a represented resident."""
    return bool(getattr(ctx.client, "accepts_mandates", False)) and provider.mandates is not None


async def decide_on_behalf(provider, mandatary_id: str, mandate_id: str, client_id: str):
    """The code's fields for a sign-in on someone's behalf, or the error to answer: the mandate
    must be one the resident holds in force now, and the register must allow signing in to
    this client's service (``view``) now — asked at every sign-in, never remembered, so a
    revoked mandate refuses the next one at once (RFC 6749 s. 4.1.2.1 ``access_denied``)."""
    held = await provider.mandates.held_by(mandatary_id) or []
    mandate = next((m for m in held if m.mandate_id == mandate_id), None)
    if mandate is None:
        return AccessDenied("The mandate chosen is not in force.")
    allowed, reason = await provider.mandates.may_sign_in(mandate.mandate_id, client_id)
    if not allowed:
        return AccessDenied(f"The mandate does not allow signing in for this person now ({reason}).")
    # RFC 9396: one authorization detail per service of the mandate's scope.
    details = [{"type": MANDATE_DETAIL_TYPE, "mandate_id": mandate.mandate_id, "basis": mandate.basis,
                "locations": [item["service"]], "actions": sorted(item["actions"])} for item in mandate.scope]
    return {"represented_id": mandate.represented_id, "mandate_id": mandate.mandate_id,
            "authorization_details": details}


#: RFC 9396 s. 2 ``type`` of the mandate detail in tokens issued on someone's behalf.
MANDATE_DETAIL_TYPE = "urn:mtlid:mandate"


def ctx_redirect(params: dict[str, list[str]]) -> str:
    # Only reached after check_redirect_uri passed: the value is registered for the client.
    return params["redirect_uri"][0]
