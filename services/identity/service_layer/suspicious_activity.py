""""This was not me": a resident who sees a sign-in or an activity they do not recognise
(issue 21; GOV.UK One Login's "report suspicious activity").

In one transaction: every session of the resident ends (the one reporting too), every
refresh token of the resident is revoked (so no service keeps acting for whoever got in),
the next sign-in must choose a new password through the code mailed to the account's address
(``password_change_required``: the password may be known to someone else, so knowing it is
not enough any more), and the report is recorded (``security_reports``,
``suspicious_activity_reported``).

No password is asked first: the report only protects (OWASP ASVS 4.0 V3.3, V3.7); at worst,
someone holding the session makes the resident choose a new password through their mailbox.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.common.errors import InvalidArgument, NotFound
from services.identity.domain.events import SuspiciousActivityReported
from services.identity.service_layer.authentication import utcnow

MAX_SESSION_ID = 64


@dataclass(frozen=True)
class ReportSuspiciousActivity:
    resident_id: str
    session_id: str | None = None     # the sign-in not recognised (an entry of the sign-in history)


@dataclass(frozen=True)
class SecurityReport:
    report_id: str
    reported_at: dt.datetime
    sessions_ended: int


async def report_suspicious_activity(cmd: ReportSuspiciousActivity, uow) -> SecurityReport:
    """See the module's docstring. The unit of work must have the provider's sessions and
    refresh tokens (``OAuthUnitOfWork``). InvalidArgument("session_id") for a session that is
    not the resident's; NotFound for a resident that is gone or closed."""
    from services.identity.oidc.sessions import sign_out_everywhere

    session_id = cmd.session_id or None
    if session_id is not None and (len(session_id) > MAX_SESSION_ID or not session_id.isprintable()):
        raise InvalidArgument("session_id", "is not one of your sign-ins")
    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None or resident.disabled:
            raise NotFound("resident")
        if session_id is not None:
            # a session still open, or one a kept sign-in names (it may have ended since)
            named = await uow.sessions.get(session_id)
            if (named is None or named.resident_id != resident.resident_id) and not (
                    await uow.sign_ins.has_session(resident.resident_id, session_id)):
                raise InvalidArgument("session_id", "is not one of your sign-ins")
        now = utcnow()
        ended = await sign_out_everywhere(uow, resident.resident_id)
        await uow.refresh_tokens.revoke_for_resident(resident.resident_id)
        resident.password_change_required = True
        await uow.residents.save(resident)
        report_id = await uow.security_reports.add(resident_id=resident.resident_id, reported_at=now,
                                                   session_id=session_id, sessions_ended=ended)
        uow.add_event(SuspiciousActivityReported(resident_id=resident.resident_id, report_id=report_id,
                                                 sessions_ended=ended, session_id=session_id))
        await uow.commit()
    return SecurityReport(report_id=report_id, reported_at=now, sessions_ended=ended)
