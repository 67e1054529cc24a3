"""Pushed Authorization Requests (RFC 9126).

A client POSTs its authorization request to ``/par`` — authenticated like at the token
endpoint (s. 2.1) — and gets back a ``request_uri`` (``urn:ietf:params:oauth:request_uri:…``,
256 random bits) valid 90 seconds (s. 2.2, 201 Created). It then sends the browser to
``/authorize?client_id=…&request_uri=…``: the parameters come from the pushed request only
(s. 4), never from the URL, so nothing in the front channel can alter them or read them.

- The pushed request is checked by the same ordered table as any authorization request
  (``checks.py``): errors are JSON (s. 2.3), ``invalid_request`` for a bad client or
  redirect URI, the check's own error otherwise. ``request_uri`` inside it is refused.
- A ``request_uri`` is single use (the row is deleted by the first authorization request that
  presents it), bound to its client, and short-lived.
- A client registered with ``require_pushed_authorization_requests`` (s. 6) may not send
  its parameters in the URL: such a request is refused with ``invalid_request``.

Expanded parameters carry the internal marker ``PUSHED`` (set only here; an incoming request
carrying it has it removed) through the login and consent interaction, which is sealed.
"""

from __future__ import annotations

import datetime as dt

from services.identity.oidc.authorization_code import TOKEN_ENDPOINT_AUTH_METHODS
from services.identity.oidc.errors import InvalidRequest, OAuth2Error, UntrustedRedirect, error_response
from services.identity.oidc.records import utcnow
from services.identity.oidc.server import MtlidOAuth2Request, TokenRequestState
from services.identity.oidc.token import check_assertion, load_client, presented_client_id
from services.identity.oidc.tokens import new_secret, secret_hash
from services.identity.oidc.wire import WireRequest, WireResponse

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
TTL = 90
PUSHED = "mtlid_pushed"                      # internal marker, never taken from a request
CLIENT_AUTHENTICATION = ("client_secret", "client_assertion", "client_assertion_type")


def _error(error: OAuth2Error) -> WireResponse:
    return WireResponse.json(*error_response(error))


async def pushed_authorization_request_endpoint(provider, request: WireRequest) -> WireResponse:
    """POST /par (RFC 9126 s. 2)."""
    if request.method != "POST":
        return _error(InvalidRequest("POST only."))
    from services.identity.oidc.authorize import validated_context  # authorize imports this module

    state = TokenRequestState(clients=await load_client(provider.reads.client, presented_client_id(request)))
    await check_assertion(provider, request, state)
    oauth_request = MtlidOAuth2Request(request, provider.server.request_uri(request.path), state)
    try:
        client = provider.server.authenticate_client(oauth_request, TOKEN_ENDPOINT_AUTH_METHODS, "token")
    except OAuth2Error as error:
        return _error(error)
    params = {k: list(v) for k, v in request.form.items() if k not in CLIENT_AUTHENTICATION and k != PUSHED}
    if "request_uri" in params:
        return _error(InvalidRequest("'request_uri' cannot be pushed (RFC 9126 s. 2.1)."))
    if params.get("client_id", [client.client_id]) != [client.client_id]:
        return _error(InvalidRequest("'client_id' does not match the authenticated client."))
    params["client_id"] = [client.client_id]
    async with provider.uow_factory() as uow:
        try:
            await validated_context(provider, {**params, PUSHED: ["1"]})
        except UntrustedRedirect as error:
            return _error(InvalidRequest(error.description))
        except OAuth2Error as error:
            return _error(error)
        value = REQUEST_URI_PREFIX + new_secret()
        await uow.pushed_requests.add(secret_hash(value), client.client_id, params,
                                      utcnow() + dt.timedelta(seconds=TTL))
        await uow.commit()
    return WireResponse.json(201, {"request_uri": value, "expires_in": TTL})


async def expand(uow, params: dict[str, list[str]]) -> dict[str, list[str]]:
    """The parameters of an authorization request: as sent, or (with ``request_uri``) the
    pushed request's, marked ``PUSHED`` (RFC 9126 s. 4). Raises ``UntrustedRedirect`` (an
    error page: nothing trustworthy to redirect to) for an unknown, used, expired or foreign
    ``request_uri``."""
    params = {k: v for k, v in params.items() if k != PUSHED}
    uris = params.get("request_uri")
    if not uris or not uris[0].startswith(REQUEST_URI_PREFIX):
        return params
    client_ids = params.get("client_id") or []
    if len(uris) != 1 or len(client_ids) != 1 or len(uris[0]) > 200:
        raise UntrustedRedirect("invalid_request_uri", "request_uri and client_id must each be given once")
    found = await uow.pushed_requests.take(secret_hash(uris[0]))
    if found is None:
        raise UntrustedRedirect("invalid_request_uri", "request_uri is unknown, used or expired")
    client_id, pushed, expires_at = found
    if client_id != client_ids[0] or expires_at <= utcnow():
        raise UntrustedRedirect("invalid_request_uri", "request_uri is unknown, used or expired")
    return {**pushed, PUSHED: ["1"]}
