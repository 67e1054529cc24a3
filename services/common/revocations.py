"""Revoked access tokens, as the services' own token verification learns them (issue 15).

The services verify RFC 9068 access tokens themselves (``grpc/auth.py``): signature, issuer,
audience, times, with no call to identity. A token can still be revoked before it expires —
a withdrawal or "end the connection" in Mon compte, a replayed code, a reused refresh token,
RFC 7009 revocation, sign out everywhere, an account closed, "this was not me". Identity
writes each revocation to its outbox as ``tokens_revoked {families[], jtis[], expires_at}``
(identifiers only, never a token), in the transaction that revokes.

Every replica must hear every revocation, so this is not a durable consumer (which would hand
each event to one replica only): like identity's ``key_rotated`` listener, each process
subscribes to the subject itself. At each connection and reconnection it reads back, from
identity's stream, the revocations published in the last token lifetime (an ephemeral
JetStream push consumer from that start time, filtered to this one subject), so a replica that starts — or reconnects
— after a revocation still refuses the token. Where that read-back is not allowed or fails,
the live subscription alone is kept and the failure is logged once.

A revocation is held until ``expires_at`` (when every token it names has expired anyway):
memory is bounded by the revocations of one token lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Iterable

log = logging.getLogger(__name__)

SUBJECT = "montreal.identity.v1.tokens_revoked"
IDENTITY_STREAM = "MTLID_IDENTITY"
#: how far back a (re)connecting process reads revocations: the longest access-token lifetime
#: (identity's ``ACCESS_TOKEN_TTL``, 600 s) plus clock skew
LOOKBACK_SECONDS = 720
#: longest a revocation is held, whatever ``expires_at`` says
MAX_HOLD_SECONDS = 24 * 3600


class RevokedTokens:
    """Token ids (``jti``) and grant families (a resident's ``jti`` is ``<family>:<random>``)
    that must be refused, each until its expiry (epoch seconds)."""

    def __init__(self, clock=time.time) -> None:
        self._until: dict[str, float] = {}
        self._clock = clock

    def __len__(self) -> int:
        return len(self._until)

    def add(self, ids: Iterable[str], until: float) -> None:
        until = min(until, self._clock() + MAX_HOLD_SECONDS)
        for token_id in ids:
            if isinstance(token_id, str) and token_id and until > self._until.get(token_id, 0.0):
                self._until[token_id] = until
        self._forget_expired()

    def contains(self, jti: str) -> bool:
        if not self._until:
            return False  # the common case: one dictionary check
        family, sep, _ = jti.partition(":")
        now = self._clock()
        for key in (jti, family) if sep else (jti,):
            until = self._until.get(key)
            if until is not None and until > now:
                return True
        return False

    def apply(self, payload: bytes) -> bool:
        """One ``tokens_revoked`` envelope (CloudEvents JSON); False if it is not one."""
        try:
            envelope = json.loads(payload)
            data = envelope["data"]
            until = dt.datetime.fromisoformat(str(data["expires_at"]).replace("Z", "+00:00")).timestamp()
            ids = [*(data.get("families") or ()), *(data.get("jtis") or ())]
        except (ValueError, KeyError, TypeError):
            return False
        self.add(ids, until)
        return True

    def _forget_expired(self) -> None:
        if len(self._until) < 1024:
            return
        now = self._clock()
        for key in [k for k, until in self._until.items() if until <= now]:
            del self._until[key]


def revocation_listener(runtime, revoked: RevokedTokens):
    """The runtime task: read back, then follow, ``tokens_revoked`` into ``revoked``."""

    async def token_revocation_listener(stop: asyncio.Event) -> None:
        connection = None
        subscription = None
        warned = False
        reconnects = 0
        while not stop.is_set():
            current = runtime.nats
            if current is not None and current is connection and current.stats.get("reconnects", 0) != reconnects:
                # nats-py reconnected on its own: what was published meanwhile was not heard
                reconnects = current.stats.get("reconnects", 0)
                with contextlib.suppress(Exception):
                    await _read_back(current, revoked)
            if current is not None and current is not connection:
                connection = current
                reconnects = current.stats.get("reconnects", 0)

                async def on_revoked(message) -> None:
                    if not revoked.apply(message.data):
                        log.warning("tokens_revoked event not understood; ignored")

                try:
                    # live first, then the read-back: nothing falls between the two
                    subscription = await connection.subscribe(SUBJECT, cb=on_revoked)
                    read = await _read_back(connection, revoked)
                    log.info("revocations read back", extra={"events": read})
                except Exception as error:  # noqa: BLE001 - live subscription kept; logged once
                    if not warned:
                        log.warning("revocations: read-back unavailable, following live only",
                                    extra={"error": type(error).__name__})
                        warned = True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    return token_revocation_listener


async def _read_back(connection, revoked: RevokedTokens, timeout: float = 5.0) -> int:
    """The revocations of the last ``LOOKBACK_SECONDS`` from identity's stream.

    A push consumer of its own, filtered to ``tokens_revoked`` and delivered to an inbox of
    this connection: the NATS permissions it needs (deploy/k8s/base/nats.yaml) are creating a
    consumer on that one subject and reading its own inbox — no right to pull from, or
    delete, any other consumer of identity's stream. No acknowledgement; the server forgets
    the consumer 30 s after this process stops listening."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    inbox = connection.new_inbox()
    done = asyncio.Event()
    received = 0
    expected: int | None = None

    async def on_message(message) -> None:
        nonlocal received
        revoked.apply(message.data)
        received += 1
        if expected is not None and received >= expected:
            done.set()

    subscription = await connection.subscribe(inbox, cb=on_message)
    try:
        start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=LOOKBACK_SECONDS)
        config = ConsumerConfig(name=f"revocations-{uuid.uuid4().hex}", filter_subject=SUBJECT, deliver_subject=inbox,
                                deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start,
                                ack_policy=AckPolicy.NONE, inactive_threshold=30.0, mem_storage=True)
        info = await connection.jetstream().add_consumer(IDENTITY_STREAM, config=config)
        expected = int(info.num_pending or 0)
        if received >= expected:
            return received
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(done.wait(), timeout)
        return received
    finally:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
