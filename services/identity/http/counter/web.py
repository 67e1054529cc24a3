"""What every counter console page shares: the signed-in agent (from the ``mtlid_counter``
cookie, never a resident's session), rendering, forms with CSRF, and the agent token the
console obtains by token exchange (RFC 8693) to act on residents' files.

A page that needs an agent answers with the sign-in page when there is no session, and
with the second-factor page when the session is not yet at level 3. Every page an agent
loads counts as activity (the 15-minute idle limit starts again).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.staff import AgentSession, StaffAgent
from services.identity.http.account.web import csrf_refused, first, form, page  # noqa: F401 - shared helpers
from services.identity.http.routes.common import provider
from services.identity.oidc.agent_sessions import (AGENT_COOKIE, SUBJECT_TOKEN_TYPE, find_agent_session,
                                                   mint_subject_token, seconds_left)
from services.identity.oidc.provider import derive_key
from services.identity.oidc.records import utcnow
from services.identity.oidc.token_exchange import AGENT_SCOPES
from services.identity.oidc.wire import WireRequest
from services.identity.service_layer.staff import CONSOLE_CLIENT_ID

log = logging.getLogger("services.identity.http.counter")
#: The console's own registration (``CONSOLE_CLIENT_ID``, made on first use,
#: ``ensure_console_client``): a confidential client with the token-exchange grant and the agent scopes.
CONSOLE_AUDIENCES = ("urn:mtlid:identity", "urn:mtlid:accounts", "urn:mtlid:consent")


@dataclass(frozen=True)
class OnDuty:
    """The agent behind the cookie, with a level-3 session."""

    agent: StaffAgent
    session: AgentSession
    minutes_left: int


async def on_duty(request: Request) -> OnDuty | AgentSession | None:
    """The agent at level 3 (activity recorded), the session still waiting for its second
    factor, or None (no session, or one that ended, expired or went idle)."""
    p = provider(request)
    now = utcnow()
    async with p.uow_factory() as uow:
        session = await find_agent_session(uow, request.cookies.get(AGENT_COOKIE))
        if session is None or session.problem(now) is not None:
            return None
        if session.level < LevelOfAssurance.VERIFIED_MFA:
            return session
        await uow.agent_sessions.touch(session.session_id, now)
        await uow.commit()
    session.last_seen_at = now
    return OnDuty(agent=session.agent, session=session, minutes_left=seconds_left(session, now) // 60)


def to_sign_in(request: Request, pending: AgentSession | None = None) -> RedirectResponse:
    target = "/counter/second-factor" if pending is not None else "/counter/login"
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


def console_page(request: Request, template: str, duty: OnDuty, context: dict, status: int = 200) -> Response:
    return page(request, template, {"duty": duty, "agent": duty.agent, **context}, status)


class AgentTokenRefused(Exception):
    """The token endpoint refused the exchange (the session ended, went idle, …)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


async def agent_token(request: Request, duty: OnDuty, resource: str) -> str:
    """An access token for ``resource`` carrying ``act.sub`` = this agent: the console, a
    registered client like any counter system, exchanges the agent's session token at the
    token endpoint (in process: the same function ``POST /token`` runs)."""
    from services.identity.oidc.token import token_endpoint

    p = provider(request)
    secret = await _console_secret(request)
    basic = base64.b64encode(f"{CONSOLE_CLIENT_ID}:{secret}".encode()).decode()
    wire = WireRequest(method="POST", path="/token", headers={"authorization": "Basic " + basic},
                       form={"grant_type": ["urn:ietf:params:oauth:grant-type:token-exchange"],
                             "subject_token": [mint_subject_token(p.keys, p.config, duty.session)],
                             "subject_token_type": [SUBJECT_TOKEN_TYPE], "resource": [resource]},
                       remote_addr=request.client.host if request.client else "")
    response = await token_endpoint(p, wire)
    body = json.loads(response.body_bytes() or b"{}")
    if response.status != 200:
        raise AgentTokenRefused(body.get("error", "server_error"), body.get("error_description", ""))
    return body["access_token"]


async def _console_secret(request: Request) -> str:
    """The console's client secret: derived from the provider's key material (so every
    replica knows it without sharing a file); the client is registered on first use."""
    state = request.app.state
    secret = getattr(state, "counter_client_secret", None)
    if secret is None:
        p = provider(request)
        secret = base64.urlsafe_b64encode(derive_key(p.config.interaction_key, "counter-console")).decode().rstrip("=")
        await ensure_console_client(p.uow_factory, secret)
        state.counter_client_secret = secret
    return secret


async def ensure_console_client(uow_factory, secret: str) -> None:
    """Register the console (idempotent; two replicas racing insert the same row)."""
    from services.identity.domain.clients import TOKEN_EXCHANGE, OAuthClient, hash_client_secret
    from services.identity.domain.errors import Conflict

    async with uow_factory() as uow:
        existing = await uow.clients.get(CONSOLE_CLIENT_ID)
        if existing is not None:
            if not existing.check_secret(secret):
                await uow.clients.set_secret_hash(CONSOLE_CLIENT_ID, hash_client_secret(secret))
                await uow.commit()
            return
        client = OAuthClient(client_id=CONSOLE_CLIENT_ID, name="Console du comptoir / Counter console",
                             secret_hash=hash_client_secret(secret), grant_types=(TOKEN_EXCHANGE,),
                             scopes=AGENT_SCOPES, audiences=CONSOLE_AUDIENCES, subject_type="public",
                             is_city_client=True, created_at=utcnow())
        try:
            await uow.clients.add(client)
            await uow.commit()
        except Conflict:
            pass
