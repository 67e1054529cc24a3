"""Accounts' calls to consent and identity: one channel per service for the life of the
process, the service's own OAuth 2.0 client-credentials token (RFC 6749 s. 4.4) as a bearer
token (RFC 6750 s. 2.1), and the request id of the call being served.

- **Channel**: opened once in ``app.build`` and reused by every call (HTTP/2 multiplexes the
  concurrent ones); closed when the runtime stops.
- **Token**: ``ClientCredentialsTokens`` fetches one per audience and reuses it until 30 s
  before it expires, concurrent callers sharing one fetch. The ``authorization`` entry built
  from it is kept and rebuilt only when the token changes.
- **Per-call metadata**: a tuple of the kept ``authorization`` entry and the request id,
  passed to the stub. ``services.common.grpc.client.make_channel`` does the same through a
  client interceptor, and grpc.aio then runs every call as an ``InterceptedUnaryUnaryCall``
  (one more call object and task) after rebuilding a ``Metadata`` and ``ClientCallDetails``:
  3–4 % of the service's CPU per release in the issue 8 profiles, for two calls. When this
  process exports spans, the channel is ``make_channel``'s after all: OpenTelemetry's client
  interceptors (and the W3C ``traceparent`` they send) need the interception.
"""

from __future__ import annotations

import grpc

from services.common.grpc.client import CHANNEL_OPTIONS, TokenProvider, make_channel
from services.common.grpc.interceptors import REQUEST_ID_KEY, request_id_var


class OutgoingCalls:
    """A channel to one service and the metadata of each call made on it."""

    def __init__(self, target: str, tokens: TokenProvider | None, *, telemetry: bool | None = None) -> None:
        if telemetry is None:
            from services.common.telemetry import exporting

            telemetry = exporting()
        # Deadlines: every stub call of accounts' gateways passes its own ``timeout``.
        self.channel: grpc.aio.Channel = (make_channel(target, telemetry=True) if telemetry
                                          else grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS))
        self._tokens = tokens
        self._token: str | None = None
        self._authorization: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:  # never show the token
        return "OutgoingCalls()"

    async def metadata(self) -> tuple[tuple[str, str], ...]:
        """``authorization`` (when this service has credentials; without, the callee refuses
        and the caller fails closed) and ``x-request-id`` (the call being served, if any)."""
        if self._tokens is not None:
            token = await self._tokens()
            if token != self._token:
                self._token, self._authorization = token, (("authorization", f"Bearer {token}"),)
        request_id = request_id_var.get()
        if request_id:
            return (*self._authorization, (REQUEST_ID_KEY, request_id))
        return self._authorization

    async def close(self) -> None:
        await self.channel.close()

