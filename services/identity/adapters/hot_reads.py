"""The identity service's hot-path reads, one statement each (``services.common.reads``).

Used where a request writes nothing and must still see the database as it is *now*:

- the client that presents itself at the token and introspection endpoints: a client
  disabled or given a new secret by ``mtlid client`` stops working at its next request, on
  every replica. On PostgreSQL clients are cached, and the cache forgets a client when the
  database announces its change (trigger + ``pg_notify``, migration 0003, delivered at
  commit: milliseconds); while that feed is not surely listening the cache is not used at
  all. On SQLite (one host) the read is a local primary-key lookup on every request;
- whether an access token was revoked (RFC 7009) or belongs to an SSO session that ended
  (logout, "sign out everywhere"), for introspection, userinfo and gRPC ``ValidateToken``.
  Never cached: a revoked token must fail at the next check, whichever replica answers. On
  PostgreSQL concurrent checks share one statement (``GroupedLookup``), each read after it
  was asked.
"""

from __future__ import annotations

import json
from typing import Any

from services.common.reads import ChangeFeed, GroupedLookup, PointReads
from services.identity.domain.clients import OAuthClient

_CLIENT = (
    "SELECT client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types, scopes,"
    " audiences, subject_type, sector_identifier, id_token_signed_response_alg,"
    " token_endpoint_auth_method, is_city_client, purposes, disabled"
    " FROM clients WHERE client_id = :client_id")
_REVOKED = "SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = :jti)"
_REVOKED_AMONG = "SELECT jti FROM revoked_access_tokens WHERE jti = ANY(:jtis::varchar[])"  # PostgreSQL
# A resident's token also dies with its session: revoked if the jti is listed, or if the
# session is missing or ended.
_REVOKED_OR_SESSION_ENDED = (
    "SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = :jti)"
    " OR NOT EXISTS (SELECT 1 FROM sso_sessions WHERE session_id = :sid AND ended_at IS NULL)")


def _list(value: Any) -> tuple[str, ...]:
    # PostgreSQL's json arrives as text through asyncpg; SQLite stores it as text too.
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    return tuple(value or ())


CLIENTS_CHANGED = "mtlid_clients_changed"   # migration 0003's channel
MAX_CACHED_CLIENTS = 10_000


class IdentityHotReads:
    def __init__(self, reads: PointReads) -> None:
        self._reads = reads
        self._clients: dict[str, OAuthClient] = {}
        # bumped on every change or gap: a read that started before it must not fill the cache
        self._generation = 0
        self.feed: ChangeFeed | None = None
        # PostgreSQL: concurrent revocation checks share one statement (SQLite: a local read each)
        self._revocations: GroupedLookup | None = None
        if reads.postgres_dsn is not None:
            self.feed = ChangeFeed(reads, CLIENTS_CHANGED, self._client_changed, self._forget_clients)
            self._revocations = GroupedLookup(self._revoked_among)

    async def client(self, client_id: str) -> OAuthClient | None:
        """The registered client (disabled ones included: the caller decides), or None."""
        feed = self.feed
        if feed is None or not feed.live:
            return await self._read_client(client_id)
        cached = self._clients.get(client_id)
        if cached is not None:
            return cached
        generation = self._generation
        client = await self._read_client(client_id)
        # unknown ids are not cached (anyone can make them up)
        if (client is not None and feed.live and generation == self._generation
                and len(self._clients) < MAX_CACHED_CLIENTS):
            self._clients[client_id] = client
        return client

    def _client_changed(self, client_id: str) -> None:
        self._generation += 1
        if client_id:
            self._clients.pop(client_id, None)
        else:
            self._clients.clear()

    def _forget_clients(self) -> None:
        self._generation += 1
        self._clients.clear()

    async def _read_client(self, client_id: str) -> OAuthClient | None:
        row = await self._reads.one(_CLIENT, {"client_id": client_id})
        if row is None:
            return None
        (cid, name, secret_hash, redirect_uris, post_logout, grant_types, scopes, audiences, subject_type,
         sector, id_alg, auth_method, is_city, purposes, disabled) = row
        return OAuthClient(
            client_id=cid, name=name, secret_hash=secret_hash, redirect_uris=_list(redirect_uris),
            post_logout_redirect_uris=_list(post_logout), grant_types=_list(grant_types), scopes=_list(scopes),
            audiences=_list(audiences), subject_type=subject_type, sector_identifier=sector or "",
            id_token_signed_response_alg=id_alg or "ES256", token_endpoint_auth_method=auth_method,
            is_city_client=bool(is_city), purposes=_list(purposes), disabled=bool(disabled))

    async def _revoked_among(self, jtis: list[str]) -> set[str]:
        rows = await self._reads.all(_REVOKED_AMONG, {"jtis": jtis})
        return {row[0] for row in rows}

    async def token_revoked(self, jti: str, session_id: str | None = None) -> bool:
        """RFC 7009: the ``jti`` is on the revocation list, or its SSO session ended."""
        if session_id is None and self._revocations is not None:
            return await self._revocations.contains(jti)
        if session_id is None:
            row = await self._reads.one(_REVOKED, {"jti": jti})
        else:
            row = await self._reads.one(_REVOKED_OR_SESSION_ENDED, {"jti": jti, "sid": session_id})
        return bool(row[0]) if row else True
