"""The client registry (RFC 7591 metadata, registered by operators, not dynamically)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt

from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.identity.domain.clients import (SECRET_METHODS, OAuthClient, hash_client_secret, new_client_secret,
                                              validate_client)
from services.identity.domain.errors import Conflict
from services.identity.domain.events import ClientChanged, ClientRegistered

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


@dataclasses.dataclass(frozen=True)
class RegisterClient:
    """``client`` without a secret hash: a client authenticating with a secret
    (``client_secret_basic``/``_post``) gets a fresh one, returned once; ``private_key_jwt``
    and public clients get none."""

    client: OAuthClient
    allow_http_loopback: bool = True


async def register_client(cmd: RegisterClient, uow) -> tuple[OAuthClient, str | None]:
    client = cmd.client
    secret = None
    if client.token_endpoint_auth_method in SECRET_METHODS:
        secret = new_client_secret()
        client = dataclasses.replace(client, secret_hash=hash_client_secret(secret))
    else:
        client = dataclasses.replace(client, secret_hash=None)
    client = dataclasses.replace(client, created_at=dt.datetime.now(dt.timezone.utc))
    problems = validate_client(client, allow_http_loopback=cmd.allow_http_loopback)
    if problems:
        raise InvalidArgument.many(problems)
    async with uow:
        try:
            await uow.clients.add(client)
        except Conflict:
            raise AlreadyExists("CLIENT_EXISTS", f"a client with id {client.client_id} exists") from None
        uow.add_event(ClientRegistered(client_id=client.client_id))
        await uow.commit()
    return client, secret


@dataclasses.dataclass(frozen=True)
class RequirePrivateKeyJwt:
    """Require ``private_key_jwt`` (RFC 7523 s. 2.2; OIDC Core s. 9) of a registered confidential
    client: from then on it authenticates only with assertions signed by one of its public keys,
    registered here (``jwks``) or published at ``jwks_uri``; its secret is forgotten, so it cannot
    fall back to it (one registered method per client, OIDC Registration s. 2)."""

    client_id: str
    jwks: dict | None = None
    jwks_uri: str = ""
    allow_http_loopback: bool = True


async def require_private_key_jwt(cmd: RequirePrivateKeyJwt, uow) -> OAuthClient:
    async with uow:
        client = await uow.clients.get(cmd.client_id)
        if client is None:
            raise NotFound("client")
        if client.token_endpoint_auth_method == "none":
            # a public client (a browser or mobile app) cannot keep a private key either
            raise InvalidArgument("token_endpoint_auth_method",
                                  "a public client cannot be required to use private_key_jwt")
        changed = dataclasses.replace(client, token_endpoint_auth_method="private_key_jwt", secret_hash=None,
                                      jwks=cmd.jwks or None, jwks_uri=cmd.jwks_uri or "")
        problems = validate_client(changed, allow_http_loopback=cmd.allow_http_loopback)
        if problems:
            raise InvalidArgument.many(problems)
        await uow.clients.set_authentication(changed)
        await uow.commit()
    return changed


#: What an operator may change of a registered client (the registry's field names). Not the
#: id; not the subject type or sector (the identifiers residents have at the client would
#: change: OIDC Core s. 8.1 makes a pairwise ``sub`` stable); not the authentication method
#: or secret (``require_private_key_jwt``); not the creation time.
CHANGEABLE = frozenset({
    "name", "redirect_uris", "post_logout_redirect_uris", "grant_types", "scopes", "audiences", "purposes",
    "id_token_signed_response_alg", "jwks", "jwks_uri", "backchannel_logout_uri", "frontchannel_logout_uri",
    "require_pushed_authorization_requests", "dpop_bound_access_tokens", "disabled"})


@dataclasses.dataclass(frozen=True)
class UpdateClient:
    """Change the settings ``changes`` names (registry field → new value) of a registered client;
    the result is checked by the same rules as a registration."""

    client_id: str
    changes: dict
    allow_http_loopback: bool = True


async def update_client(cmd: UpdateClient, uow) -> OAuthClient:
    if not cmd.changes:
        raise InvalidArgument("update_mask", "name the fields to change")
    fixed = sorted(set(cmd.changes) - CHANGEABLE)
    if fixed:
        raise InvalidArgument("update_mask", f"{', '.join(fixed)} cannot be changed")
    async with uow:
        client = await uow.clients.get(cmd.client_id)
        if client is None:
            raise NotFound("client")
        changed = dataclasses.replace(client, **cmd.changes)
        problems = validate_client(changed, allow_http_loopback=cmd.allow_http_loopback)
        if problems:
            raise InvalidArgument.many(problems)
        await uow.clients.update_settings(changed)
        uow.add_event(ClientChanged(client_id=client.client_id, fields=tuple(sorted(cmd.changes))))
        await uow.commit()
    return changed


async def get_client(uow, client_id: str) -> OAuthClient:
    async with uow:
        client = await uow.clients.get(client_id)
    if client is None:
        raise NotFound("client")
    return client


def _page_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def _after(page_token: str) -> str:
    if not page_token:
        return ""
    try:
        after = base64.b64decode(page_token + "=" * (-len(page_token) % 4), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        after = ""
    if not after:
        raise InvalidArgument("page_token", "is not a token this service returned")
    return after


async def list_clients(uow, *, page_size: int = 0, page_token: str = "") -> tuple[list[OAuthClient], str]:
    if page_size < 0:
        raise InvalidArgument("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    after = _after(page_token)
    async with uow:
        clients = await uow.clients.list(after=after, limit=size + 1)
    more = len(clients) > size
    clients = clients[:size]
    return clients, (_page_token(clients[-1].client_id) if more else "")
