"""The consent interaction (OIDC Core s. 3.1.2.4) under Québec's Law 25.

Access Act s. 53.1 (as amended by Law 25): consent is requested for each purpose separately,
in clear and simple terms. The page lists every requested scope and every purpose of the
client, each with its own choice; the resident may refuse one without refusing all, or refuse
everything (``access_denied``, RFC 6749 s. 4.1.2.1). What they accept is stored as a
:class:`Grant` and published as ``grant_given`` for the consent ledger.
"""

from __future__ import annotations

from urllib.parse import urlencode

from services.identity.domain.events import GrantGiven, GrantWithdrawn
from services.identity.oidc import interaction
from services.identity.oidc.authorize import (
    consent_items, error_page, redirect_error, response_mode, validated_context,
)
from services.identity.oidc.errors import AccessDenied, OAuth2Error, UntrustedRedirect
from services.identity.oidc.records import Grant, utcnow
from services.identity.oidc.sessions import find_session
from services.identity.oidc.tokens import new_id
from services.identity.oidc.wire import WireResponse


async def _load(provider, token: str | None, session_secret: str | None):
    params, started_at = interaction.unseal(provider.config.interaction_key, token)
    async with provider.uow_factory() as uow:
        ctx = await validated_context(provider, uow, params)
        session = await find_session(uow, session_secret)
    return params, ctx, session


async def consent_page(provider, token: str | None, session_secret: str | None) -> WireResponse:
    try:
        _params, ctx, session = await _load(provider, token, session_secret)
    except interaction.InteractionInvalid as exc:
        return error_page(UntrustedRedirect("interaction_expired", str(exc)))
    except (UntrustedRedirect, OAuth2Error) as exc:
        return error_page(UntrustedRedirect("invalid_request", str(exc)))
    if session is None:
        return WireResponse.redirect("/login?" + urlencode({"interaction": token}))
    scopes, purposes = consent_items(ctx)
    return WireResponse(200, "", [("Cache-Control", "no-store")], page=("consent.html", {
        "interaction": token, "client_name": ctx.client.name,
        "scopes": [s for s in ctx.scopes if s in scopes],
        "purposes": [p for p in ctx.client.purposes if p in purposes]}))


async def submit_consent(provider, token: str | None, session_secret: str | None, decision: str,
                         accepted_scopes: list[str], accepted_purposes: list[str]) -> WireResponse:
    try:
        params, ctx, session = await _load(provider, token, session_secret)
    except interaction.InteractionInvalid as exc:
        return error_page(UntrustedRedirect("interaction_expired", str(exc)))
    except (UntrustedRedirect, OAuth2Error) as exc:
        return error_page(UntrustedRedirect("invalid_request", str(exc)))
    if session is None:
        return WireResponse.redirect("/login?" + urlencode({"interaction": token}))
    state = ctx.get("state")
    if decision != "accept":
        return redirect_error(provider.config.issuer, ctx.redirect_uri,
                              AccessDenied("The resident refused."), state, response_mode(ctx.params))
    scopes, purposes = consent_items(ctx)
    accepted = tuple(s for s in ctx.scopes if s == "openid" or (s in scopes and s in accepted_scopes))
    scopes_refused = tuple(s for s in ctx.scopes if s in scopes and s not in accepted)
    purposes_accepted = tuple(p for p in ctx.client.purposes if p in purposes and p in accepted_purposes)
    purposes_refused = tuple(p for p in ctx.client.purposes if p in purposes and p not in accepted_purposes)
    grant = Grant(grant_id=new_id(), resident_id=session.resident_id, client_id=ctx.client.client_id,
                  scopes=accepted, scopes_refused=scopes_refused, purposes_accepted=purposes_accepted, purposes_refused=purposes_refused,
                  created_at=utcnow())
    async with provider.uow_factory() as uow:
        await uow.grants.add(grant)
        uow.add_event(GrantGiven(grant_id=grant.grant_id, resident_id=grant.resident_id,
                                 client_id=grant.client_id, scopes=grant.scopes,
                                 purposes_accepted=purposes_accepted, purposes_refused=purposes_refused))
        await uow.commit()
    return WireResponse.redirect("/authorize/resume?" + urlencode({"interaction": token}))


async def withdraw_grant(uow, resident_id: str, client_id: str) -> str | None:
    """The resident withdraws what they gave a client (Access Act s. 53.1: consent lasts only
    as long as the resident wants). The client's refresh tokens for the resident are revoked,
    so it must ask again; ``grant_withdrawn`` tells the consent ledger. Returns the grant id,
    or None if there was nothing to withdraw. The caller commits."""
    grant = await uow.grants.current(resident_id, client_id)
    if grant is None:
        return None
    await uow.grants.withdraw(grant.grant_id, utcnow())
    await uow.refresh_tokens.revoke_for_client(resident_id, client_id)
    uow.add_event(GrantWithdrawn(grant_id=grant.grant_id, resident_id=resident_id, client_id=client_id))
    return grant.grant_id
