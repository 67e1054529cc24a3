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

from services.common.reads import ChangeFeed, GroupedLookup, NotifiedCache, PointReads, json_list
from services.identity.domain.clients import OAuthClient
from services.identity.oidc.tokens import family_of

_CLIENT = (
    "SELECT client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types, scopes,"
    " audiences, subject_type, sector_identifier, id_token_signed_response_alg,"
    " token_endpoint_auth_method, is_city_client, purposes, disabled, jwks, jwks_uri,"
    " dpop_bound_access_tokens"
    " FROM clients WHERE client_id = :client_id")
# A resident's access token is also revoked when its grant family is listed (``family_of``).
_REVOKED = "SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti IN (:jti, :family))"
_REVOKED_AMONG = "SELECT jti FROM revoked_access_tokens WHERE jti = ANY(:jtis::varchar[])"  # PostgreSQL
# ValidateTokens (issue 24): for a whole batch in one statement, the listed jtis and families
# ('j') and the sessions still open ('s') among those asked.
_REVOKED_OR_OPEN_PG = (
    "SELECT 'j', jti FROM revoked_access_tokens WHERE jti = ANY(:jtis::varchar[])"
    " UNION ALL SELECT 's', session_id FROM sso_sessions"
    " WHERE session_id = ANY(:sids::varchar[]) AND ended_at IS NULL")
_REVOKED_OR_OPEN_SQLITE = (
    "SELECT 'j', jti FROM revoked_access_tokens WHERE jti IN (SELECT value FROM json_each(:jtis))"
    " UNION ALL SELECT 's', session_id FROM sso_sessions"
    " WHERE session_id IN (SELECT value FROM json_each(:sids)) AND ended_at IS NULL")
# A resident's token also dies with its session: revoked if the jti is listed, or if the
# session is missing or ended.
_REVOKED_OR_SESSION_ENDED = (
    "SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti IN (:jti, :family))"
    " OR NOT EXISTS (SELECT 1 FROM sso_sessions WHERE session_id = :sid AND ended_at IS NULL)")


CLIENTS_CHANGED = "mtlid_clients_changed"   # migration 0003's channel


class IdentityHotReads:
    def __init__(self, reads: PointReads) -> None:
        self._reads = reads
        #: on PostgreSQL, cached while migration 0003's notifications are heard (``NotifiedCache``)
        self.clients = NotifiedCache(reads, CLIENTS_CHANGED, self._read_client)
        # PostgreSQL: concurrent revocation checks share one statement (SQLite: a local read each)
        self._revocations: GroupedLookup | None = None
        if reads.postgres_dsn is not None:
            self._revocations = GroupedLookup(self._revoked_among)

    @property
    def feed(self) -> ChangeFeed | None:
        """The clients' change feed (run by the service as a task); None on SQLite."""
        return self.clients.feed

    async def client(self, client_id: str) -> OAuthClient | None:
        """The registered client (disabled ones included: the caller decides), or None."""
        return await self.clients.get(client_id)

    async def _read_client(self, client_id: str) -> OAuthClient | None:
        row = await self._reads.one(_CLIENT, {"client_id": client_id})
        if row is None:
            return None
        (cid, name, secret_hash, redirect_uris, post_logout, grant_types, scopes, audiences, subject_type,
         sector, id_alg, auth_method, is_city, purposes, disabled, jwks, jwks_uri,
         dpop_bound) = row
        return OAuthClient(
            client_id=cid, name=name, secret_hash=secret_hash, redirect_uris=json_list(redirect_uris),
            post_logout_redirect_uris=json_list(post_logout), grant_types=json_list(grant_types), scopes=json_list(scopes),
            audiences=json_list(audiences), subject_type=subject_type, sector_identifier=sector or "",
            id_token_signed_response_alg=id_alg or "ES256", token_endpoint_auth_method=auth_method,
            is_city_client=bool(is_city), purposes=json_list(purposes), disabled=bool(disabled),
            jwks=(json.loads(jwks) if isinstance(jwks, str) else jwks) or None, jwks_uri=jwks_uri or "",
            dpop_bound_access_tokens=bool(dpop_bound))

    async def _revoked_among(self, jtis: list[str]) -> set[str]:
        rows = await self._reads.all(_REVOKED_AMONG, {"jtis": jtis})
        return {row[0] for row in rows}

    async def tokens_revoked(self, asked: list[tuple[str, str | None]]) -> list[bool]:
        """``token_revoked`` for each (jti, session id), in order, from one statement read
        after the call arrived (RFC 7009; never cached): ValidateTokens' batches."""
        if not asked:
            return []
        jtis = sorted({key for jti, _ in asked for key in (jti, family_of(jti) or jti)})
        sids = sorted({sid for _, sid in asked if sid is not None})
        if self._reads.postgres_dsn is not None:
            rows = await self._reads.all(_REVOKED_OR_OPEN_PG, {"jtis": jtis, "sids": sids})
        else:
            rows = await self._reads.all(_REVOKED_OR_OPEN_SQLITE, {"jtis": json.dumps(jtis), "sids": json.dumps(sids)})
        listed = {key for kind, key in rows if kind == "j"}
        open_sessions = {key for kind, key in rows if kind == "s"}
        return [jti in listed or (family_of(jti) or jti) in listed or (sid is not None and sid not in open_sessions)
                for jti, sid in asked]

    async def token_revoked(self, jti: str, session_id: str | None = None) -> bool:
        """RFC 7009: the ``jti`` or its grant family is on the revocation list, or its SSO session ended."""
        family = family_of(jti) or jti
        if session_id is None and self._revocations is not None:
            return await self._revocations.contains(jti) or (family != jti and await self._revocations.contains(family))
        if session_id is None:
            row = await self._reads.one(_REVOKED, {"jti": jti, "family": family})
        else:
            row = await self._reads.one(_REVOKED_OR_SESSION_ENDED, {"jti": jti, "family": family, "sid": session_id})
        return bool(row[0]) if row else True
