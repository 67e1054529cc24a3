"""A Resident: the holder of a universal citizen number and of the credentials to use it.

State (guarded methods below):

    registered (email unverified) ──verify_email──▶ email verified
    any ──raise_level──▶ VERIFIED (a counter agent checked a document)
    any ──disable──▶ disabled      (never deleted: the citizen number must never be reused)
    active ──close──▶ closed (disabled, at the resident's request) ──reopen──▶ active (at a counter)
    any ──request_email_change──▶ new address pending ──change_email──▶ new address (verified)

No biometric data here, ever (commitment 6 of the city's strategy).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from services.identity.domain.assurance import LevelOfAssurance

LANGUAGES = ("fr", "en")
# A pragmatic check (RFC 5321/5322 allow more, but nobody at a counter types those).
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")


def normalize_email(email: str) -> str:
    """Emails are compared case-insensitively (the unique index is on lower(email))."""
    return email.strip().lower()


def email_problem(email: str) -> str | None:
    if not isinstance(email, str) or not email.strip():
        return "is required"
    if len(email) > 254 or not _EMAIL.match(email.strip()):
        return "is not a valid email address"
    return None


@dataclass
class Resident:
    resident_id: str                          # CitizenNumber.canonical
    email: str | None                         # None: enrolled at a counter without e-mail
    password_hash: str | None                 # None: enrolled at a counter, no password yet
    email_verified: bool = False
    level: LevelOfAssurance = LevelOfAssurance.SELF_ASSERTED
    preferred_language: str = "fr"
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    disabled: bool = False
    totp_secret_encrypted: bytes | None = None    # AES-GCM with the KEK; None: no TOTP yet
    totp_pending_encrypted: bytes | None = None   # during enrollment, until the first code
    email_code_hash: str | None = None
    email_code_expires_at: dt.datetime | None = None
    registered_by: str = "self"                   # "self" | "agent"
    activation_code_hash: str | None = None       # the code on a counter enrolment's letter
    activation_code_expires_at: dt.datetime | None = None
    pending_email: str | None = None              # a new address, until its code comes back
    pending_email_code_hash: str | None = None
    pending_email_expires_at: dt.datetime | None = None
    password_change_required: bool = False        # after "this was not me"
    closed_at: dt.datetime | None = None          # closed at the resident's request
    # Not a column: whether the resident has a passkey (the passkeys table), set by the readers
    # that decide on a second step (oidc.authorize); False elsewhere.
    has_passkey: bool = False
    purged_at: dt.datetime | None = None          # personal data deleted after the retention period

    @property
    def has_totp(self) -> bool:
        return self.totp_secret_encrypted is not None

    def verify_email(self) -> None:
        self.email_verified = True
        self.email_code_hash = None
        self.email_code_expires_at = None

    def raise_level(self, level: LevelOfAssurance) -> bool:
        """Raise the stored level (never lowered here); returns whether it changed.

        The stored level is at most VERIFIED: level 3 belongs to a session with a second factor.
        """
        target = LevelOfAssurance(min(level, LevelOfAssurance.VERIFIED))
        if target <= self.level:
            return False
        self.level = target
        return True

    def disable(self) -> None:
        self.disabled = True

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def close(self, now: dt.datetime) -> None:
        """Closed at the resident's own request: signing in is refused (``disabled``) and the
        citizen number stays theirs, never given to anyone else; only a counter reopens it."""
        self.disabled = True
        self.closed_at = now
        self.pending_email = self.pending_email_code_hash = self.pending_email_expires_at = None

    def reopen(self) -> None:
        """At a counter, after an agent saw the resident (``closed`` → active)."""
        if not self.closed or self.purged_at is not None:
            raise ValueError("only an account closed at the resident's request, not yet purged, is reopened")
        self.disabled = False
        self.closed_at = None

    def forget_personal_data(self, now: dt.datetime) -> None:
        """A closed account past its retention period (``service_layer/closed_accounts.py``):
        the Access Act (CQLR c. A-2.1) s. 73 asks that personal information be destroyed or
        anonymised once its purposes are achieved. What identifies or reaches the person goes
        (address, password, second factor, codes, verified level, language); the citizen number
        stays, closed and never given to anyone else, with the closure's receipt."""
        if not self.closed:
            raise ValueError("only a closed account is purged")
        self.email = self.password_hash = None
        self.email_verified = self.password_change_required = False
        self.level = LevelOfAssurance.SELF_ASSERTED
        self.preferred_language = "fr"
        self.totp_secret_encrypted = self.totp_pending_encrypted = None
        self.email_code_hash = self.email_code_expires_at = None
        self.activation_code_hash = self.activation_code_expires_at = None
        self.pending_email = self.pending_email_code_hash = self.pending_email_expires_at = None
        self.purged_at = now

    def request_email_change(self, new_email: str, code_hash: str, expires_at: dt.datetime) -> None:
        self.pending_email = normalize_email(new_email)
        self.pending_email_code_hash = code_hash
        self.pending_email_expires_at = expires_at

    def change_email(self) -> str:
        """The pending address becomes the sign-in address, verified by the code that reached
        it; returns the old address (it gets the notice)."""
        if self.pending_email is None:
            raise ValueError("no new address is waiting")
        old, self.email = self.email, self.pending_email
        self.email_verified = True
        self.pending_email = self.pending_email_code_hash = self.pending_email_expires_at = None
        return old
