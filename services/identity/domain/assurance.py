"""Levels of assurance of a resident's identity, expressed as OIDC ``acr`` values.

OIDC Core 1.0 s. 2 (``acr``) and s. 3.1.2.1 (``acr_values``). The three levels follow the
ladder of NIST SP 800-63-3 / the Pan-Canadian Trust Framework in spirit:

1. ``SELF_ASSERTED`` — the resident registered online; nobody checked who they are.
2. ``VERIFIED`` — a counter agent (or a document check) verified their identity.
3. ``VERIFIED_MFA`` — verified, and the session used a second factor (TOTP, RFC 6238).

The level stored on a resident is 1 or 2; level 3 is a property of a *session* (level 2
and a second factor in it), computed by :func:`session_level`.
"""

from __future__ import annotations

import enum

_ACR_PREFIX = "urn:mtlid:loa:"


class LevelOfAssurance(enum.IntEnum):
    SELF_ASSERTED = 1
    VERIFIED = 2
    VERIFIED_MFA = 3

    @property
    def acr(self) -> str:
        return f"{_ACR_PREFIX}{int(self)}"

    @classmethod
    def from_acr(cls, acr: str) -> "LevelOfAssurance":
        if not isinstance(acr, str) or not acr.startswith(_ACR_PREFIX):
            raise ValueError(f"unknown acr value {acr!r}")
        try:
            return cls(int(acr[len(_ACR_PREFIX):]))
        except ValueError:
            raise ValueError(f"unknown acr value {acr!r}") from None


def session_level(resident_level: LevelOfAssurance, second_factor: bool) -> LevelOfAssurance:
    """The level a session reaches: a second factor lifts a *verified* resident to level 3.

    A second factor on a self-asserted account proves control of the account, not who the
    person is, so it does not raise level 1.
    """
    if second_factor and resident_level >= LevelOfAssurance.VERIFIED:
        return LevelOfAssurance.VERIFIED_MFA
    return LevelOfAssurance(min(resident_level, LevelOfAssurance.VERIFIED))
