"""Issue 22: "Pour qui agissez-vous?" — after sign-in, a resident who holds mandates chooses
whom they act for at a relying party that accepts mandates ("Vous-même" first). The answer is
sealed into the interaction state (HMAC, ``interaction.py``): the browser cannot name a mandate
the page did not offer, and ``authorize.decide_on_behalf`` asks the register again when the
code is issued. docs/mandates.md states the choices.

    GET  /act-for?interaction=…     the choice
    POST /act-for                   interaction, act_for ("self" or a mandate id)
"""

from __future__ import annotations

from urllib.parse import urlencode

from services.common.organization_number import OrganizationNumber, is_organization_id
from services.identity.domain.citizen_number import CitizenNumber, InvalidCitizenNumber
from services.identity.oidc import interaction
from services.identity.oidc.authorize import ACT_FOR_PARAM, accepts_mandates, error_page, validated_context
from services.identity.oidc.errors import OAuth2Error, UntrustedRedirect
from services.identity.oidc.sessions import find_session
from services.identity.oidc.wire import WireResponse


async def _load(provider, token: str | None, session_secret: str | None):
    params, started_at = interaction.unseal(provider.config.interaction_key, token)
    async with provider.uow_factory() as uow:
        ctx = await validated_context(provider, params)
        session = await find_session(uow, session_secret)
    return params, started_at, ctx, session


def _human(resident_id: str) -> str:
    try:
        return CitizenNumber.parse(resident_id).human
    except InvalidCitizenNumber:
        return resident_id


async def _choices(provider, resident_id: str) -> list[dict]:
    held = await provider.mandates.held_by(resident_id) or []
    return [{"mandate_id": m.mandate_id, "number": await _shown(provider, m.represented_id), "basis": m.basis}
            for m in held]


async def _shown(provider, party_id: str) -> str:
    """A resident by citizen number; an organization by its registered name and number (the
    representative must see which organization they choose)."""
    if not is_organization_id(party_id):
        return _human(party_id)
    async with provider.uow_factory() as uow:
        organization = await uow.organizations.get(party_id)
    number = OrganizationNumber(party_id).human
    return f"{organization.name} ({number})" if organization is not None else number


async def act_for_page(provider, token: str | None, session_secret: str | None) -> WireResponse:
    try:
        _params, _started, ctx, session = await _load(provider, token, session_secret)
    except interaction.InteractionInvalid as exc:
        return error_page(UntrustedRedirect("interaction_expired", str(exc)))
    except (UntrustedRedirect, OAuth2Error) as exc:
        return error_page(UntrustedRedirect("invalid_request", str(exc)))
    if session is None:
        return WireResponse.redirect("/login?" + urlencode({"interaction": token}))
    if not accepts_mandates(provider, ctx):
        return WireResponse.redirect("/authorize/resume?" + urlencode({"interaction": token}))
    return WireResponse(200, "", [("Cache-Control", "no-store")], page=("act_for.html", {
        "interaction": token, "client_name": ctx.client.name,
        # issue 22: told before choosing that both names go to the client (authorize.py)
        "names_shared": "profile" in ctx.scopes and provider.names is not None,
        "choices": await _choices(provider, session.resident_id)}))


async def submit_act_for(provider, token: str | None, session_secret: str | None,
                         form: dict[str, list[str]]) -> WireResponse:
    try:
        params, started_at, ctx, session = await _load(provider, token, session_secret)
    except interaction.InteractionInvalid as exc:
        return error_page(UntrustedRedirect("interaction_expired", str(exc)))
    except (UntrustedRedirect, OAuth2Error) as exc:
        return error_page(UntrustedRedirect("invalid_request", str(exc)))
    if session is None:
        return WireResponse.redirect("/login?" + urlencode({"interaction": token}))
    chosen = (form.get("act_for") or [""])[0][:36]
    offered = {c["mandate_id"] for c in await _choices(provider, session.resident_id)}
    if chosen != "self" and chosen not in offered:
        # Nothing chosen, or a mandate no longer in force: the page again, with the reason.
        return WireResponse(400, "", [("Cache-Control", "no-store")], page=("act_for.html", {
            "interaction": token, "client_name": ctx.client.name, "error": "act_for.error.choose",
            "choices": await _choices(provider, session.resident_id)}))
    params = {**params, ACT_FOR_PARAM: [chosen]}
    sealed = interaction.seal(provider.config.interaction_key, params, started_at, provider.config.interaction_ttl)
    return WireResponse.redirect("/authorize/resume?" + urlencode({"interaction": sealed}))
