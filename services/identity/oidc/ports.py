"""The storage the OpenID provider needs, as narrow interfaces (Ory Hydra's shape).

``adapters/oauth_repositories.py`` implements them on SQLAlchemy; unit tests use fakes.
The unit of work (``adapters/uow.py``'s ``OAuthUnitOfWork``) exposes one of each, plus CORE's
``residents`` and ``clients``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from services.identity.oidc.records import AuthorizationCode, Grant, RefreshToken, SignInState, SsoSession


class CodeStore(Protocol):
    async def add(self, code: AuthorizationCode) -> None: ...
    async def get(self, code_hash: str) -> AuthorizationCode | None: ...
    async def consume(self, code_hash: str, at: dt.datetime, family_id: str | None) -> bool:
        """Mark used if unused, atomically; False if it was used already (single use, RFC 6749 s. 4.1.2)."""
        ...


class RefreshTokenStore(Protocol):
    async def add(self, token: RefreshToken) -> None: ...
    async def get(self, token_hash: str) -> RefreshToken | None: ...
    async def rotate(self, token_hash: str) -> bool:
        """``active → rotated`` atomically; False if it was not active (a concurrent reuse)."""
        ...
    async def revoke_family(self, family_id: str) -> int: ...
    async def revoke_for_session(self, session_ids: list[str], *, keep_offline: bool = False) -> int: ...
    async def revoke_for_resident(self, resident_id: str, *, except_session: str | None = None) -> list[str]: ...
    async def revoke_for_client(self, resident_id: str, client_id: str) -> list[str]: ...


class GrantStore(Protocol):
    async def current(self, resident_id: str, client_id: str) -> Grant | None: ...
    async def for_resident(self, resident_id: str) -> list[Grant]: ...
    async def add(self, grant: Grant) -> None: ...
    async def withdraw(self, grant_id: str, at: dt.datetime) -> None: ...


class SessionStore(Protocol):
    async def add(self, session: SsoSession) -> None: ...
    async def by_secret_hash(self, secret_hash: str) -> SsoSession | None: ...
    async def get(self, session_id: str) -> SsoSession | None: ...
    async def update(self, session: SsoSession) -> None: ...
    async def end(self, session_id: str, at: dt.datetime) -> None: ...
    async def active_for(self, resident_id: str, now: dt.datetime) -> list[SsoSession]: ...


class RevokedTokenStore(Protocol):
    async def add(self, jti: str, expires_at: dt.datetime) -> None: ...
    async def is_revoked(self, jti: str) -> bool: ...


class HotReads(Protocol):
    """Reads on the hot paths that write nothing (``adapters/hot_reads.py``: one statement each,
    no unit of work). Never cached: see that module for why."""

    async def client(self, client_id: str) -> Any | None: ...
    async def token_revoked(self, jti: str, session_id: str | None = None) -> bool:
        """RFC 7009: the jti was revoked, or the resident's SSO session ``session_id`` ended."""
        ...

    async def sign_in_state(self, session_secret: str | None, client_id: str, now: dt.datetime,
                            *, with_grant: bool = True) -> "SignInState":
        """The browser's active session (by its cookie's secret), its resident and their current
        grant to ``client_id`` (``oidc.sessions.sign_in_state``)."""
        ...


class SingleUse(Protocol):
    """Records that make a second use fail, whichever identity process sees it: each answers
    True for the first use, False for any other (``adapters/single_use.py``; by default
    through the unit of work, ``provider.UnitOfWorkSingleUse``)."""

    async def dpop_proof(self, proof_key: str, expires_at: dt.datetime) -> bool:
        """RFC 9449 s. 11.1: a DPoP proof (its key and ``jti``), kept until it could no longer be accepted."""
        ...

    async def client_assertion(self, client_id: str, jti: str, expires_at: dt.datetime) -> bool:
        """RFC 7523 s. 3 item 7: a client assertion's ``jti``, kept until its ``exp``."""
        ...


class OAuthUnitOfWorkPort(Protocol):
    residents: Any
    clients: Any
    codes: CodeStore
    refresh_tokens: RefreshTokenStore
    grants: GrantStore
    sessions: SessionStore
    revoked_tokens: RevokedTokenStore

    async def __aenter__(self) -> "OAuthUnitOfWorkPort": ...
    async def __aexit__(self, *exc: object) -> None: ...
    def add_event(self, event: Any) -> None: ...
    async def commit(self) -> None: ...


# --- what the consent screen shows: the consent register's catalogue -----------------------

import dataclasses  # noqa: E402 - the section's own imports


@dataclasses.dataclass(frozen=True)
class CategoryTerms:
    category_id: str
    label_fr: str
    label_en: str


@dataclasses.dataclass(frozen=True)
class PurposeTerms:
    """A purpose as the consent register words it (the version the resident will consent to)."""

    purpose_id: str
    legal_basis: str                       # "consent" | "public_task" | "legal_obligation"
    title_fr: str
    title_en: str
    description_fr: str
    description_en: str
    categories: tuple[CategoryTerms, ...]  # only those the client's service declared

    @property
    def needs_consent(self) -> bool:
        return self.legal_basis == "consent"


@dataclasses.dataclass(frozen=True)
class ClientTerms:
    """What a client's service may do, per the register: ``recipient_id`` None when no service
    of the catalogue is this client (then no purpose is offered: none could be recorded).
    ``purposes``: the client's purposes the service declares, never a biometric one (biometric
    consent is never bundled in a screen that asks for several things)."""

    recipient_id: str | None
    purposes: dict[str, PurposeTerms]


class ConsentTerms(Protocol):
    async def for_client(self, client_id: str) -> ClientTerms | None:
        """The register's terms for a client; None when the register cannot be reached (the
        screen then offers no purpose, and asks again at the next sign-in)."""
        ...



@dataclasses.dataclass(frozen=True)
class HeldMandate:
    """A mandate in force that the signed-in resident holds (issue 22)."""

    mandate_id: str
    represented_id: str
    basis: str
    #: ``[{"service": …, "actions": […]}]`` as the register holds it
    scope: tuple


class Mandates(Protocol):
    async def held_by(self, resident_id: str) -> list[HeldMandate] | None:
        """The mandates in force the resident holds; None when the register cannot be reached."""
        ...

    async def may_sign_in(self, mandate_id: str, client_id: str) -> tuple[bool, str]:
        """(allowed, reason): may the mandate's holder sign in to this client for the
        represented resident now? The register decides (action ``view`` on the client's
        service) and records the sign-in as an act under the mandate, or refuses with its
        reason. Never cached: a revocation refuses the next sign-in at once."""
        ...


class Names(Protocol):
    async def names_of(self, resident_id: str) -> dict[str, str]:
        """Issue 22: the resident's ``given_name`` and ``family_name`` as their profile (in
        accounts) holds them, for an ID token on someone's behalf that asked for ``profile``;
        ``{}`` when they cannot be read (the token is issued without names)."""
        ...
