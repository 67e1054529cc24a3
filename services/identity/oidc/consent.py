"""The consent interaction (OIDC Core s. 3.1.2.4) under Québec's Law 25.

Access Act s. 53.1 (as amended by Law 25): consent is requested for each purpose separately,
in clear and simple terms. What the screen asks and what a form decides is
``consent_choices.py``: processing on another legal basis is information, each consent
purpose names its categories and what refusing loses, exactly what was ticked is recorded,
"Tout refuser" keeps the sign-in with nothing optional, and only the undecided part is asked.
The purposes' wording comes from the consent register (``provider.terms``). The decision is
stored as a :class:`Grant` and published as ``grant_given`` for the consent ledger.
"""

from __future__ import annotations

from urllib.parse import urlencode

from services.identity.domain.events import GrantGiven, GrantWithdrawn
from services.identity.oidc import consent_choices, interaction
from services.identity.oidc.access import revoke_access_of_resident
from services.identity.oidc.authorize import (error_page, handle_authorization, redirect_error, response_mode,
                                              validated_context)
from services.identity.oidc.errors import OAuth2Error, TemporarilyUnavailable, UntrustedRedirect
from services.identity.oidc.records import utcnow
from services.identity.oidc.tokens import new_id
from services.identity.oidc.wire import WireResponse


async def _load(provider, token: str | None, session_secret: str | None):
    params, started_at = interaction.unseal(provider.config.interaction_key, token)
    ctx = await validated_context(provider, params)
    # point reads, no unit of work (issue 24): the consent's own write opens one
    signing_in = await provider.reads.sign_in_state(session_secret, ctx.client.client_id, utcnow())
    session, grant = signing_in.session, signing_in.grant
    # prompt=consent (OIDC Core s. 3.1.2.1): ask everything again, earlier decisions aside
    return params, started_at, ctx, session, None if "consent" in ctx.prompts else grant


async def _terms(provider, client_id: str):
    return await provider.terms.for_client(client_id) if provider.terms is not None else None


#: the unavailable page's second button: back to the service, which gets
#: ``temporarily_unavailable`` (RFC 6749 s. 4.1.2.1)
RETURN_TO_SERVICE = "return"


def _register_needed_and_down(provider, ctx, terms) -> bool:
    """The client has purposes to ask about and the consent register has never answered this
    process (it keeps the last catalogue it read, so a register that was reachable once goes
    on being worded from that). Without the register's words no purpose can be asked for,
    and signing in without asking would hand the client its scopes with no purpose behind
    them: the resident is told, and nothing is recorded."""
    return provider.terms is not None and terms is None and bool(ctx.client.purposes)


def _register_unavailable(token: str | None) -> WireResponse:
    """503 (RFC 9110 s. 15.6.4) with ``Retry-After``: try again, or go back to the service."""
    return WireResponse(503, "", [("Cache-Control", "no-store"), ("Retry-After", "30")],
                        page=("consent_unavailable.html", {"interaction": token}))


def _bad_form(description: str) -> WireResponse:
    return error_page(UntrustedRedirect("consent_form_invalid", description))


async def consent_page(provider, token: str | None, session_secret: str | None) -> WireResponse:
    try:
        _params, _started_at, ctx, session, grant = await _load(provider, token, session_secret)
    except interaction.InteractionInvalid as exc:
        return error_page(UntrustedRedirect("interaction_expired", str(exc)))
    except (UntrustedRedirect, OAuth2Error) as exc:
        return error_page(UntrustedRedirect("invalid_request", str(exc)))
    if session is None:
        return WireResponse.redirect("/login?" + urlencode({"interaction": token}))
    terms = await _terms(provider, ctx.client.client_id)
    if _register_needed_and_down(provider, ctx, terms):
        return _register_unavailable(token)
    screen = consent_choices.screen_for(tuple(ctx.scopes), tuple(ctx.client.purposes), grant, terms)
    return WireResponse(200, "", [("Cache-Control", "no-store")], page=("consent.html", {
        "interaction": token, "client_name": ctx.client.name, "screen": screen,
        "again": grant is not None}))


async def submit_consent(provider, token: str | None, session_secret: str | None,
                         form: dict[str, list[str]]) -> WireResponse:
    try:
        _params, started_at, ctx, session, previous = await _load(provider, token, session_secret)
    except interaction.InteractionInvalid as exc:
        return error_page(UntrustedRedirect("interaction_expired", str(exc)))
    except (UntrustedRedirect, OAuth2Error) as exc:
        return error_page(UntrustedRedirect("invalid_request", str(exc)))
    if session is None:
        return WireResponse.redirect("/login?" + urlencode({"interaction": token}))
    if form.get("decision") == [RETURN_TO_SERVICE]:
        # the resident gives up while the register is down: the client hears it in RFC terms
        return redirect_error(provider.config.issuer, ctx.redirect_uri, TemporarilyUnavailable(
            "The consent register is temporarily unavailable; try again later."), (_params.get("state") or [None])[0],
            response_mode(_params))
    terms = await _terms(provider, ctx.client.client_id)
    if _register_needed_and_down(provider, ctx, terms):
        return _register_unavailable(token)   # nothing recorded
    screen = consent_choices.screen_for(tuple(ctx.scopes), tuple(ctx.client.purposes), previous, terms)
    try:
        decision = consent_choices.decide(screen, form)
    except consent_choices.BadChoice as error:
        return _bad_form(str(error))
    grant = consent_choices.merged(previous, decision, screen, grant_id=new_id(), resident_id=session.resident_id,
                                   client_id=ctx.client.client_id, now=utcnow())
    async with provider.uow_factory() as uow:
        await uow.grants.add(grant)
        uow.add_event(GrantGiven(grant_id=grant.grant_id, resident_id=grant.resident_id,
                                 client_id=grant.client_id, scopes=grant.scopes,
                                 purposes_accepted=tuple(decision.purpose_categories),
                                 purposes_refused=decision.purposes_refused,
                                 purpose_categories=tuple({"purpose_id": p, "categories": list(c)}
                                                          for p, c in decision.purpose_categories.items())))
        await uow.commit()
    # The authorization resumes here, as ``/authorize/resume`` would with this interaction and
    # session (issue 24: one request less per sign-in): the browser goes on to the client with
    # its code, or to whatever step is still due.
    return await handle_authorization(provider, _params, session_secret, started_at)


async def withdraw_grant(uow, resident_id: str, client_id: str) -> str | None:
    """The resident withdraws what they gave a client (Access Act s. 53.1: consent lasts only
    as long as the resident wants). The client's refresh tokens for the resident are revoked,
    so it must ask again; ``grant_withdrawn`` tells the consent ledger. Returns the grant id,
    or None if there was nothing to withdraw. The caller commits."""
    grant = await uow.grants.current(resident_id, client_id)
    if grant is None:
        return None
    await uow.grants.withdraw(grant.grant_id, utcnow())
    families = await uow.refresh_tokens.revoke_for_client(resident_id, client_id)
    # the access tokens already issued stop too, here and at every service (issue 15)
    await revoke_access_of_resident(uow, resident_id, client_id=client_id, families=families)
    uow.add_event(GrantWithdrawn(grant_id=grant.grant_id, resident_id=resident_id, client_id=client_id))
    return grant.grant_id


async def narrow_grant(uow, resident_id: str, client_id: str, purpose_id: str) -> bool:
    """A consent the resident withdrew in Mon compte stops what the client receives at once:
    the purpose leaves the grant (asked again at the next sign-in) and the client's refresh
    tokens for the resident are revoked, so no token carries it any more. The caller commits."""
    grant = await uow.grants.current(resident_id, client_id)
    if grant is None or purpose_id not in grant.purposes_accepted:
        return False
    await uow.grants.add(consent_choices.without_purpose(grant, purpose_id, grant_id=new_id(), now=utcnow()))
    families = await uow.refresh_tokens.revoke_for_client(resident_id, client_id)
    await revoke_access_of_resident(uow, resident_id, client_id=client_id, families=families)
    return True


async def widen_grant(uow, resident_id: str, client_id: str, purpose_id: str, categories: tuple[str, ...]) -> bool:
    """A consent the resident gave in Mon compte: the client may receive those categories from
    the resident's next sign-in there on. The caller commits."""
    grant = await uow.grants.current(resident_id, client_id)
    if grant is None:
        return False  # never signed in there: its consent screen will show the consent as given
    await uow.grants.add(consent_choices.with_purpose(grant, purpose_id, categories, grant_id=new_id(), now=utcnow()))
    return True
