"""The account's life in the resident's file (issue 21; Access Act A-2.1 s. 83-84, Law 25:
access and portability): each closure with its receipt number and, when it was reopened at a
counter, when and by which agent; each "this was not me" report with what it ended.

One section of ``resident_file.SECTIONS`` (``account_life``). Nothing secret: a report names
the session by its identifier only, never its secret.
"""

from __future__ import annotations

import datetime as dt


def _time(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z") if value else None


async def account_life(uow, resident_id: str) -> dict:
    return {
        "closures": [{"receipt_number": c["closure_id"], "closed_at": _time(c["closed_at"]),
                      "closed_by": c["closed_by"], "reopened_at": _time(c["reopened_at"]),
                      "reopened_by_agent": c["reopened_by"]}
                     for c in await uow.closures.for_resident(resident_id)],
        "security_reports": [{"report_number": r["report_id"], "reported_at": _time(r["reported_at"]),
                              "session_named": r["session_id"], "sessions_ended": r["sessions_ended"]}
                             for r in await uow.security_reports.for_resident(resident_id)],
    }
