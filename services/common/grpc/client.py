"""Calling another service: a channel that adds the bearer token, trace context, the
request id and a default deadline; OAuth 2.0 client-credentials tokens; rich error details.

    channel = make_channel(settings.grpc_target("consent"),
                           token_provider=ClientCredentialsTokens(token_url, client_id, secret,
                                                                  scope="consent:broker",
                                                                  audience="urn:mtlid:consent"))
    stub = consent_pb2_grpc.ConsentServiceStub(channel)
"""

from __future__ import annotations

import json

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
import httpx
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common.errors import Unavailable
from services.common.grpc.interceptors import REQUEST_ID_KEY, request_id_var

DEFAULT_DEADLINE_SECONDS = 5.0
TokenProvider = Callable[[], Awaitable[str]]

CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    # Within the server's min_recv_ping_interval (10 s) so the server never strikes us out.
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    # One HTTP/2 connection per resolved address, calls spread over them: with a name that
    # resolves to every replica (a headless Service, deploy/k8s), each replica takes its share;
    # with a single address nothing changes. Servers end connections after 5 minutes
    # (server.SERVER_OPTIONS max_connection_age), so new replicas are found by re-resolution.
    ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
)


class _CallDecorator:
    """Adds ``authorization``, ``x-request-id`` (the one of the call being served, so a
    request can be followed across services) and a default deadline."""

    def __init__(self, token_provider: TokenProvider | None, default_deadline: float) -> None:
        self._token_provider = token_provider
        self._default_deadline = default_deadline

    async def decorate(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        if self._token_provider is not None and "authorization" not in metadata:
            metadata["authorization"] = f"Bearer {await self._token_provider()}"
        request_id = request_id_var.get()
        if request_id and REQUEST_ID_KEY not in metadata:
            metadata[REQUEST_ID_KEY] = request_id
        timeout = details.timeout if details.timeout is not None else self._default_deadline
        return grpc.aio.ClientCallDetails(details.method, timeout, metadata, details.credentials,
                                          details.wait_for_ready)


# grpc.aio files each interceptor under its first matching kind only: one class per kind.
class _UnaryUnaryDecorator(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, decorator: _CallDecorator) -> None:
        self._decorator = decorator

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(await self._decorator.decorate(client_call_details), request)


class _UnaryStreamDecorator(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, decorator: _CallDecorator) -> None:
        self._decorator = decorator

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(await self._decorator.decorate(client_call_details), request)


class _StreamUnaryDecorator(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, decorator: _CallDecorator) -> None:
        self._decorator = decorator

    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return await continuation(await self._decorator.decorate(client_call_details), request_iterator)


class _StreamStreamDecorator(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, decorator: _CallDecorator) -> None:
        self._decorator = decorator

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return await continuation(await self._decorator.decorate(client_call_details), request_iterator)


def make_channel(target: str, *, token_provider: TokenProvider | None = None,
                 default_deadline: float = DEFAULT_DEADLINE_SECONDS,
                 credentials: grpc.ChannelCredentials | None = None,
                 telemetry: bool | None = None, tracer_provider: Any = None) -> grpc.aio.Channel:
    """An aio channel to ``target``; TLS when ``credentials`` are given (else plaintext, as
    inside the cluster's mesh or on loopback). ``telemetry`` None: client spans (and the W3C
    ``traceparent`` they send) only when this process exports spans or ``tracer_provider`` is
    given (see ``services.common.telemetry``)."""
    if telemetry is None:
        from services.common.telemetry import exporting

        telemetry = tracer_provider is not None or exporting()
    decorator = _CallDecorator(token_provider, default_deadline)
    interceptors: list[Any] = [_UnaryUnaryDecorator(decorator), _UnaryStreamDecorator(decorator),
                               _StreamUnaryDecorator(decorator), _StreamStreamDecorator(decorator)]
    if telemetry:
        from opentelemetry.instrumentation.grpc import aio_client_interceptors

        interceptors += aio_client_interceptors(tracer_provider=tracer_provider)
    if credentials is not None:
        return grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS,
                                       interceptors=interceptors)
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=interceptors)


class StaticToken:
    """A fixed token (tests)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def __call__(self) -> str:
        return self._token


class ClientCredentialsTokens:
    """Access tokens from the OAuth 2.0 client-credentials grant (RFC 6749 s.4.4), for one
    audience (``resource``, RFC 8707 s.2), cached until shortly before they expire.

    The client authenticates with HTTP Basic (RFC 6749 s.2.3.1, id and secret form-encoded
    first). Concurrent callers share one token request.
    """

    REFRESH_MARGIN_SECONDS = 30.0

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str,
                 audience: str, *, timeout: float = 5.0, client: httpx.AsyncClient | None = None) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self.audience = audience
        self._timeout = timeout
        self._client = client
        self._token: str | None = None
        self._expires_at = 0.0  # monotonic
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:  # never show the secret or the token
        return f"ClientCredentialsTokens(client_id={self.client_id!r}, audience={self.audience!r})"

    async def __call__(self) -> str:
        if self._token is not None and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token is not None and time.monotonic() < self._expires_at:
                return self._token
            return await self._fetch()

    async def _fetch(self) -> str:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        auth = httpx.BasicAuth(_form_encode(self.client_id), _form_encode(self._secret))
        data = {"grant_type": "client_credentials", "scope": self.scope, "resource": self.audience}
        try:
            response = await self._client.post(self.token_url, data=data, auth=auth,
                                               headers={"accept": "application/json"})
        except httpx.HTTPError as error:
            raise Unavailable(f"token endpoint unreachable ({type(error).__name__})") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body.get("access_token"), str):
            error_code = body.get("error", "") if isinstance(body, dict) else ""
            raise Unavailable(f"token endpoint refused client {self.client_id}: "
                              f"HTTP {response.status_code} {error_code}".rstrip())
        started = time.monotonic()
        try:
            lifetime = float(body.get("expires_in", 300))
        except (TypeError, ValueError):
            lifetime = 300.0
        self._token = body["access_token"]
        self._expires_at = started + lifetime - min(self.REFRESH_MARGIN_SECONDS, lifetime / 2)
        return self._token

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _form_encode(value: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(value)


def rpc_error_details(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, dict[str, str], str | None]:
    """``(code, {field: description}, ErrorInfo reason or None)`` of a failed call."""
    violations: dict[str, str] = {}
    reason = None
    for key, value in error.trailing_metadata() or ():
        if key != rpc_status.GRPC_DETAILS_METADATA_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.update((v.field, v.description) for v in bad.field_violations)
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
    return error.code(), violations, reason


def retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    """The ``google.rpc.RetryInfo`` delay of a failed call, in seconds, or None."""
    for key, value in error.trailing_metadata() or ():
        if key != rpc_status.GRPC_DETAILS_METADATA_KEY:
            continue
        for detail in status_pb2.Status.FromString(value).details:
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                return info.retry_delay.ToMilliseconds() / 1000
    return None
