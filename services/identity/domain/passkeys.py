"""Passkeys: WebAuthn (Level 3) credentials of residents and counter agents.

What a passkey sign-in counts for (docs/contracts.md, "Passkeys, acr and amr"): the
authenticator proves possession of a private key bound to this site's origin, so it cannot be
phished (WebAuthn L3 s. 13.4.9; NIST SP 800-63B s. 5.2.5 "verifier impersonation
resistance"). Its ``amr`` (RFC 8176 s. 2):

- ``hwk`` for a device-bound key (the authenticator says it is not backup-eligible: the key
  never leaves the hardware), ``swk`` for a synced passkey (backup-eligible: copies live in
  a password manager or a platform keychain);
- ``user``: the user-presence test every assertion carries (the UP flag);
- ``mfa`` when the authenticator verified the user (UV flag: a PIN or biometric unlocked the
  key): something one has and something one knows or is, in one gesture.

A user-verified passkey therefore counts as a second factor: it lifts a *verified* resident's
session to level 3 (``assurance.session_level``), like a password and a TOTP code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

RESIDENT, AGENT = "resident", "agent"
MAX_NAME = 60


@dataclass
class Passkey:
    credential_id: str                 # base64url
    owner_kind: str                    # resident | agent
    owner_id: str
    public_key: bytes                  # COSE_Key
    sign_count: int
    multi_device: bool                 # backup-eligible: a synced passkey
    name: str
    created_at: dt.datetime
    transports: list[str] = field(default_factory=list)
    last_used_at: dt.datetime | None = None


def amr_for(passkey: Passkey, user_verified: bool) -> tuple[str, ...]:
    """RFC 8176 methods of a sign-in with ``passkey`` (see the module's docstring)."""
    methods = ("swk" if passkey.multi_device else "hwk", "user")
    return methods + ("mfa",) if user_verified else methods


def clean_name(name: str) -> str | None:
    """The name the owner typed (so they can tell their keys apart), or None when unusable."""
    text = " ".join((name or "").split())
    if not text or len(text) > MAX_NAME or any(ord(c) < 32 for c in text):
        return None
    return text
