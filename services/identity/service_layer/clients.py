"""The client registry (RFC 7591 metadata, registered by operators, not dynamically)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt

from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.identity.domain.clients import (SECRET_METHODS, OAuthClient, hash_client_secret, new_client_secret,
                                              validate_client)
from services.identity.domain.errors import Conflict
from services.identity.domain.events import ClientRegistered

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
