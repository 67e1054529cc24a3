"""OAuth 2.0 Token Exchange (RFC 8693) for counter agents.

A counter or borough system — a confidential client registered for the grant
``urn:ietf:params:oauth:grant-type:token-exchange`` and for an agent scope
(``identity:agent``, ``accounts:agent``, ``consent:agent``) — presents the agent's session token
(``agent_sessions.py``) as ``subject_token`` and receives an access token (RFC 9068) for
identity or accounts (``resource``, RFC 8707, or ``audience``, RFC 8693 s. 2.1) in which:

- ``sub`` is the client (the counter system, as in client credentials) and
  ``act: {"sub": <agent id>}`` the person operating it (RFC 8693 s. 4.1) — what the agent
  guard of every service requires; ``office`` is the agent's office, for the journal;
- ``acr`` is level 3 and ``auth_time`` the agent's second factor.

Checks, in order (each one error, RFC 6749 s. 5.2 and RFC 8693 s. 2.2.2):

1. the client is authenticated and registered for this grant — ``invalid_client`` /
   ``unauthorized_client``;
2. the client holds an agent scope — ``unauthorized_client``;
3. ``subject_token`` and ``subject_token_type`` are present, of our type — ``invalid_request``;
   a token from another issuer must come from the staff directory this client is registered
   with, and passes ``staff_directory.py``'s checks instead of 4-6 — ``invalid_request``;
4. the subject token verifies (signature, issuer, type, audience, expiry) — ``invalid_request``
   (RFC 8693 s. 2.2.2: an invalid or unacceptable subject token is ``invalid_request``);
5. its session is open, not idle for 15 minutes nor older than 8 hours, of an agent still
   active — ``invalid_request``;
6. its session is at level 3 (second factor) — ``invalid_request``;
7. ``requested_token_type``, when given, is an access token — ``invalid_request``;
8. the scopes asked are the client's agent scopes — ``invalid_scope``;
9. the target is one of the client's audiences — ``invalid_target``.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants

from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.clients import TOKEN_EXCHANGE
from services.identity.oidc.agent_sessions import SUBJECT_TOKEN_TYPE
from services.identity.oidc.errors import (AccessDenied, InvalidAuthorizationDetails, InvalidRequest, InvalidScope,
                                           InvalidTarget, UnauthorizedClient)
from services.identity.oidc.records import utcnow

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
AGENT_SCOPES = ("identity:agent", "accounts:agent", "consent:agent")

_SESSION_PROBLEMS = {
    "session_ended": "The agent's session has ended; the agent must sign in again.",
    "session_expired": "The agent's session has expired (8 hours at most); the agent must sign in again.",
    "session_idle": "The agent's session was idle for more than 15 minutes; the agent must sign in again.",
    "agent_disabled": "The agent's account is disabled.",
    "unknown_session": "The subject token names no session of an agent.",
}


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClient("The client is not registered for token exchange.")
        if self.request.mtlid.mandate_exchange:
            self._validate_mandate(client)
            return
        agent_scopes = [s for s in client.client.scopes if s in AGENT_SCOPES]
        if not agent_scopes:
            raise UnauthorizedClient("The client is not registered for an agent scope.")
        form = self.request.wire.form
        token_type = self.request.wire.first(form, "subject_token_type")
        if not self.request.wire.first(form, "subject_token"):
            raise InvalidRequest("The 'subject_token' parameter is missing.")
        if token_type != SUBJECT_TOKEN_TYPE:
            raise InvalidRequest(f"The 'subject_token_type' must be {SUBJECT_TOKEN_TYPE}.")
        if self.request.wire.first(form, "actor_token"):
            raise InvalidRequest("The 'actor_token' parameter is not supported: the agent is the subject token.")
        state = self.request.mtlid
        if state.external_problem is not None:
            raise InvalidRequest(state.external_problem)
        if state.external_agent is None:
            self._check_agent_session(state)
        requested = self.request.wire.first(form, "requested_token_type")
        if requested not in (None, "", ACCESS_TOKEN_TYPE):
            raise InvalidRequest(f"Only {ACCESS_TOKEN_TYPE} can be requested.")
        asked = (self.request.wire.first(form, "scope") or "").split()
        if asked and not set(asked) <= set(agent_scopes):
            raise InvalidScope("Only the client's agent scopes can be requested by token exchange.")
        self.request.scope = " ".join(asked or agent_scopes)
        self.request.client = client
        state.audience = self._audience(client)

    def _validate_mandate(self, client: Any) -> None:
        """Issue 22: on someone's behalf under a mandate (``token._mandate_exchange`` read it)."""
        form = self.request.wire.form
        if self.request.wire.first(form, "subject_token_type") != ACCESS_TOKEN_TYPE:
            raise InvalidRequest(f"For a mandate the 'subject_token_type' must be {ACCESS_TOKEN_TYPE}.")
        requested = self.request.wire.first(form, "requested_token_type")
        if requested not in (None, "", ACCESS_TOKEN_TYPE):
            raise InvalidRequest(f"Only {ACCESS_TOKEN_TYPE} can be requested.")
        problem = self.request.mtlid.mandate_problem
        if problem is not None:
            code, description = problem
            raise {"unauthorized_client": UnauthorizedClient, "access_denied": AccessDenied,
                   "invalid_authorization_details": InvalidAuthorizationDetails}.get(code, InvalidRequest)(description)
        self.request.scope = "openid"
        self.request.client = client

    @staticmethod
    def _check_agent_session(state: Any) -> None:
        if state.subject_problem is not None:
            raise InvalidRequest(f"The 'subject_token' is not valid ({state.subject_problem}).")
        session = state.agent_session
        if session is None:
            raise InvalidRequest(_SESSION_PROBLEMS["unknown_session"])
        problem = session.problem(utcnow())
        if problem is not None:
            raise InvalidRequest(_SESSION_PROBLEMS[problem])
        if session.level < LevelOfAssurance.VERIFIED_MFA:
            raise InvalidRequest("The agent's session is below level 3: the second factor is required.")

    def _audience(self, client: Any) -> str | list[str]:
        targets = [*self.request.wire.form.get("resource", []), *self.request.wire.form.get("audience", [])]
        audiences = tuple(client.client.audiences)
        if targets:
            if not set(targets) <= set(audiences):
                raise InvalidTarget("The requested resource or audience is not allowed for this client.")
            return targets[0] if len(set(targets)) == 1 else sorted(set(targets))
        if len(audiences) == 1:
            return audiences[0]
        raise InvalidTarget("Name the target with the 'resource' or 'audience' parameter.")

    def create_token_response(self) -> Any:
        owner = self.request.mtlid.mandate_owner
        if owner is not None:
            # for the represented resident, act naming the mandatary, the mandate; no refresh token
            token = self.server.issue_tokens(self.request, client=self.request.client, owner=owner,
                                             scope=self.request.scope, include_refresh_token=False)
            token["issued_token_type"] = ACCESS_TOKEN_TYPE  # RFC 8693 s. 2.2.1
            self.save_token(token)
            return 200, token, self.TOKEN_RESPONSE_HEADER
        external = self.request.mtlid.external_agent
        if external is not None:
            # a borough's staff member (staff_directory.py): act names them under the client's id
            extra = {"act": {"sub": external.agent_ref, "iss": external.issuer}, "office": external.office,
                     "acr": external.acr}
            if external.auth_time is not None:
                extra["auth_time"] = external.auth_time
            session = None
        else:
            session = self.request.mtlid.agent_session
            extra = {"act": {"sub": session.agent_id}, "office": session.agent.office,
                     "acr": session.level.acr, "auth_time": session.auth_time}
        token = self.server.issue_tokens(
            self.request, client=self.request.client, owner=None, scope=self.request.scope,
            include_refresh_token=False, extra=extra)
        token["issued_token_type"] = ACCESS_TOKEN_TYPE  # RFC 8693 s. 2.2.1
        if session is not None:
            self.request.mtlid.touch_agent_session = session.session_id
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
