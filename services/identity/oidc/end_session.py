"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and sign out everywhere.

- ``id_token_hint``: an ID token we issued (expired is fine, s. 2); it names the client.
- ``post_logout_redirect_uri``: exact match with one the client registered (s. 3), else we
  do not redirect; ``state`` is returned unchanged.
- Without a valid hint naming the signed-in resident, the resident confirms on a page (s. 2:
  the OP SHOULD ask), so a third party cannot log residents out with a bare link.
- The session's other clients are told (``logout.py``): back-channel logout tokens are
  recorded with the logout and sent by the sender; front-channel logout URIs are loaded in
  iframes of the "signed out" page (Front-Channel Logout 1.0 s. 3), which then offers the
  way back to ``post_logout_redirect_uri`` as a link (no script, no timed refresh) instead of
  redirecting at once.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from services.identity.domain.pairwise import subject_for
from services.identity.oidc.authorize import add_query, error_page
from services.identity.oidc.errors import UntrustedRedirect
from services.identity.oidc.logout import frontchannel_frames
from services.identity.oidc.sessions import SESSION_COOKIE, end_session, find_session, sign_out_everywhere
from services.identity.oidc.tokens import TokenInvalid, verify_jwt
from services.identity.oidc.wire import WireRequest, WireResponse


def _logged_out(redirect: str | None, state: str | None, frames: list[dict[str, str]] | None = None) -> WireResponse:
    back = add_query(redirect, [("state", state)] if state else []) if redirect else None
    if back and not frames:
        response = WireResponse.redirect(back)
    else:
        # the page frames the clients' logout URIs: the front allows exactly their origins
        origins = sorted({origin_of(f["uri"]) for f in frames or []})
        response = WireResponse(200, "", [("Cache-Control", "no-store")], page=("logged_out.html", {
            "frames": frames or [], "back": back, "frame_origins": origins}))
    response.cookies.append((SESSION_COOKIE, "", None))
    return response


def origin_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


async def end_session_endpoint(provider, request: WireRequest, *, confirmed: bool = False) -> WireResponse:
    params = request.params()
    first = lambda name: (params.get(name) or [None])[0]  # noqa: E731
    hint, redirect, state = first("id_token_hint"), first("post_logout_redirect_uri"), first("state")
    client_id = first("client_id")
    hint_claims = None
    if hint:
        try:
            hint_claims = verify_jwt(provider.keys, provider.config, hint, typ="jwt", check_exp=False)
        except TokenInvalid:
            return error_page(UntrustedRedirect("invalid_id_token_hint", "id_token_hint does not verify"))
        aud = hint_claims.get("aud")
        hint_client = aud if isinstance(aud, str) else (aud[0] if aud else None)
        if client_id and client_id != hint_client:
            return error_page(UntrustedRedirect("invalid_request", "client_id does not match id_token_hint"))
        client_id = hint_client
    async with provider.uow_factory() as uow:
        client = await uow.clients.get(client_id) if client_id and len(client_id) <= 64 else None
        if redirect and (client is None or redirect not in client.post_logout_redirect_uris):
            return error_page(UntrustedRedirect("invalid_post_logout_redirect_uri",
                                                "post_logout_redirect_uri is not registered for this client"))
        session = await find_session(uow, request.cookies.get(SESSION_COOKIE))
        hint_matches = (hint_claims is not None and client is not None and session is not None
                        and subject_for(client, session.resident_id, provider.config.pairwise_secret)
                        == hint_claims.get("sub"))
        if session is not None and not confirmed and not hint_matches:
            return WireResponse(200, "", [("Cache-Control", "no-store")], page=("logout_confirm.html", {
                "id_token_hint": hint or "", "post_logout_redirect_uri": redirect or "", "state": state or "",
                "client_id": client_id or "", "client_name": client.name if client else ""}))
        frames = None
        if session is not None:
            frames = await frontchannel_frames(uow, provider.config, session.session_id)
            await end_session(uow, session)
            await uow.commit()
            provider.logout_recorded()
    return _logged_out(redirect, state, frames)


async def sign_out_everywhere_endpoint(provider, request: WireRequest) -> WireResponse:
    """POST /logout/everywhere: ends every session of the signed-in resident. Every session's
    back-channel clients are told by the sender; this browser's own session's front-channel
    clients are framed on the page, as at RP-initiated logout (Front-Channel Logout 1.0 s. 3:
    the other sessions' browsers are not here to load them)."""
    frames = None
    async with provider.uow_factory() as uow:
        session = await find_session(uow, request.cookies.get(SESSION_COOKIE))
        if session is not None:
            frames = await frontchannel_frames(uow, provider.config, session.session_id)
            await sign_out_everywhere(uow, session.resident_id)
            await uow.commit()
            provider.logout_recorded()
    return _logged_out(None, None, frames)
