"""The resident's sign-in history: every sign-in, succeeded or refused (issue 15).

What a resident needs to recognise a sign-in that was not theirs — when, which service, how
(password, second factor, an already open session, at the counter), the level of assurance
reached, refused or not — and nothing more: no address, no device. Québec's Access Act s. 73
(as amended by Law 25): kept only as long as that use needs, :data:`RETENTION_DAYS`, then
destroyed (``service_layer/maintenance.py``).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import uuid

from services.identity.domain.events import LoginFailed, LoginSucceeded

RETENTION_DAYS = 365
SUCCEEDED, REFUSED = "succeeded", "refused"
#: how a resident signed in (the ``amr`` values of RFC 8176, plus ours)
METHODS = ("pwd", "otp", "session", "counter")


@dataclasses.dataclass(frozen=True)
class SignIn:
    sign_in_id: str
    resident_id: str
    occurred_at: dt.datetime
    client_id: str | None        # None: Mon compte itself
    client_name: str | None
    methods: tuple[str, ...]
    acr: str | None              # the level reached (None when refused)
    outcome: str                 # SUCCEEDED | REFUSED
    reason: str | None = None    # why refused: invalid_credentials, throttled, invalid_otp, passkey_refused, …
    #: the session it opened or used (None when refused): what "this was not me" names, so a
    #: report from the history is about that sign-in even after its session ended
    session_id: str | None = None


_SIGNING_IN_TO: contextvars.ContextVar[tuple[str | None, str | None]] = contextvars.ContextVar(
    "mtlid_signing_in_to", default=(None, None))


@contextlib.contextmanager
def signing_in_to(client_id: str | None, client_name: str | None):
    """The service the login in this block is for (None: Mon compte)."""
    token = _SIGNING_IN_TO.set((client_id, client_name))
    try:
        yield
    finally:
        _SIGNING_IN_TO.reset(token)


def from_login_event(event, level_acr, now: dt.datetime) -> SignIn | None:
    """The history row of a login event, or None (an event about no known resident).
    ``level_acr(methods)`` is the acr the resident's level and the methods reach."""
    if not isinstance(event, (LoginSucceeded, LoginFailed)) or not getattr(event, "resident_id", None):
        return None
    client_id, client_name = _SIGNING_IN_TO.get()
    if isinstance(event, LoginSucceeded):
        methods = tuple(event.amr)
        return SignIn(str(uuid.uuid4()), event.resident_id, now, client_id, client_name, methods,
                      level_acr(methods), SUCCEEDED, session_id=event.session_id or None)
    methods = {"invalid_otp": ("otp",), "passkey_refused": ("passkey",)}.get(event.reason, ("pwd",))
    return SignIn(str(uuid.uuid4()), event.resident_id, now, client_id, client_name, methods, None, REFUSED,
                  event.reason[:40])


#: the history's "service" for a visit at the counter is the office; its client id is the console's
COUNTER_CLIENT_ID = "counter-console"
_COUNTER_VISITS = uuid.UUID("6f1c1a52-8d0e-4b8e-9a55-0c6f3e5d2b71")


def counter_visit(resident_id: str, agent_session_id: str, office: str, acr: str, now: dt.datetime) -> SignIn:
    """A visit at the counter (issue 15): one sign-in per agent session and resident, the
    first time that agent opens the resident's file in that session (by citizen number, from a
    search result, or by acting on it). A search that only lists homonyms opens no file and is
    no sign-in. The id is derived from the two, so opening the file again in the same session
    adds nothing; the next session of that agent, or another agent, is another visit.
    ``acr`` is the resident's level of assurance on record when the file is opened."""
    sign_in_id = str(uuid.uuid5(_COUNTER_VISITS, f"{agent_session_id}:{resident_id}"))
    return SignIn(sign_in_id, resident_id, now, COUNTER_CLIENT_ID, office[:200], ("counter",), acr, SUCCEEDED)


def session_sign_in(resident_id: str, client_id: str, client_name: str, amr: tuple[str, ...], acr: str,
                    now: dt.datetime, session_id: str | None = None) -> SignIn:
    """A service signed the resident in on their open session (single sign-on)."""
    return SignIn(str(uuid.uuid4()), resident_id, now, client_id, client_name, ("session", *amr), acr, SUCCEEDED,
                  session_id=session_id)
