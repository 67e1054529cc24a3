"""What ``mtlid serve identity`` runs (``build(runtime)``, docs/foundation.md "Running a
service"): the gRPC API for borough systems and, through engineer OIDC's
``services.identity.http.app.add_http_front(runtime, context)``, the OpenID provider's HTTP
front. Both share one ``IdentityContext``: settings, a UoW factory, the key ring.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from montreal.identity.v1 import identity_pb2_grpc
from services.common.config import Settings
from services.common.grpc.auth import Principal, TokenRejected, TokenVerifier
from services.identity import metrics as _metrics  # noqa: F401 - counts sign-ins from committed events
from services.identity.adapters.hot_reads import IdentityHotReads
from services.identity.adapters.uow import IdentityUnitOfWork
from services.identity.entrypoints.grpc import METHOD_POLICIES, SERVICE, IdentityServicer
from services.identity.service_layer.keys import KeyRing
from services.identity.service_layer.maintenance import maintenance_task

log = logging.getLogger(__name__)
AUDIENCE = "urn:mtlid:identity"


@dataclass
class IdentityContext:
    settings: Settings
    uow_factory: Callable[[], IdentityUnitOfWork]
    keys: KeyRing
    session_factory: object = None
    # RFC 7009: access tokens revoked before they expire. Set by the OIDC side
    # (add_http_front), which owns the table of revoked jtis; None = no revocations.
    is_revoked: Callable[[str], Awaitable[bool]] | None = None
    # The same for many tokens in one read (ValidateTokens); None: ``is_revoked`` for each.
    are_revoked: Callable[[list[tuple[str, str | None]]], Awaitable[list[bool]]] | None = None
    #: ``adapters.hot_reads.IdentityHotReads``, shared by gRPC and the HTTP front
    reads: IdentityHotReads | None = None
    #: ``oidc.ports.SingleUse`` on PostgreSQL (``adapters.single_use``); None: the unit of work's
    single_use: object = None


class IdentityTokenVerifier:
    """Verifies callers' tokens with identity's own keys (no HTTP round trip to our own
    JWKS); a token we did not sign goes to the runtime's verifier (tests' minter, or a
    JWKS from configuration)."""

    def __init__(self, own: TokenVerifier, fallback: TokenVerifier | None) -> None:
        self._own = own
        self._fallback = fallback

    async def verify(self, token: str) -> Principal:
        try:
            return await self._own.verify(token)
        except TokenRejected as rejection:
            if self._fallback is None or rejection.reason not in ("UNKNOWN_KEY", "WRONG_ISSUER"):
                raise
        return await self._fallback.verify(token)


def make_context(runtime) -> IdentityContext:
    settings = runtime.settings
    uow_factory = lambda: IdentityUnitOfWork(runtime.session_factory,  # noqa: E731
                                             kek=settings.key_encryption_key, on_commit=runtime.on_commit,
                                             hand_over=runtime.hand_over)
    return IdentityContext(settings=settings, uow_factory=uow_factory,
                           keys=KeyRing(uow_factory, settings.key_encryption_key),
                           session_factory=runtime.session_factory)


def key_rotation_listener(runtime, keys: KeyRing):
    """Reload the keys as soon as any replica (or ``mtlid keys rotate``) publishes
    ``key_rotated``: a plain NATS subscription, so *every* replica hears it (a durable
    JetStream consumer would hand each event to one replica only). The 60 s reload and the
    reload on an unknown kid remain the safety net when NATS is away."""

    async def identity_key_rotation_listener(stop: asyncio.Event) -> None:
        while runtime.nats is None and not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
        if stop.is_set():
            return

        async def on_rotated(_message) -> None:
            try:
                await keys.reload()
            except Exception as error:  # the periodic reload will catch up
                log.warning("reload after key_rotated failed: %s", type(error).__name__)

        subscription = await runtime.nats.subscribe("montreal.identity.v1.key_rotated", cb=on_rotated)
        try:
            await stop.wait()
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    return identity_key_rotation_listener


def hot_reads(runtime) -> IdentityHotReads:
    """One statement per hot-path read (RFC 7009 revocation, clients), closed with the runtime."""
    hot = IdentityHotReads(runtime.point_reads())
    if hot.feed is not None:
        runtime.add_task(hot.feed.run)   # the client cache lives only while this listens
    return hot


def build(runtime) -> IdentityContext:
    context = make_context(runtime)
    context.reads = hot_reads(runtime)
    writes = runtime.point_writes()
    if writes is not None:
        from services.identity.adapters.single_use import PointSingleUse

        context.single_use = PointSingleUse(writes)
    # RFC 7009: a revoked jti, or a resident's token whose SSO session ended (logout, sign out
    # everywhere), is inactive; read fresh on every ValidateToken.
    context.is_revoked = context.reads.token_revoked
    context.are_revoked = context.reads.tokens_revoked
    runtime.identity = context  # for the HTTP front and tests: one key ring per process
    runtime.token_verifier = IdentityTokenVerifier(
        TokenVerifier(issuer=context.settings.issuer, audience=AUDIENCE, jwks_provider=context.keys),
        runtime.token_verifier)
    runtime.add_grpc(IdentityServicer(context), identity_pb2_grpc.add_IdentityServiceServicer_to_server,
                     SERVICE, METHOD_POLICIES)
    runtime.add_task(context.keys.refresh_forever)

    async def signing_key_age() -> float:
        since = (await context.keys.get()).signing_since()
        return (dt.datetime.now(dt.timezone.utc) - since).total_seconds() if since else 0.0

    runtime.add_gauge("mtlid.signing_key.age", signing_key_age, unit="s",
                      description="Age of the oldest token-signing key in use (rotate before the policy's limit)")
    runtime.add_task(key_rotation_listener(runtime, context.keys))
    runtime.add_task(maintenance_task(context.uow_factory, context.settings.closed_account_retention_days))
    # Issue 22: a minor turning 14 (consent's daily round) gets a notice at their address.
    from services.identity.entrypoints import events as identity_events
    runtime.add_consumer(durable="identity-consent", stream="MTLID_CONSENT",
                         subjects=list(identity_events.CONSENT_SUBJECTS), handler=identity_events.handle,
                         uow_factory=context.uow_factory)
    # ---- engineer OIDC: the HTTP front (OpenID provider, login/consent/account pages) ----
    # services/identity/http/app.py provides add_http_front(runtime, context): it adds its
    # server as a runtime task and may set context.is_revoked.
    try:
        http_app = importlib.import_module("services.identity.http.app")
    except ModuleNotFoundError as missing:
        if missing.name != "services.identity.http.app":
            raise
        log.warning("identity HTTP front not available (services.identity.http.app missing)")
    else:
        if len(inspect.signature(http_app.add_http_front).parameters) >= 2:
            http_app.add_http_front(runtime, context)
        else:
            http_app.add_http_front(runtime)
    return context
