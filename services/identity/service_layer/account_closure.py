"""Closing a Montréal account at the resident's request, and reopening it at a counter.

What closing does (the page says the same, in plain words, before asking):

- the resident re-enters their password (``_confirm_password``: OWASP ASVS 4.0 V3.7.1,
  throttled like login): a session alone must not be enough to close someone's account;
- the resident is closed (``Resident.close``): sign-in is refused with a message that points
  to the counter; the citizen number stays theirs and is never given to anyone else
  (the number is random and the row is never deleted);
- every session ends and every refresh token of the resident is revoked, so no service keeps
  acting on their behalf (RFC 6749 s. 10.4: a refresh token is revocable);
- a receipt: the closure's record (``resident_closures``, its id is the receipt's number),
  ``resident_closed`` for the linked services (identifiers only), and
  ``account_closed_notice`` to the address, for the mail sender only.

What is kept, how long and why is stated on the page (Access Act, CQLR c. A-2.1, s. 73: a
public body destroys or anonymizes personal information once its purposes are achieved,
subject to the Archives Act, CQLR c. A-21.1, and the city's retention schedule); the consent
ledger is append-only and keeps what was consented and who accessed what.

Reopening is an agent's act at an Accès Montréal counter, after seeing the person
(``reopen_account``, gRPC ``ReopenResident``, scope ``identity:agent``, ``act.sub`` required):
recorded in ``agent_actions`` and on the closure's record, ``resident_reopened``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.identity.domain.events import AccountClosedNotice, ResidentClosed, ResidentReopened
from services.identity.service_layer.agents import DOCUMENT_TYPES, Agent
from services.identity.service_layer.authentication import _confirm_password, _rfc3339, utcnow
from services.identity.service_layer.subjects import parse_citizen_number


@dataclass(frozen=True)
class CloseAccount:
    resident_id: str
    current_password: str
    remote_addr: str = ""


@dataclass(frozen=True)
class ClosureReceipt:
    closure_id: str
    resident_id: str
    closed_at: dt.datetime
    sessions_ended: int


@dataclass(frozen=True)
class ReopenAccount:
    agent: Agent
    citizen_number: str
    document_type: str


@dataclass(frozen=True)
class Reopened:
    resident_id: str
    closure_id: str
    action_id: str


async def close_account(cmd: CloseAccount, uow) -> ClosureReceipt:
    """Close the resident's account (see the module's docstring). The unit of work must have
    the provider's sessions and refresh tokens (``OAuthUnitOfWork``). Raises
    InvalidArgument("current_password") / FailedPrecondition("TOO_MANY_ATTEMPTS") from the
    password check, NotFound for a resident already closed or disabled."""
    from services.identity.oidc.sessions import sign_out_everywhere

    async with uow:
        resident = await uow.residents.get(cmd.resident_id)
        if resident is None or resident.disabled:
            raise NotFound("resident")
        await _confirm_password(uow, resident, cmd.current_password, cmd.remote_addr)
        resident = await uow.residents.get(cmd.resident_id)
        if resident.disabled:  # closed meanwhile, in another tab
            raise NotFound("resident")
        now = utcnow()
        resident.close(now)
        await uow.residents.save(resident)
        closure_id = await uow.closures.add(resident_id=resident.resident_id, closed_at=now, closed_by="resident")
        ended = await sign_out_everywhere(uow, resident.resident_id)
        # Also the tokens of sessions that ended on their own: none may outlive the account.
        await uow.refresh_tokens.revoke_for_resident(resident.resident_id)
        # Nor the cartes citoyennes in wallets (issue 23): revoked in the status list.
        from services.identity.card.issuance import revoke_all

        await revoke_all(uow, resident.resident_id, "account_closed", int(now.timestamp()))
        uow.add_event(ResidentClosed(resident_id=resident.resident_id, closure_id=closure_id,
                                     closed_at=_rfc3339(now)))
        uow.add_event(AccountClosedNotice(resident_id=resident.resident_id, email=resident.email,
                                          closure_id=closure_id, closed_at=_rfc3339(now),
                                          preferred_language=resident.preferred_language))
        await uow.commit()
    return ClosureReceipt(closure_id=closure_id, resident_id=resident.resident_id, closed_at=now,
                          sessions_ended=ended)


async def reopen_account(cmd: ReopenAccount, uow) -> Reopened:
    """An agent reopens an account closed at the resident's request, after seeing the person
    and a document (its type is recorded, nothing else of it). The password is unchanged:
    the resident signs in as before (or asks for a new one). FailedPrecondition("NOT_CLOSED")
    for an account that is open, or was disabled by an operator rather than closed;
    FailedPrecondition("PURGED") past the retention period (``closed_accounts.py``)."""
    number = parse_citizen_number(cmd.citizen_number)
    if cmd.document_type not in DOCUMENT_TYPES:
        raise InvalidArgument("document_type", "is required: the type of the document the agent checked")
    now = utcnow()
    async with uow:
        resident = await uow.residents.get(number.canonical)
        if resident is None:
            raise NotFound("resident")
        closure = await uow.closures.open_for(resident.resident_id)
        if not resident.closed or closure is None:
            raise FailedPrecondition("NOT_CLOSED", "this account was not closed at the resident's request")
        if resident.purged_at is not None:
            # past the retention period its personal data is gone (closed_accounts.py)
            raise FailedPrecondition("PURGED", "this closed account's personal data was deleted after the "
                                     "retention period; enrol the person again")
        resident.reopen()
        await uow.residents.save(resident)
        await uow.closures.mark_reopened(closure["closure_id"], at=now, by=cmd.agent.agent_id)
        action_id = await uow.agent_actions.record(
            agent_id=cmd.agent.agent_id, client_id=cmd.agent.client_id, action="reopen_account",
            resident_id=resident.resident_id,
            details={"closure_id": closure["closure_id"], "document_type": cmd.document_type}, now=now)
        uow.add_event(ResidentReopened(resident_id=resident.resident_id, closure_id=closure["closure_id"],
                                       agent_id=cmd.agent.agent_id))
        await uow.commit()
    return Reopened(resident_id=resident.resident_id, closure_id=closure["closure_id"], action_id=action_id)
