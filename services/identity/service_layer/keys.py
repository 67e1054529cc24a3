"""Signing keys: created on first start, encrypted at rest with the KEK, rotated on demand.

OIDC Core 10.1.1 and RFC 7517. See ``services.identity.domain.keys`` for the lifecycle:
``keys rotate`` makes the *next* key (already published in the JWKS) current, retires the
current one (published until every token it signed has expired) and publishes a new next.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from joserfc.jwk import ECKey, JWKRegistry, RSAKey

from services.common.errors import FailedPrecondition
from services.identity.adapters import crypto
from services.identity.domain.errors import Conflict
from services.identity.domain.events import KeyRotated
from services.identity.domain.keys import ALGORITHMS, NEXT_KEY_MIN_PUBLISHED, SigningKeyRecord

RELOAD_INTERVAL_SECONDS = 60.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_key_record(alg: str, state: str, kek: bytes, now: dt.datetime) -> SigningKeyRecord:
    """A fresh key pair; ``kid`` is the RFC 7638 thumbprint of the public key."""
    key = ECKey.generate_key("P-256", private=True) if alg == "ES256" else RSAKey.generate_key(2048, private=True)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    private = json.dumps(key.as_dict(private=True)).encode()
    return SigningKeyRecord(kid=kid, alg=alg, state=state, public_jwk=public,
                            private_key_encrypted=crypto.encrypt(kek, private, kid.encode()),
                            created_at=now, activated_at=now if state == "current" else None)


class SigningKeys:
    """The process's view of the signing keys; one shared instance, reloaded in place."""

    def __init__(self, records: list[SigningKeyRecord], kek: bytes) -> None:
        self._kek = kek
        self._apply(records)

    def _apply(self, records: list[SigningKeyRecord]) -> None:
        now = _utcnow()
        self._records = [r for r in records if r.is_published(now)]
        self._current: dict[str, tuple[str, Any]] = {}
        for record in self._records:
            if record.state == "current":
                private = crypto.decrypt(self._kek, record.private_key_encrypted, record.kid.encode())
                self._current[record.alg] = (record.kid, JWKRegistry.import_key(json.loads(private)))
        self._public = {r.kid: JWKRegistry.import_key(dict(r.public_jwk)) for r in self._records}
        self.loaded_at = time.monotonic()

    @classmethod
    async def load(cls, uow, kek: bytes) -> "SigningKeys":
        """Load the keys; on first start create a current and a next key per algorithm."""
        async with uow:
            records = await uow.signing_keys.all()
            await _ensure_keys(uow, records, kek)
            records = await uow.signing_keys.all()
        return cls(records, kek)

    async def reload(self, uow) -> None:
        async with uow:
            records = await uow.signing_keys.all()
        self._apply(records)

    def is_stale(self, max_age: float = RELOAD_INTERVAL_SECONDS) -> bool:
        return time.monotonic() - self.loaded_at > max_age

    def current(self, alg: str) -> tuple[str, Any]:
        """(kid, joserfc private key) to sign with."""
        try:
            return self._current[alg]
        except KeyError:
            raise LookupError(f"no current {alg} signing key") from None

    def public_key(self, kid: str | None) -> Any | None:
        """The published public key with this kid (current, next or retired-not-expired)."""
        return self._public.get(kid) if kid else None

    async def get_key(self, kid: str | None):
        """``JwksProvider`` protocol of services.common.grpc.auth: identity verifies the
        tokens of its own callers with its own keys, without fetching its own JWKS."""
        return self.public_key(kid)

    def jwks(self) -> dict:
        """RFC 7517 JWK Set of the public keys: next (before it signs), current, retired
        until its tokens expire."""
        return {"keys": [dict(r.public_jwk) for r in self._records]}

    def signing_since(self) -> dt.datetime | None:
        """When the oldest key now signing became current (the key-rotation alert's input)."""
        times = [r.activated_at or r.created_at for r in self._records if r.state == "current"]
        return min(times) if times else None

    def states(self) -> list[dict]:
        return [{"kid": r.kid, "alg": r.alg, "state": r.state,
                 "not_after": r.not_after.isoformat() if r.not_after else None} for r in self._records]


async def _ensure_keys(uow, records: list[SigningKeyRecord], kek: bytes) -> None:
    now = _utcnow()
    created: list[str] = []
    try:
        for alg in ALGORITHMS:
            states = {r.state for r in records if r.alg == alg}
            if "current" not in states:
                record = new_key_record(alg, "current", kek, now)
                await uow.signing_keys.add(record)
                created.append(record.kid)
            if "next" not in states:
                await uow.signing_keys.add(new_key_record(alg, "next", kek, now))
        if created:
            for kid in created:
                uow.add_event(KeyRotated(kid=kid))
        await uow.commit()
    except Conflict:
        # Another replica created them at the same instant; use its keys.
        await uow.rollback()


async def rotate_keys(uow, kek: bytes, *, now: dt.datetime | None = None, force: bool = False) -> list[dict]:
    """``keys rotate``: per algorithm, next → current, current → retired, new next.

    Refuses (FAILED_PRECONDITION) when the next key was published less than
    ``NEXT_KEY_MIN_PUBLISHED`` ago — relying parties might not have it cached yet — unless
    ``force``. Retired keys whose ``not_after`` has passed are deleted.
    """
    now = now or _utcnow()
    async with uow:
        records = await uow.signing_keys.all()
        await uow.signing_keys.delete_expired(now)
        result = []
        for alg in ALGORITHMS:
            current = next((r for r in records if r.alg == alg and r.state == "current"), None)
            upcoming = next((r for r in records if r.alg == alg and r.state == "next"), None)
            if upcoming is None:
                upcoming = new_key_record(alg, "next", kek, now)
                await uow.signing_keys.add(upcoming)
            elif not force and now - upcoming.created_at < NEXT_KEY_MIN_PUBLISHED:
                raise FailedPrecondition(
                    "NEXT_KEY_TOO_RECENT",
                    f"the next {alg} key was published less than "
                    f"{int(NEXT_KEY_MIN_PUBLISHED.total_seconds() // 60)} minutes ago; relying "
                    "parties may not have it yet (use --force to rotate anyway)")
            if current is not None:
                current.retire(now)
                await uow.signing_keys.save(current)
            upcoming.activate(now)
            await uow.signing_keys.save(upcoming)
            fresh = new_key_record(alg, "next", kek, now)
            await uow.signing_keys.add(fresh)
            uow.add_event(KeyRotated(kid=upcoming.kid))
            result.append({"alg": alg, "current": upcoming.kid, "next": fresh.kid,
                           "retired": current.kid if current else None,
                           "retired_not_after": current.not_after.isoformat() if current else None})
        await uow.commit()
    return result


class KeyRing:
    """The process-wide, lazily loaded ``SigningKeys`` (shared by gRPC, HTTP and tasks).

    Loaded (and created on first start) at the first use; reloaded every 60 s by
    ``refresh_forever`` and at once when a token names a kid we do not know yet (another
    replica rotated), at most once per ``RELOAD_INTERVAL_SECONDS / 6`` for unknown kids so
    made-up kids cannot hammer the database.
    """

    def __init__(self, uow_factory, kek: bytes) -> None:
        self._uow_factory = uow_factory
        self._kek = kek
        self._keys: SigningKeys | None = None
        self._lock = None
        self._last_forced = float("-inf")

    async def get(self) -> SigningKeys:
        import asyncio

        if self._lock is None:
            self._lock = asyncio.Lock()
        if self._keys is None:
            async with self._lock:
                if self._keys is None:
                    self._keys = await SigningKeys.load(self._uow_factory(), self._kek)
        elif self._keys.is_stale():
            async with self._lock:
                if self._keys.is_stale():
                    await self._keys.reload(self._uow_factory())
        return self._keys

    async def reload(self) -> SigningKeys:
        keys = await self.get()
        await keys.reload(self._uow_factory())
        return keys

    def public_key(self, kid: str | None):
        return self._keys.public_key(kid) if self._keys is not None else None

    async def get_key(self, kid: str | None):
        """``JwksProvider`` for services.common.grpc.auth.TokenVerifier."""
        keys = await self.get()
        key = keys.public_key(kid)
        if key is None and kid and time.monotonic() - self._last_forced > RELOAD_INTERVAL_SECONDS / 6:
            self._last_forced = time.monotonic()
            await keys.reload(self._uow_factory())
            key = keys.public_key(kid)
        return key

    async def refresh_forever(self, stop) -> None:
        """A runtime task: load at start (creating keys on first start), then every 60 s."""
        import asyncio
        import contextlib
        import logging

        while not stop.is_set():
            try:
                await self.reload()
            except Exception as error:  # keep serving with the keys we have
                logging.getLogger(__name__).warning("signing keys reload failed: %s", type(error).__name__)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), RELOAD_INTERVAL_SECONDS)
