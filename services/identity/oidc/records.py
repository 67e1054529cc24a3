"""What the OpenID provider stores: authorization codes, refresh tokens, grants, SSO sessions.

Plain dataclasses (no SQLAlchemy: ``adapters/oauth_orm.py`` maps them). Secrets (codes,
refresh tokens, session cookies) are stored only as SHA-256 hashes, so a copy of the database
cannot be replayed against the provider.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes: every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclasses.dataclass
class AuthorizationCode:
    """A single-use code (RFC 6749 s. 4.1.2: short-lived, bound to client and redirect URI;
    RFC 7636 s. 4.4: bound to the PKCE challenge)."""

    code_hash: str
    client_id: str
    resident_id: str
    session_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    created_at: dt.datetime
    expires_at: dt.datetime
    consumed_at: dt.datetime | None = None
    #: the refresh-token family issued from this code: revoked if the code is replayed (RFC 6749 s. 4.1.2)
    family_id: str | None = None
    #: RFC 9449 s. 10: the code is redeemable only with a DPoP proof by this key
    dpop_jkt: str | None = None
    #: Issue 22: signed in on behalf of ``represented_id`` under ``mandate_id`` (the resident
    #: above is the mandatary); ``authorization_details`` the RFC 9396 list the tokens carry.
    represented_id: str | None = None
    mandate_id: str | None = None
    authorization_details: list | None = None

    def is_expired(self, now: dt.datetime) -> bool:
        return as_utc(self.expires_at) <= now


class RefreshTokenState(str, enum.Enum):
    """``active → rotated`` (used once, replaced) or ``→ revoked`` (family revoked, logout)."""

    ACTIVE = "active"
    ROTATED = "rotated"
    REVOKED = "revoked"


@dataclasses.dataclass
class RefreshToken:
    """One link of a rotation family (RFC 9700 s. 4.14.2): presenting a rotated link again
    means it leaked, and the whole family is revoked."""

    token_hash: str
    family_id: str
    client_id: str
    resident_id: str
    session_id: str
    scope: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    issued_at: dt.datetime
    expires_at: dt.datetime
    state: RefreshTokenState = RefreshTokenState.ACTIVE
    #: RFC 9449 s. 5: the DPoP key (thumbprint) a public client's family is bound to
    dpop_jkt: str | None = None

    def is_expired(self, now: dt.datetime) -> bool:
        return as_utc(self.expires_at) <= now

    @property
    def is_offline(self) -> bool:
        """OIDC Core s. 11: granted ``offline_access`` (the resident consented to it), so the
        family outlives the SSO session it was issued in; otherwise it ends with it."""
        return "offline_access" in self.scope.split()


@dataclasses.dataclass
class Grant:
    """What a resident agreed to give a client, per scope and per purpose
    (Law 25 / Access Act s. 53.1: consent for each purpose, separately)."""

    grant_id: str
    resident_id: str
    client_id: str
    scopes: tuple[str, ...]
    purposes_accepted: tuple[str, ...]
    purposes_refused: tuple[str, ...]
    created_at: dt.datetime
    withdrawn_at: dt.datetime | None = None
    scopes_refused: tuple[str, ...] = ()
    #: the categories ticked under each accepted purpose (Law 25: exactly what was ticked)
    purpose_categories: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def covers(self, scopes: set[str], purposes: set[str]) -> bool:
        """True if every scope and purpose has been answered (accepted or refused) already."""
        decided_scopes = set(self.scopes) | set(self.scopes_refused)
        decided_purposes = set(self.purposes_accepted) | set(self.purposes_refused)
        return self.withdrawn_at is None and scopes <= decided_scopes and purposes <= decided_purposes


@dataclasses.dataclass(frozen=True)
class SigningIn:
    """The resident behind an SSO session, as the authorization endpoint and the consent
    screen need them (issue 24: read in one statement with the session, no unit of work)."""

    resident_id: str
    level: int
    disabled: bool
    has_totp: bool
    has_passkey: bool


@dataclasses.dataclass(frozen=True)
class SignInState:
    """What an authorization request meets: the browser's active session (or None), its
    resident (None if gone) and the resident's current grant to the client (or None)."""

    session: "SsoSession | None" = None
    resident: SigningIn | None = None
    grant: "Grant | None" = None


@dataclasses.dataclass
class SsoSession:
    """A resident's single sign-on session at the identity front (OIDC Core s. 3.1.2.3)."""

    session_id: str
    secret_hash: str
    resident_id: str
    auth_time: int
    amr: tuple[str, ...]
    acr: str
    created_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None = None

    def is_active(self, now: dt.datetime) -> bool:
        return self.ended_at is None and as_utc(self.expires_at) > now


@dataclasses.dataclass
class LogoutDelivery:
    """One back-channel logout to deliver (OpenID Connect Back-Channel Logout 1.0 s. 2.5):
    ``pending → delivered`` (the RP answered 200/204) or ``→ given up`` after the last retry;
    each attempt is counted and the last error kept (no token, no personal data)."""

    delivery_id: str
    client_id: str
    session_id: str
    resident_id: str
    uri: str
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    attempts: int = 0
    delivered_at: dt.datetime | None = None
    gave_up_at: dt.datetime | None = None
    last_error: str = ""
