"""Identity's domain events (docs/contracts.md, "Events"); published on
``montreal.identity.v1.<NAME>`` through the outbox. Identifiers only: the exceptions are the
mail events (``email_verification_requested``, ``password_reset_requested``,
``account_exists_notice_requested``, ``email_change_requested``, ``email_changed_notice``,
``account_closed_notice``, ``second_factor_changed_notice``, ``passkey_added_notice``,
``passkey_removed_notice``; services/mailer/mails.py), which carry the address, the code or
the moment, and the resident's language for the mail sender only, each on its own subject.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, TypedDict

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
    language: str = "fr"                     # the resident's preferred_language ("fr"|"en")

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
class ClientChanged(Event):
    """An operator changed a registered client; ``fields`` name what changed, never the values."""

    NAME: ClassVar[str] = "client_changed"
    client_id: str
    fields: tuple[str, ...] = ()

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


class ReleaseGrant(TypedDict):
    """The grant a release rests on, as ``grant_given`` carries it (``DataReleased.grant``)."""
    grant_id: str
    purposes_accepted: list[str]
    purposes_refused: list[str]
    purpose_categories: list[dict]


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
    #: grant): they rest on that consent
    consented_categories: tuple[str, ...] = ()
    #: the grant they rest on, as ``grant_given`` carries it (``grant_id``, ``purposes_accepted``,
    #: ``purposes_refused``, ``purpose_categories``): the register records that consent from
    #: here when this event overtakes ``grant_given`` (another subject, no order between them)
    grant: ReleaseGrant | None = None
    #: issue 22: released to a client a mandatary signed in to on this resident's behalf,
    #: under this mandate (both or neither): "by X, under mandate M" in their history
    mandatary_id: str = ""
    mandate_id: str = ""

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class TokensRevoked(Event):
    """Access tokens that must stop working everywhere before they expire (issue 15): a
    withdrawal, "end the connection", a replayed code or reused refresh token, RFC 7009
    revocation, sign out everywhere, an account closed, "this was not me". Identity refuses
    them itself (its revocation list); the services' own token verification
    (services/common/grpc/auth.py) learns them from this event. Identifiers only, never a
    token: ``families`` are grant families (a resident's access-token ``jti`` is
    ``<family>:<random>``), ``jtis`` single tokens; listed until ``expires_at`` (RFC 3339),
    after which every token they name has expired anyway."""
    NAME: ClassVar[str] = "tokens_revoked"
    families: tuple[str, ...] = ()
    jtis: tuple[str, ...] = ()
    expires_at: str = ""


# -- a resident's account life (issue 21) --------------------------------------------------

@dataclass(frozen=True)
class EmailChangeRequested(Event):
    """A code to the NEW sign-in address the resident typed: for the mail sender only, like
    ``email_verification_requested`` (the same fields: where it goes, the code, until when)."""
    NAME: ClassVar[str] = "email_change_requested"
    resident_id: str
    email: str                               # the new address: the one the code goes to
    code: str
    expires_at: str                          # RFC 3339 UTC
    language: str = "fr"                     # the resident's preferred_language ("fr"|"en")

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class EmailChangedNotice(Event):
    """A notice to the OLD address once the change is made, so a resident whose session was
    someone else's learns of it (and whom to call): for the mail sender only. No code, and
    not the new address (a notice read by someone else tells them nothing more)."""
    NAME: ClassVar[str] = "email_changed_notice"
    resident_id: str
    email: str                               # the old address: the one the notice goes to
    changed_at: str                          # RFC 3339 UTC
    language: str = "fr"                     # the resident's preferred_language ("fr"|"en")

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class ResidentPurged(Event):
    """A closed account's personal data was deleted after the retention period (issue 21;
    Access Act s. 73): accounts deletes its part (profile, document checks) on it. The
    citizen number stays reserved. Identifiers and dates only."""
    NAME: ClassVar[str] = "resident_purged"
    resident_id: str
    closed_at: str                           # RFC 3339 UTC
    purged_at: str                           # RFC 3339 UTC

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class ResidentClosed(Event):
    """The resident closed their account (issue 21): for the linked services (accounts,
    consent, and through them the services the resident uses). Identifiers only."""
    NAME: ClassVar[str] = "resident_closed"
    resident_id: str
    closure_id: str                          # the receipt's number
    closed_at: str                           # RFC 3339 UTC

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class AccountClosedNotice(Event):
    """The closure's receipt by mail, to the account's address: for the mail sender only."""
    NAME: ClassVar[str] = "account_closed_notice"
    resident_id: str
    email: str
    closure_id: str
    closed_at: str                           # RFC 3339 UTC
    preferred_language: str = "fr"

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class ResidentReopened(Event):
    """An agent reopened, at a counter, an account the resident had closed."""
    NAME: ClassVar[str] = "resident_reopened"
    resident_id: str
    closure_id: str
    agent_id: str

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class SuspiciousActivityReported(Event):
    """The resident said "this was not me" (issue 21): every session ended, every refresh
    token revoked, a new password required. ``session_id``: the sign-in they did not
    recognise, when they named one (from the sign-in history)."""
    NAME: ClassVar[str] = "suspicious_activity_reported"
    resident_id: str
    report_id: str
    sessions_ended: int
    session_id: str | None = None

    def aggregate_id(self) -> str | None:
        return self.resident_id


# -- counter agents' sign-ins (issue 17, point 4) ------------------------------------------

@dataclass(frozen=True)
class AgentSignedIn(Event):
    """A counter agent reached level 3 at the console (password, then the second factor): the
    start of a working session. Identifiers only: no address, no code, no secret."""
    NAME: ClassVar[str] = "agent_signed_in"
    agent_id: str
    office: str
    session_id: str
    amr: tuple[str, ...] = field(default=("pwd", "otp", "mfa"))

    def aggregate_id(self) -> str | None:
        return self.agent_id


@dataclass(frozen=True)
class AgentSignInRefused(Event):
    """A refused sign-in at the counter console. ``step``: ``password`` or ``second_factor``;
    ``reason``: ``invalid_credentials``, ``throttled``, ``disabled`` or ``invalid_otp``.
    ``agent_id`` and ``office`` are absent when the typed address is no agent's (the address
    itself is never in the event)."""
    NAME: ClassVar[str] = "agent_sign_in_refused"
    reason: str
    step: str
    agent_id: str | None = None
    office: str | None = None

    def aggregate_id(self) -> str | None:
        return self.agent_id


@dataclass(frozen=True)
class CounterFileAccessed(Event):
    """A counter agent found, opened or read a resident's file at the console (issue 17,
    point 3; DESIGN "every release is a ledger fact"): the consent ledger records it as a data
    access by the office's counter, so the resident sees it in "Qui a vu mes données".
    Written in the transaction of the journal line. ``agent_reference``: the agent's
    pseudonymous ``AG…`` reference, never the name (the ledger is permanent; the resident's
    pages show the name when ``MTLID_COUNTER_AGENT_DISPLAY=name``); ``action``: ``find_resident`` (by number, the file opened) or
    ``shown_in_name_search`` (one of the residents a search by name and birth date showed);
    ``categories``: what the agent saw, as categories (never the values)."""
    NAME: ClassVar[str] = "counter_file_accessed"
    access_id: str
    resident_id: str
    office: str
    agent_reference: str
    action: str
    categories: tuple[str, ...] = ()

    def aggregate_id(self) -> str | None:
        return self.resident_id


# -- security notices for factor changes (issue 20) ----------------------------------------

# What changed, in ``SecondFactorChangedNotice.change`` (the mail's sentence for each is in
# services/mailer/mails.py): the application's codes turned on, replaced or off, new recovery
# codes, one recovery code used, and the counter's reset of a lost phone.
SECOND_FACTOR_CHANGES = ("totp_added", "totp_replaced", "totp_removed", "recovery_codes_renewed",
                         "recovery_code_used", "counter_reset")


@dataclass(frozen=True)
class SecondFactorChangedNotice(Event):
    """A notice to the account's (confirmed) address that its second factor changed, so a
    resident whose session or password was someone else's learns of it (what GOV.UK One
    Login and banks send): for the mail sender only. What changed and when; never a secret,
    a code or the factor itself."""
    NAME: ClassVar[str] = "second_factor_changed_notice"
    resident_id: str
    email: str
    change: str                              # one of SECOND_FACTOR_CHANGES
    changed_at: str                          # RFC 3339 UTC
    language: str = "fr"                     # the resident's preferred_language ("fr"|"en")

    def aggregate_id(self) -> str | None:
        return self.resident_id


# --- the carte citoyenne (issue 23; services/identity/card/) ---------------------------------


@dataclass(frozen=True)
class CardIssued(Event):
    """A card issued to the resident's wallet (OpenID4VCI); identifiers only, never a claim."""

    NAME: ClassVar[str] = "card_issued"
    resident_id: str
    card_id: str
    expires_at: str                          # RFC 3339 UTC
    renewal: bool = False                    # a silent renewal of a card the wallet held

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class PasskeyAddedNotice(Event):
    """A notice that a passkey was added to the account: for the mail sender only. Not its
    name nor its credential id (the resident sees those in Mon compte)."""
    NAME: ClassVar[str] = "passkey_added_notice"
    resident_id: str
    email: str
    added_at: str                            # RFC 3339 UTC
    language: str = "fr"

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class PasskeyRemovedNotice(Event):
    """A notice that a passkey was removed from the account: for the mail sender only."""
    NAME: ClassVar[str] = "passkey_removed_notice"
    resident_id: str
    email: str
    removed_at: str                          # RFC 3339 UTC
    language: str = "fr"

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class CardRevoked(Event):
    """A card revoked in the status list."""

    NAME: ClassVar[str] = "card_revoked"
    resident_id: str
    card_id: str
    reason: str                              # "lost_device" | "resident_disabled" | "account_closed"

    def aggregate_id(self) -> str | None:
        return self.resident_id


@dataclass(frozen=True)
class OrganizationRegistered(Event):
    """An organization was registered with the city (issue 22, docs/mandates.md,
    "Organizations"): accounts may link service accounts to it. No name, no NEQ."""
    NAME: ClassVar[str] = "organization_registered"
    organization_id: str
    kind: str
    registered_by: str

    def aggregate_id(self) -> str | None:
        return self.organization_id


@dataclass(frozen=True)
class MandatesAtFourteenNotice(Event):
    """Issue 22: a minor with an account turned 14 (consent's ``minor_turned_fourteen``): the
    notice listing the mandates that concern them, for the mail sender only. ``mandates``:
    per mandate ``<basis>:<action>+…`` (what it still covers), bases and actions only."""
    NAME: ClassVar[str] = "mandates_at_fourteen_notice"
    resident_id: str
    email: str
    turned_14_at: str                        # RFC 3339 UTC
    mandates: tuple[str, ...]
    language: str = "fr"                     # the resident's preferred_language ("fr"|"en")

    def aggregate_id(self) -> str | None:
        return self.resident_id
