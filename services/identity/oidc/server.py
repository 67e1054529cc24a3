"""authlib's ``AuthorizationServer`` on a framework-neutral request, over an async database.

Design (why it looks like this): authlib's core is synchronous and its grants call storage
methods (``query_authorization_code``, ``authenticate_refresh_token``, ``save_token`` ...) in
the middle of their validation. Our storage is an async unit of work. So an endpoint runs in
three steps (see ``token.py``):

1. **prefetch** (async): read everything the grant may ask for — the client named by the
   request, the code or refresh token by hash, the resident — into a
   :class:`TokenRequestState` attached to the request;
2. **compute** (sync, authlib): client authentication, grant validation, PKCE, token minting;
   storage methods answer from the prefetched state and *record* their writes in it;
3. **apply** (async): perform the recorded writes through the unit of work (atomic
   single-use of codes, rotation of refresh tokens), add the events, commit — or roll back
   and answer ``invalid_grant`` if a concurrent request won the race.

The server object holds configuration only; all per-request state lives on the request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, JsonRequest, OAuth2Request
from authlib.oauth2.rfc6749.authenticate_client import ClientAuthentication

from services.identity.oidc import client_assertion
from services.identity.oidc.claims import claims_for_scope
from services.identity.oidc.clients import ClientView
from services.identity.oidc.records import AuthorizationCode, RefreshToken, RefreshTokenState, utcnow
from services.identity.oidc.tokens import (
    OidcConfig, SigningKeyRing, family_jti, mint_access_token, new_id, new_secret, secret_hash,
)
from services.identity.oidc.wire import WireRequest, WireResponse

log = logging.getLogger(__name__)

RESIDENT_TOKEN_AUDIENCE = "urn:mtlid:identity"


class HeaderMap(dict):
    """Case-insensitive header lookup (authlib asks for ``Authorization``)."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(str(key).lower())


class _Payload:
    def __init__(self, source: dict[str, list[str]]) -> None:
        self.datalist = {k: list(v) for k, v in source.items()}
        self.data = {k: v[0] for k, v in source.items() if v}

    client_id = property(lambda self: self.data.get("client_id"))
    grant_type = property(lambda self: self.data.get("grant_type"))
    redirect_uri = property(lambda self: self.data.get("redirect_uri"))
    scope = property(lambda self: self.data.get("scope"))
    state = property(lambda self: self.data.get("state"))

    @property
    def response_type(self) -> str | None:
        return self.data.get("response_type")


@dataclasses.dataclass
class TokenOwner:
    """The resident a token is issued for, as this client may see them (OIDC Core s. 8)."""

    resident_id: str
    subject: str
    session_id: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    resident: Any = None
    #: Issue 22, on someone's behalf: ``resident_id``/``subject`` are the represented
    #: resident's; ``acting`` is the RFC 8693 s. 4.1 ``act`` claim naming the mandatary
    #: (pairwise for this client); ``authorization_details`` the mandate (RFC 9396).
    acting: dict[str, Any] | None = None
    authorization_details: list | None = None
    #: On someone's behalf: the mandatary's resident id and the mandate (the releases' records)
    mandatary_id: str | None = None
    mandate_id: str | None = None
    #: On someone's behalf, read only for a client that accepts mandates and was granted
    #: ``profile`` (``token.owner_for``): the represented resident's names and the
    #: mandatary's, for the ID token alone (never the access token); empty otherwise.
    represented_names: dict[str, str] = dataclasses.field(default_factory=dict)
    mandatary_names: dict[str, str] = dataclasses.field(default_factory=dict)

    def get_user_id(self) -> str:
        return self.subject

    def claims(self, scope: str) -> dict[str, Any]:
        if self.acting is not None:
            # On someone's behalf the ID token says who is represented and who acts, and the
            # mandate; with ``profile`` at a client that accepts mandates, both people's names
            # (OIDC Core s. 5.1 for the represented resident; RFC 8693 s. 4.1 allows claims
            # about the actor inside ``act``, whose ``sub`` stays pairwise). Never their other
            # attributes (their services release those, under their consents; docs/mandates.md).
            act = {**dict(self.acting), **self.mandatary_names}
            return {"sub": self.subject, **self.represented_names, "act": act,
                    "authorization_details": list(self.authorization_details or [])}
        return claims_for_scope(self.resident, self.subject, scope)


@dataclasses.dataclass
class TokenRequestState:
    """What step 1 read and step 2 decided to write."""

    clients: dict[str, ClientView] = dataclasses.field(default_factory=dict)
    code: AuthorizationCode | None = None
    refresh_token: RefreshToken | None = None
    owner: TokenOwner | None = None
    audience: str | list[str] | None = None
    # token exchange (RFC 8693): the agent session the subject token names, or why it is unusable
    agent_session: Any = None
    subject_problem: str | None = None
    #: a borough's staff member its own directory vouched for (``staff_directory.py``), or why not
    external_agent: Any = None
    external_problem: str | None = None
    # token exchange for a mandate (issue 22): the token's owner (the represented resident,
    # ``acting`` the mandatary), or why it is refused (error code, description)
    mandate_exchange: bool = False
    mandate_owner: Any = None
    mandate_problem: tuple[str, str] | None = None
    #: the grant family of this login (the code's, or the presented refresh token's)
    family_id: str | None = None
    #: the client whose private_key_jwt assertion was verified for this request (client_assertion.py)
    assertion_client: ClientView | None = None
    #: the thumbprint of this request's DPoP proof key (RFC 9449, ``dpop.py``): tokens bind to it
    dpop_jkt: str | None = None
    # writes recorded by the grants, applied by token.py
    consume_code: str | None = None
    rotate_refresh: str | None = None
    new_refresh_tokens: list[RefreshToken] = dataclasses.field(default_factory=list)
    issued: dict[str, Any] = dataclasses.field(default_factory=dict)
    touch_agent_session: str | None = None


class MtlidOAuth2Request(OAuth2Request):
    def __init__(self, wire: WireRequest, uri: str, state: TokenRequestState) -> None:
        super().__init__(wire.method, uri, headers=HeaderMap({k.lower(): v for k, v in wire.headers.items()}))
        self.wire = wire
        self.payload = _Payload(wire.params())
        self.mtlid = state

    @property
    def args(self) -> dict[str, str]:
        return {k: v[0] for k, v in self.wire.query.items() if v}

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in self.wire.form.items() if v}


class MtlidAuthorizationServer(AuthorizationServer):
    """The token endpoint machinery; grants are registered, not subclassed into a tree."""

    def __init__(self, config: OidcConfig, keys: SigningKeyRing) -> None:
        super().__init__(scopes_supported=None)
        self.config = config
        self.keys = keys
        # imported here: the grants import this module for TokenRequestState
        from services.identity.oidc.authorization_code import (
            AuthorizationCodeGrant, IdTokenExtension, S256CodeChallenge,
        )
        from services.identity.oidc.client_credentials import ClientCredentialsGrant
        from services.identity.oidc.refresh_token import RefreshTokenGrant
        from services.identity.oidc.token_exchange import TokenExchangeGrant

        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), IdTokenExtension()])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(TokenExchangeGrant)

    # -- framework integration (authlib's abstract methods) --------------------------------
    def request_uri(self, path: str) -> str:
        """The endpoint's URI for authlib, which refuses plain http except on loopback
        (RFC 6749 s. 3.1: TLS). In development an http issuer on another host (a container
        name) is allowed; in production the issuer is https and nothing changes."""
        uri = self.config.endpoint(path)
        if not self.config.secure_cookies and uri.startswith("http://"):
            return "https://" + uri[len("http://"):]
        return uri

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        wire, state = request
        return MtlidOAuth2Request(wire, self.request_uri(wire.path), state)

    def create_json_request(self, request: Any) -> JsonRequest:
        wire, _state = request
        json_request = JsonRequest(wire.method, self.request_uri(wire.path), HeaderMap(wire.headers))
        json_request.payload = _Payload(wire.params())
        return json_request

    def handle_response(self, status: int, body: Any, headers: Any) -> WireResponse:
        return WireResponse.json(status, body, list(headers or []))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        client = kwargs.get("client")
        log.debug("oauth signal %s client=%s", name, getattr(client, "client_id", None))

    def query_client(self, client_id: str) -> Any:
        raise RuntimeError("clients are prefetched per request; use authenticate_client")

    def save_token(self, token: dict, request: OAuth2Request) -> None:
        # Access tokens are self-contained JWTs (nothing to store); refresh tokens were
        # recorded when minted (``issue_tokens``) and are written in step 3.
        request.mtlid.issued = {k: v for k, v in token.items() if k not in ("access_token", "refresh_token", "id_token")}

    def authenticate_client(self, request: OAuth2Request, methods: list[str], endpoint: str = "token") -> Any:
        state: TokenRequestState = request.mtlid
        authentication = ClientAuthentication(state.clients.get)
        # private_key_jwt was verified before (async: keys, jti), in token.check_assertion
        authentication.register(client_assertion.METHOD, client_assertion.authenticated)
        return authentication(request, methods, endpoint)

    # -- token minting shared by the grants -------------------------------------------------
    def issue_tokens(self, request: MtlidOAuth2Request, *, client: ClientView, owner: TokenOwner | None,
                     scope: str, include_refresh_token: bool, family_id: str | None = None,
                     family_expires_at: dt.datetime | None = None,
                     extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Mint the access token (RFC 9068) and, for residents, a refresh-token link.

        A rotated link inherits its family's expiry: rotation does not extend the absolute
        lifetime of a login (RFC 9700 s. 4.14.2, refresh tokens expire)."""
        state = request.mtlid
        jti = None
        if owner is None:
            subject = client.client_id  # RFC 9068 s. 2.2: the client itself
            audience = state.audience
            extra = dict(extra or {})
        else:
            subject = owner.subject
            # identity always (userinfo); a registered resource the client named (RFC 8707)
            audience = [RESIDENT_TOKEN_AUDIENCE, *[a for a in state.audience if a != RESIDENT_TOKEN_AUDIENCE]] \
                if isinstance(state.audience, list) and state.audience else RESIDENT_TOKEN_AUDIENCE
            extra = {"auth_time": owner.auth_time, "acr": owner.acr, "amr": list(owner.amr),
                     "sid": owner.session_id}
            if owner.acting is not None:
                extra.update(act=dict(owner.acting), authorization_details=list(owner.authorization_details or []))
            family_id = state.family_id = family_id or state.family_id or new_id()
            jti = family_jti(family_id)
        if state.dpop_jkt:
            extra["cnf"] = {"jkt": state.dpop_jkt}  # RFC 9449 s. 6.1: only its key's holder may use it
        access_token, _claims = mint_access_token(self.keys, self.config, subject=subject,
                                                  client_id=client.client_id, audience=audience,
                                                  scope=scope, extra=extra, jti=jti)
        token: dict[str, Any] = {"token_type": "DPoP" if state.dpop_jkt else "Bearer", "access_token": access_token,
                                 "expires_in": self.config.access_token_ttl, "scope": scope}
        # No refresh token on someone's behalf: each use starts with a sign-in, decided again.
        if include_refresh_token and owner is not None and owner.acting is None:
            value = new_secret()
            now = utcnow()
            state.new_refresh_tokens.append(RefreshToken(
                token_hash=secret_hash(value), family_id=family_id, client_id=client.client_id,
                resident_id=owner.resident_id, session_id=owner.session_id, scope=scope,
                auth_time=owner.auth_time, acr=owner.acr, amr=tuple(owner.amr), issued_at=now,
                expires_at=family_expires_at or now + dt.timedelta(seconds=self.config.refresh_token_ttl),
                state=RefreshTokenState.ACTIVE,
                # RFC 9449 s. 5: a public client's refresh token is bound to its DPoP key (a
                # confidential client's already is to its authentication)
                dpop_jkt=state.dpop_jkt if client.is_public else None))
            token["refresh_token"] = value
        return token
