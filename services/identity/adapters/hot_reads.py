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

import datetime as dt
import json

from services.common.reads import ChangeFeed, GroupedLookup, NotifiedCache, PointReads, json_list
from services.identity.domain.clients import OAuthClient
from services.identity.domain.passkeys import RESIDENT
from services.identity.oidc.records import Grant, SignInState, SigningIn, SsoSession
from services.identity.oidc.tokens import family_of, secret_hash

# Every column: the authorization endpoint and the login pages read the client from here too
# (issue 24), so the client must be the one ``SqlClientRepository.get`` returns.
_CLIENT = (
    "SELECT client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types, scopes,"
    " audiences, subject_type, sector_identifier, id_token_signed_response_alg,"
    " token_endpoint_auth_method, is_city_client, purposes, disabled, jwks, jwks_uri,"
    " dpop_bound_access_tokens, created_at, backchannel_logout_uri, frontchannel_logout_uri,"
    " require_pushed_authorization_requests, accepts_mandates, staff_directory_issuer,"
    " staff_directory_jwks, staff_directory_jwks_uri"
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


# The sign-in state of an authorization request (issue 24): the browser's session with its
# resident in one statement, then the resident's current grant to the client. Never cached:
# a session ended or a grant withdrawn elsewhere counts at the next request.
_SIGN_IN = (
    "SELECT s.session_id, s.secret_hash, s.resident_id, s.auth_time, s.amr, s.acr, s.created_at, s.expires_at,"
    " s.ended_at, r.resident_id, r.level, r.disabled, r.totp_secret_encrypted IS NOT NULL,"
    " EXISTS (SELECT 1 FROM passkeys p WHERE p.owner_kind = :kind AND p.owner_id = s.resident_id)"
    " FROM sso_sessions s LEFT JOIN residents r ON r.resident_id = s.resident_id WHERE s.secret_hash = :hash")
_GRANT = (
    "SELECT grant_id, resident_id, client_id, scopes, scopes_refused, purposes_accepted, purposes_refused,"
    " purpose_categories, created_at, withdrawn_at FROM oauth_grants"
    " WHERE resident_id = :resident AND client_id = :client AND withdrawn_at IS NULL"
    " ORDER BY created_at DESC LIMIT 1")

CLIENTS_CHANGED = "mtlid_clients_changed"   # migration 0003's channel


def _json_object(value):
    """A JSON object column (text through asyncpg and sqlite3), or None when empty."""
    return (json.loads(value) if isinstance(value, (str, bytes)) else value) or None


def _utc(value) -> dt.datetime | None:
    """A timestamp column: aware datetime (asyncpg) or ISO text (sqlite3), in UTC."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


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
         dpop_bound, created_at, backchannel, frontchannel, require_par, accepts_mandates, staff_issuer,
         staff_jwks, staff_jwks_uri) = row
        return OAuthClient(
            client_id=cid, name=name, secret_hash=secret_hash, redirect_uris=json_list(redirect_uris),
            post_logout_redirect_uris=json_list(post_logout), grant_types=json_list(grant_types), scopes=json_list(scopes),
            audiences=json_list(audiences), subject_type=subject_type, sector_identifier=sector or "",
            id_token_signed_response_alg=id_alg or "ES256", token_endpoint_auth_method=auth_method,
            is_city_client=bool(is_city), purposes=json_list(purposes), disabled=bool(disabled),
            jwks=_json_object(jwks), jwks_uri=jwks_uri or "",
            dpop_bound_access_tokens=bool(dpop_bound), created_at=_utc(created_at),
            backchannel_logout_uri=backchannel or "", frontchannel_logout_uri=frontchannel or "",
            require_pushed_authorization_requests=bool(require_par), accepts_mandates=bool(accepts_mandates),
            staff_directory_issuer=staff_issuer or "", staff_directory_jwks=_json_object(staff_jwks),
            staff_directory_jwks_uri=staff_jwks_uri or "")

    async def sign_in_state(self, session_secret: str | None, client_id: str, now: dt.datetime,
                            *, with_grant: bool = True) -> SignInState:
        """``ports.HotReads.sign_in_state`` in at most two statements, outside any transaction
        (each statement sees the database as committed when it runs, as READ COMMITTED would)."""
        if not session_secret or len(session_secret) > 200:
            return SignInState()
        row = await self._reads.one(_SIGN_IN, {"hash": secret_hash(session_secret), "kind": RESIDENT})
        if row is None:
            return SignInState()
        (session_id, hashed, resident_id, auth_time, amr, acr, created_at, expires_at, ended_at,
         found, level, disabled, has_totp, has_passkey) = row
        session = SsoSession(session_id=session_id, secret_hash=hashed, resident_id=resident_id,
                             auth_time=int(auth_time), amr=json_list(amr), acr=acr, created_at=_utc(created_at),
                             expires_at=_utc(expires_at), ended_at=_utc(ended_at))
        if not session.is_active(now):
            return SignInState()
        if found is None:
            return SignInState(session)
        resident = SigningIn(resident_id, int(level), bool(disabled), bool(has_totp), bool(has_passkey))
        grant = None
        if with_grant:
            grant_row = await self._reads.one(_GRANT, {"resident": resident_id, "client": client_id})
            if grant_row is not None:
                (grant_id, g_resident, g_client, scopes, scopes_refused, accepted, refused, categories,
                 g_created, withdrawn) = grant_row
                grant = Grant(grant_id=grant_id, resident_id=g_resident, client_id=g_client, scopes=json_list(scopes),
                              scopes_refused=json_list(scopes_refused), purposes_accepted=json_list(accepted),
                              purposes_refused=json_list(refused), created_at=_utc(g_created),
                              withdrawn_at=_utc(withdrawn),
                              purpose_categories={p: tuple(c) for p, c in (_json_object(categories) or {}).items()})
        return SignInState(session, resident, grant)

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
