"""The OpenID provider's composition root: configuration, keys, storage, authentication.

Built once per process (``build_provider``) and handed to every endpoint function; the
endpoints are plain ``async def f(provider, WireRequest, ...) -> WireResponse``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from services.identity.oidc.releases import RecentReleases
from services.identity.oidc.client_assertion import RegisteredKeys
from services.identity.oidc.server import MtlidAuthorizationServer
from services.identity.oidc.tokens import OidcConfig, SigningKeyRing, family_of


class ResidentAuthenticator(Protocol):
    """CORE's authentication handlers, behind a narrow port (fakes in unit tests)."""

    async def password(self, email: str, password: str, remote_addr: str, session_id: str, *,
                       then: Callable[[Any, Any], Awaitable[None]] | None = None) -> Any:
        """An ``AuthenticatedResident``; raises CORE's ``LoginRefused``. ``then(uow, resident)``
        runs in the success's transaction, before it commits."""
        ...

    async def totp(self, resident_id: str, code: str, remote_addr: str, session_id: str) -> bool:
        """RFC 6238 check; raises ``LoginRefused("throttled")`` while throttled."""
        ...

    async def recovery_code(self, resident_id: str, code: str, remote_addr: str, session_id: str) -> bool:
        """A recovery code in place of the second factor (single use); throttled like ``totp``."""
        ...


class CoreAuthenticator:
    """``ResidentAuthenticator`` over ``services.identity.service_layer.authentication``."""

    def __init__(self, uow_factory: Callable[[], Any]) -> None:
        self.uow_factory = uow_factory

    async def password(self, email: str, password: str, remote_addr: str, session_id: str, *,
                       then: Callable[[Any, Any], Awaitable[None]] | None = None) -> Any:
        from services.identity.service_layer import authentication as auth

        return await auth.authenticate(auth.Authenticate(email=email, password=password, remote_addr=remote_addr,
                                                         session_id=session_id), self.uow_factory(), then)

    async def totp(self, resident_id: str, code: str, remote_addr: str, session_id: str) -> bool:
        from services.identity.service_layer import authentication as auth

        return await auth.verify_totp(auth.VerifyTotp(resident_id=resident_id, code=code, remote_addr=remote_addr,
                                                      session_id=session_id), self.uow_factory())

    async def recovery_code(self, resident_id: str, code: str, remote_addr: str, session_id: str) -> bool:
        from services.identity.service_layer import second_factor

        return await second_factor.use_recovery_code(second_factor.UseRecoveryCode(
            resident_id=resident_id, code=code, remote_addr=remote_addr, session_id=session_id), self.uow_factory())


class UnitOfWorkReads:
    """``HotReads`` through the unit of work: what unit tests' fake storage offers (the service
    uses ``adapters.hot_reads.IdentityHotReads``, one statement per read)."""

    def __init__(self, uow_factory: Callable[[], Any]) -> None:
        self.uow_factory = uow_factory

    async def client(self, client_id: str) -> Any | None:
        async with self.uow_factory() as uow:
            return await uow.clients.get(client_id)

    async def sign_in_state(self, session_secret: str | None, client_id: str, now, *, with_grant: bool = True):
        from services.identity.domain.passkeys import RESIDENT
        from services.identity.oidc.records import SignInState, SigningIn
        from services.identity.oidc.sessions import find_session

        async with self.uow_factory() as uow:
            session = await find_session(uow, session_secret, now)
            if session is None:
                return SignInState()
            resident = await uow.residents.get(session.resident_id)
            if resident is None:
                return SignInState(session)
            passkeys = getattr(uow, "passkeys", None)
            has_passkey = bool(passkeys is not None and await passkeys.of(RESIDENT, resident.resident_id))
            grant = await uow.grants.current(resident.resident_id, client_id) if with_grant else None
            return SignInState(session, SigningIn(resident.resident_id, int(resident.level), bool(resident.disabled),
                                                  bool(resident.has_totp), has_passkey), grant)

    async def token_revoked(self, jti: str, session_id: str | None = None) -> bool:
        family = family_of(jti)
        async with self.uow_factory() as uow:
            if await uow.revoked_tokens.is_revoked(jti) or (family and await uow.revoked_tokens.is_revoked(family)):
                return True
            if session_id is not None:
                session = await uow.sessions.get(session_id)
                return session is None or session.ended_at is not None
            return False


class UnitOfWorkSingleUse:
    """``ports.SingleUse`` through the unit of work: a transaction per record. What SQLite and
    unit tests' fake storage use (on PostgreSQL the service uses ``adapters.single_use``)."""

    def __init__(self, uow_factory: Callable[[], Any]) -> None:
        self.uow_factory = uow_factory

    async def dpop_proof(self, proof_key: str, expires_at) -> bool:
        async with self.uow_factory() as uow:
            first_use = await uow.dpop_proofs.use(proof_key, expires_at)
            await uow.commit()
        return first_use

    async def client_assertion(self, client_id: str, jti: str, expires_at) -> bool:
        async with self.uow_factory() as uow:
            first_use = await uow.client_assertions.use(client_id, jti, expires_at)
            await uow.commit()
        return first_use


@dataclasses.dataclass
class Provider:
    config: OidcConfig
    keys: SigningKeyRing
    uow_factory: Callable[[], Any]
    authenticator: ResidentAuthenticator
    #: ``ports.HotReads``; defaults to reads through the unit of work
    reads: Any = None
    #: userinfo/introspection reads recorded in the last window (``releases.py``)
    recent_releases: RecentReleases = dataclasses.field(default_factory=RecentReleases)
    #: ``ports.ConsentTerms``: the consent register's wording for the consent screen
    terms: Any = None
    #: ``ports.Mandates``: the consent register's mandates, for signing in on someone's behalf
    #: (issue 22); None: nobody signs in on behalf (the chooser is never shown)
    mandates: Any = None
    #: ``ports.Names``: the two people's names for an ID token on someone's behalf with
    #: ``profile`` (issue 22); None: such tokens carry no names
    names: Any = None
    #: called after a logout committed back-channel deliveries (wakes the sender); may be None
    on_logout: Callable[[], None] | None = None
    #: clients' key sets for private_key_jwt (``client_assertion.RegisteredKeys``)
    client_keys: Any = None
    #: the carte citoyenne's issuer (``card.issuance.CardIssuer``); None: not offered
    card: Any = None
    #: ``ports.SingleUse``: used DPoP proofs and client assertions; defaults to the unit of work
    single_use: Any = None
    server: MtlidAuthorizationServer = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.server = MtlidAuthorizationServer(self.config, self.keys)
        if self.reads is None:
            self.reads = UnitOfWorkReads(self.uow_factory)
        if self.single_use is None:
            self.single_use = UnitOfWorkSingleUse(self.uow_factory)
        if self.client_keys is None:
            from services.identity.adapters.client_keys import fetch_jwks  # the one network fetch

            self.client_keys = RegisteredKeys(fetch_jwks)

    def logout_recorded(self) -> None:
        if self.on_logout is not None:
            self.on_logout()

    async def refresh_keys(self) -> None:
        """Pick up a rotation made by another replica (``SigningKeys`` reloads every 60 s)."""
        is_stale = getattr(self.keys, "is_stale", None)
        if is_stale is not None and is_stale():
            await self.keys.reload(self.uow_factory())


def derive_key(master: bytes, purpose: str) -> bytes:
    """A separate key per use, from the key-encryption key (HKDF-like, one HMAC step)."""
    return hmac.new(master, b"mtlid/" + purpose.encode(), hashlib.sha256).digest()


def config_from_settings(settings: Any) -> OidcConfig:
    return OidcConfig(issuer=settings.issuer.rstrip("/"), pairwise_secret=settings.pairwise_secret,
                      interaction_key=derive_key(settings.key_encryption_key, "interaction"),
                      secure_cookies=settings.env != "development")
