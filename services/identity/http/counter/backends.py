"""The console's calls to identity's and accounts' gRPC APIs, each with an agent token from
the token exchange (``web.agent_token``): the services' agent guard decides and journals,
exactly as for any counter system. A refusal comes back as ``CallRefused`` with the fields
(INVALID_ARGUMENT) or the reason (FAILED_PRECONDITION, NOT_FOUND), for the page to explain."""

from __future__ import annotations

import contextlib
import logging

import grpc
from starlette.requests import Request

from services.common.grpc.client import StaticToken, make_channel, rpc_error_details
from services.identity.http.account.web import _settings
from services.identity.http.counter.web import AgentTokenRefused, OnDuty, agent_token

log = logging.getLogger("services.identity.http.counter")
AUDIENCE = {"identity": "urn:mtlid:identity", "accounts": "urn:mtlid:accounts", "consent": "urn:mtlid:consent"}


class CallRefused(Exception):
    def __init__(self, code: str, violations: dict[str, str] | None = None, reason: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.violations = violations or {}
        self.reason = reason


def target(request: Request, service: str) -> str:
    """Where ``service``'s gRPC API answers; for identity, this very process (its bound port,
    which differs from the configured one when the port was chosen by the system)."""
    runtime = getattr(request.app.state, "runtime", None)
    if service == "identity" and runtime is not None and getattr(runtime, "bound_grpc_port", None):
        return f"127.0.0.1:{runtime.bound_grpc_port}"
    return _settings(request).grpc_target(service)


@contextlib.asynccontextmanager
async def agent_stub(request: Request, duty: OnDuty, service: str):
    """A stub for ``service`` whose calls carry this agent's token; gRPC errors become
    ``CallRefused``."""
    from montreal.accounts.v1 import accounts_pb2_grpc
    from montreal.consent.v1 import consent_pb2_grpc
    from montreal.identity.v1 import identity_pb2_grpc

    try:
        token = await agent_token(request, duty, AUDIENCE[service])
    except AgentTokenRefused as refused:
        raise CallRefused("AGENT_TOKEN_REFUSED", reason=refused.error) from None
    channel = make_channel(target(request, service), token_provider=StaticToken(token), default_deadline=10)
    stub = {"identity": identity_pb2_grpc.IdentityServiceStub, "accounts": accounts_pb2_grpc.AccountsServiceStub,
            "consent": consent_pb2_grpc.ConsentServiceStub}[service](channel)
    try:
        yield stub
    except grpc.aio.AioRpcError as error:
        code, violations, reason = rpc_error_details(error)
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            log.warning("counter backend unavailable", extra={"service": service, "code": code.name})
        raise CallRefused(code.name, violations, reason) from None
    finally:
        await channel.close()
