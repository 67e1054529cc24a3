"""Identity's domain events (docs/contracts.md, "Events"); published on
``montreal.identity.v1.<NAME>`` through the outbox. Identifiers only: the exceptions are
``email_verification_requested`` and ``password_reset_requested``, which carry the email and
the code for the mail sender (and the development mailbox), each on its own subject.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from services.common.events import Event


@dataclass(frozen=True)
class ResidentRegistered(Event):
    NAME: ClassVar[str] = "resident_registered"
    resident_id: str
    preferred_language: str
    registered_by: str = "self"              # "self" | "agent"
    email_verified: bool = False
    agent_id: str | None = None

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class EmailVerificationRequested(Event):
    NAME: ClassVar[str] = "email_verification_requested"
    resident_id: str
    email: str
    code: str
    expires_at: str                          # RFC 3339 UTC
    language: str = "fr"                     # the resident's preferred_language ("fr"|"en")

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class PasswordResetRequested(Event):
    """A code to choose a new password (forgotten, or the first one of a resident enrolled at a
    counter): like ``email_verification_requested``, for the mail sender only."""
    NAME: ClassVar[str] = "password_reset_requested"
    resident_id: str
    email: str
    code: str
    expires_at: str                          # RFC 3339 UTC
    language: str = "fr"                     # the resident's preferred_language ("fr"|"en")

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class AccountExistsNoticeRequested(Event):
    """Someone tried to create an account with the address of an existing one: its owner is
    told by mail (and shown the way to sign in or reset the password), while the sign-up page
    answers exactly as for a new address, so it tells no one which addresses have an account.
    For the mail sender only, like ``email_verification_requested``."""
    NAME: ClassVar[str] = "account_exists_notice_requested"
    resident_id: str
    email: str

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class EmailVerified(Event):
    NAME: ClassVar[str] = "email_verified"
    resident_id: str

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class LevelOfAssuranceRaised(Event):
    NAME: ClassVar[str] = "level_of_assurance_raised"
    resident_id: str
    level: int
    agent_id: str
    document_type: str

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class LoginSucceeded(Event):
    NAME: ClassVar[str] = "login_succeeded"
    resident_id: str
    session_id: str = ""
    amr: tuple[str, ...] = field(default=("pwd",))

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class LoginFailed(Event):
    NAME: ClassVar[str] = "login_failed"
    reason: str
    resident_id: str | None = None

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class SessionEnded(Event):
    NAME: ClassVar[str] = "session_ended"
    resident_id: str
    session_id: str
    scope: str = "one"                       # "one" | "all"

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class ClientRegistered(Event):
    NAME: ClassVar[str] = "client_registered"
    client_id: str

    def aggregate_id(self) -> str | None:
        return self.client_id


@dataclass(frozen=True)
class KeyRotated(Event):
    NAME: ClassVar[str] = "key_rotated"
    kid: str

    def aggregate_id(self) -> str | None:
        return self.kid


@dataclass(frozen=True)
class GrantGiven(Event):
    NAME: ClassVar[str] = "grant_given"
    grant_id: str
    resident_id: str
    client_id: str
    scopes: tuple[str, ...] = ()
    purposes_accepted: tuple[str, ...] = ()
    purposes_refused: tuple[str, ...] = ()
    #: per accepted purpose, the categories ticked for it (exactly those are consented to):
    #: ``{"purpose_id": …, "categories": […]}``
    purpose_categories: tuple[dict, ...] = ()

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class GrantWithdrawn(Event):
    NAME: ClassVar[str] = "grant_withdrawn"
    grant_id: str
    resident_id: str
    client_id: str

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class DataReleased(Event):
    """A client received something about a resident (ID token, access token, userinfo,
    introspection): the consent ledger records it as a data access (Access Act s. 83, the
    resident may know who received their information). Categories only, never the values;
    written in the same transaction as what makes the release possible (the outbox)."""
    NAME: ClassVar[str] = "data_released"
    release_id: str
    resident_id: str
    client_id: str
    client_name: str
    channel: str                             # "token" | "refresh" | "userinfo" | "introspection"
    categories: tuple[str, ...] = ()
    repeat_window_seconds: int = 0           # identical calls within this window are this one record
    #: the released categories the resident ticked on a consent screen for this client (the
    #: grant): the register waits a moment for that consent if it has not recorded it yet
    consented_categories: tuple[str, ...] = ()

    def aggregate_id(self) -> str | None:
        return self.resident_id
