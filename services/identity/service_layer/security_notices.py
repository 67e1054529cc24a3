"""Security notices for factor changes (issue 20): every change to how a resident proves it is
them is mailed to the account's address, in the same transaction as the change (the outbox),
so someone who took a session or a password cannot quietly put their own factor on the
account (NIST SP 800-63B s. 6.1.2.3 and 6.1.4: notify the subscriber of authenticator
binding changes; what GOV.UK One Login and banks do).

Only to a confirmed address: a notice to an address no one proved is theirs could tell a
stranger about the account. A resident without one (registered at a counter) sees the change
in Mon compte and their history.
"""

from __future__ import annotations

import datetime as dt

from services.identity.domain.events import (SECOND_FACTOR_CHANGES, PasskeyAddedNotice, PasskeyRemovedNotice,
                                             SecondFactorChangedNotice)


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _address(resident) -> str | None:
    return resident.email if resident is not None and resident.email and resident.email_verified else None


def second_factor_changed(uow, resident, change: str, now: dt.datetime) -> None:
    """Adds ``second_factor_changed_notice`` to the unit of work (committed with the change)."""
    assert change in SECOND_FACTOR_CHANGES, change
    email = _address(resident)
    if email:
        uow.add_event(SecondFactorChangedNotice(resident_id=resident.resident_id, email=email, change=change,
                                                changed_at=_rfc3339(now), language=resident.preferred_language))


def passkey_added(uow, resident, now: dt.datetime) -> None:
    email = _address(resident)
    if email:
        uow.add_event(PasskeyAddedNotice(resident_id=resident.resident_id, email=email, added_at=_rfc3339(now),
                                         language=resident.preferred_language))


def passkey_removed(uow, resident, now: dt.datetime) -> None:
    email = _address(resident)
    if email:
        uow.add_event(PasskeyRemovedNotice(resident_id=resident.resident_id, email=email,
                                           removed_at=_rfc3339(now), language=resident.preferred_language))
