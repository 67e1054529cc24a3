"""Handlers of the accounts service: each takes a command and a unit of work (or, for the
release, a unit-of-work factory: see ``release_attributes``).

Authorization rules that depend on *data* live here (the scope itself is checked by the gRPC
layer's method policies): a service's client acts on its own service only; a resident on
their own data only; a counter agent always under their own name.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from services.common.errors import (AlreadyExists, FailedPrecondition, InvalidArgument, NotFound,
                                    PermissionDenied, Unavailable)
from services.common.events import Event

from ..domain.attributes import (DATA_CATEGORIES, PROFILE_ATTRIBUTES, AttributeRejected, Attribute,
                                 Provenance, normalize)
from ..domain.catalogue import CatalogueService
from ..domain.counter import AgentAction, DocumentCheck, check_last_digits, require_agent
from ..domain.events import AttributesReleased, CounterActionRecorded, ResidentEnrolled, DocumentChecked
from ..domain.profile import Profile
from ..domain.release import ReleaseDecision, categories_to_check, decide_release, unique
from ..domain.service_account import ServiceAccount, Transition
from . import commands as c
from .addressing import canonical_resident_id, resident_from, resident_shown
from .ports import (AGENT, RESIDENT, AccountsUnitOfWork, Caller, ConsentGateway, IdentityDirectory,
                    ReleaseOutbox, ReleaseReads, SubjectResolver, publish)

logger = logging.getLogger(__name__)

UowFactory = Callable[[], AccountsUnitOfWork]
Clock = Callable[[], dt.datetime]

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_RELEASE_ATTRIBUTES = 20


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_id(prefix: str) -> str:
    """Time-ordered, random, opaque: ``acc_`` + 12 hex of milliseconds + 16 random hex."""
    return f"{prefix}_{int(time.time() * 1000):012x}{os.urandom(8).hex()}"


# ---- small shared checks ---------------------------------------------------------------------

def _page_size(size: int, default: int = DEFAULT_PAGE, maximum: int = MAX_PAGE) -> int:
    if size < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(size or default, maximum)


def _decode_token(token: str, kind: str) -> str | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("page_token", "not a token this API returned") from None
    prefix, _, key = raw.partition(":")
    if prefix != kind or not key:
        raise InvalidArgument("page_token", "not a token this API returned")
    return key


def _encode_token(key: str, kind: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def _own_service(caller: Caller, service: CatalogueService) -> None:
    if service.client_id != caller.client_id:
        raise PermissionDenied("NOT_YOUR_SERVICE", "this client does not represent that service")


def _own_data(caller: Caller, resident_id: str) -> None:
    if caller.subject != resident_id:
        raise PermissionDenied("NOT_YOUR_DATA", "a resident reaches their own data only")


def _agent(caller: Caller) -> str:
    if not caller.has(AGENT):
        raise PermissionDenied("MISSING_SCOPE", "this call needs the scope accounts:agent")
    return require_agent(caller.agent_id)


async def _service(uow: AccountsUnitOfWork, service_id: str, field: str = "service_id") -> CatalogueService:
    if not service_id:
        raise InvalidArgument(field, "required")
    service = await uow.services.get(service_id)
    if service is None:
        raise NotFound("service")
    return service


async def _profile(uow: AccountsUnitOfWork, resident_id: str) -> Profile:
    profile = await uow.profiles.get(resident_id)
    if profile is None:
        raise NotFound("resident")
    return profile


def _normalized_changes(pairs, field: str, today: dt.date, *, allow_clear: bool = True) -> dict[str, str | None]:
    """Normalize (name, value) pairs; every bad one is named, none is applied."""
    out: dict[str, str | None] = {}
    violations: list[tuple[str, str]] = []
    if not pairs:
        violations.append((field, "at least one attribute"))
    for i, (name, value) in enumerate(pairs):
        if name not in PROFILE_ATTRIBUTES:
            reason = ("biometric data is never stored by the platform" if name in DATA_CATEGORIES
                      else "not a known attribute")
            violations.append((f"{field}[{i}].name", reason))
            continue
        if name in out:
            violations.append((f"{field}[{i}].name", "named twice"))
            continue
        if value is None:
            if not allow_clear:
                violations.append((f"{field}[{i}].value", "required"))
            out[name] = None
            continue
        try:
            out[name] = normalize(name, value, today=today)
        except AttributeRejected as error:
            violations.append((f"{field}[{i}].value", str(error)))
    if violations:
        raise InvalidArgument.many(violations)
    return out


def _journal(caller: Caller, agent_id: str, action: str, resident_id: str, at: dt.datetime,
             target: str | None = None) -> AgentAction:
    return AgentAction(action_id=new_id("act"), agent_id=agent_id, client_id=caller.client_id, action=action,
                       resident_id=resident_id, at=at, target=target, office=(caller.office or "")[:100])


#: What an agent necessarily sees of a file when an action shows no particular attribute (a
#: document check, a link in person, an empty profile): who the resident is.
IDENTIFYING = ("given_name", "family_name", "date_of_birth")


def _seen(profile: Profile) -> tuple[str, ...]:
    """The categories of a profile an agent reads (GetProfile, FindResident and the export
    return every attribute it holds): their names, never their values."""
    return tuple(a.name for a in profile.ordered() if a.value is not None) or IDENTIFYING


async def _agent_action(uow: AccountsUnitOfWork, caller: Caller, agent_id: str, action: str, resident_id: str,
                        at: dt.datetime, target: str | None = None, *, categories: tuple[str, ...]) -> None:
    """A line of the counter journal and, in the same transaction (outbox), a
    ``counter_action_recorded`` event that the consent ledger records as a data access (issue 17,
    point 5: every agent action on a resident's file is visible to the resident; Access Act
    s. 83). The ledger's entry keeps ``act.sub`` and the office; its access id is the line's."""
    line = _journal(caller, agent_id, action, resident_id, at, target)
    await uow.counter.record(line)
    uow.add_event(CounterActionRecorded(access_id=f"accounts.{line.action_id}", resident_id=resident_id,
                                      office=caller.office or "", agent_reference=agent_id, action=action,
                                      client_id=caller.client_id, categories=categories or IDENTIFYING))


# ---- views returned to the entrypoints --------------------------------------------------------

@dataclass(frozen=True)
class AccountView:
    account: ServiceAccount
    #: The resident's identifier as the caller may see it.
    resident_id: str


@dataclass(frozen=True)
class Page:
    items: list
    next_page_token: str


@dataclass(frozen=True)
class ReleaseResult:
    access_id: str
    resident_id: str
    decision: ReleaseDecision
    #: the mandate a release to a mandatary was made under (issue 22), else ""
    mandate_id: str = ""


# ---- profile ----------------------------------------------------------------------------------

IDENTITY_SOURCE = "identity"


async def profile_or_new(uow: AccountsUnitOfWork, resident_id: str, now: dt.datetime,
                         **registered) -> tuple[Profile, bool]:
    """The resident's profile, created when absent; whether it was created here.

    Identity's ``resident_registered`` event, an agent's enrolment and the resident's first
    edit may each find no profile at the same moment (PostgreSQL, READ COMMITTED): the second
    insert waits for the first to commit and fails (``AlreadyExists``); it then takes the
    profile the other made, so the enrolment's names or the resident's edit are not lost."""
    profile = await uow.profiles.get(resident_id)
    if profile is not None:
        return profile, False
    profile = Profile.register(resident_id, now, **registered)
    try:
        await uow.profiles.add(profile)
    except AlreadyExists:
        existing = await uow.profiles.get(resident_id)
        if existing is None:
            raise
        return existing, False
    return profile, True


async def register_resident(cmd: c.RegisterResident, uow: AccountsUnitOfWork, *,
                            directory: IdentityDirectory | None = None, clock: Clock = utcnow) -> bool:
    """Create the profile identity registered, with the e-mail identity holds (the event does not
    carry it, docs/contracts.md). Runs inside the consumer's unit of work, which commits (one
    transaction with the inbox row). Returns False when it existed already (an agent enrolled
    them first); the e-mail still fills the gap then."""
    resident_id = canonical_resident_id(cmd.resident_id)
    contact = await directory.contact(resident_id) if directory is not None else None
    now = clock()
    profile, created = await profile_or_new(uow, resident_id, now, preferred_language=cmd.preferred_language)
    if contact is not None and contact.email:
        try:
            email = normalize("email", contact.email, today=now.date())
        except AttributeRejected:
            email = None  # identity validated it; a mismatch of rules must not block the profile
        if email:
            profile.receive_from_service("email", email, IDENTITY_SOURCE, now, verified=contact.email_verified)
            await uow.profiles.save(profile)
    publish(uow, [profile])
    return created


async def email_verified(cmd: c.EmailVerified, uow: AccountsUnitOfWork, *, directory: IdentityDirectory,
                         clock: Clock = utcnow) -> bool:
    """Identity confirmed the resident's e-mail: the profile's e-mail becomes verified if it is
    still the same address (a different address the resident typed here stays as it is)."""
    resident_id = canonical_resident_id(cmd.resident_id)
    contact = await directory.contact(resident_id)
    profile = await uow.profiles.get(resident_id)
    if contact is None or profile is None or not contact.email_verified:
        return False
    now = clock()
    try:
        email = normalize("email", contact.email, today=now.date())
    except AttributeRejected:
        return False
    changed = profile.receive_from_service("email", email, IDENTITY_SOURCE, now, verified=True)
    if changed:
        await uow.profiles.save(profile)
        publish(uow, [profile])
    return changed


async def get_profile(cmd: c.GetProfile, uow: AccountsUnitOfWork) -> Profile:
    resident_id = canonical_resident_id(cmd.resident_id)
    agent_id = None
    if cmd.caller.has(RESIDENT):
        _own_data(cmd.caller, resident_id)
    else:
        agent_id = _agent(cmd.caller)
    async with uow:
        profile = await _profile(uow, resident_id)
        if agent_id is not None:
            # Residents learn which agent looked at their profile, and when.
            await _agent_action(uow, cmd.caller, agent_id, "view_profile", resident_id, utcnow(),
                                categories=_seen(profile))
            await uow.commit()
        return profile


async def update_profile(cmd: c.UpdateProfile, uow: AccountsUnitOfWork, *, clock: Clock = utcnow) -> Profile:
    resident_id = canonical_resident_id(cmd.resident_id)
    _own_data(cmd.caller, resident_id)
    now = clock()
    changes = _normalized_changes(cmd.changes, "changes", now.date())
    async with uow:
        # The resident's own session proves they exist; identity's event may still be in flight.
        profile, _ = await profile_or_new(uow, resident_id, now)
        profile.declare(changes, now)
        await uow.profiles.save(profile)
        publish(uow, [profile])
        await uow.commit()
        return profile


def _when(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z") if value else None


async def export_resident_data(cmd: c.ExportResidentData, uow: AccountsUnitOfWork, *, clock: Clock = utcnow) -> dict:
    """Everything accounts holds about the resident (Access Act, CQLR c. A-2.1, s. 84), in a
    structured, commonly used format (JSON). Their own data, so values are in it; the full
    document number never is, because it was never stored.

    A counter agent (scope ``accounts:agent``, named by ``act.sub``) may export it too, to
    print it for the resident in front of them (issue 17: a resident who never goes online
    still gets their file; the console asks only after a document check in the visit). The
    export is then a line of the counter journal, in the same transaction, so it is in the
    document it produces and in every later one."""
    resident_id = canonical_resident_id(cmd.resident_id)
    agent_id = None
    if cmd.caller.has(RESIDENT) or not cmd.caller.has(AGENT):
        _own_data(cmd.caller, resident_id)
    else:
        agent_id = _agent(cmd.caller)
    async with uow:
        profile = await _profile(uow, resident_id)
        if agent_id is not None:
            await _agent_action(uow, cmd.caller, agent_id, "export_resident_data", resident_id, clock(),
                                categories=_seen(profile))
        accounts, after = [], None
        while True:
            page = await uow.accounts.list(resident_id=resident_id, service_id=None, state=None, after=after,
                                           limit=MAX_PAGE)
            accounts += page
            if len(page) < MAX_PAGE:
                break
            after = page[-1].account_id
        checks = await uow.counter.checks_for(resident_id)
        actions = await uow.counter.actions_for(resident_id)
        if agent_id is not None:
            await uow.commit()
    return {
        "format": "mtlid.accounts.export/1",
        "exported_at": _when(clock()),
        "resident_id": resident_id,
        "profile": {
            "created_at": _when(profile.created_at), "updated_at": _when(profile.updated_at),
            "attributes": [{"name": a.name, "value": a.value, "provenance": a.provenance.value,
                            "updated_at": _when(a.updated_at), "verified_at": _when(a.verified_at),
                            "verified_by": a.verified_by, "document_check_id": a.document_check_id,
                            "source_service_id": a.source_service_id} for a in profile.ordered()],
        },
        "service_accounts": [{
            "account_id": a.account_id, "service_id": a.service_id, "account_reference": a.account_reference,
            "state": a.state.value, "created_at": _when(a.created_at), "updated_at": _when(a.updated_at),
            "unlink_requested_at": _when(a.unlink_requested_at),
            "history": [{"from": t.from_state.value if t.from_state else None, "to": t.to_state.value,
                         "actor": t.actor, "reason": t.reason, "at": _when(t.at)} for t in a.transitions],
        } for a in accounts],
        "document_checks": [{"check_id": k.check_id, "document_type": k.document_type.value,
                             "last_digits": k.last_digits, "agent_id": k.agent_id,
                             "checked_at": _when(k.checked_at)} for k in checks],
        # ``action_id``: the ledger's data access for the line is ``accounts.<action_id>``
        "counter_journal": [{"action_id": j.action_id, "action": j.action, "agent_id": j.agent_id,
                             "client_id": j.client_id, "office": j.office,
                             "target": j.target, "at": _when(j.at)} for j in actions],
    }


# ---- catalogue --------------------------------------------------------------------------------

async def register_service(cmd: c.RegisterService, uow: AccountsUnitOfWork, *, clock: Clock = utcnow) -> CatalogueService:
    if cmd.kind is None:
        raise InvalidArgument("kind", "required: municipal, borough or partner")
    service = CatalogueService.register(service_id=cmd.service_id, name_fr=cmd.name_fr, name_en=cmd.name_en,
                                        kind=cmd.kind, owner=cmd.owner, client_id=cmd.client_id, at=clock(),
                                        borough=cmd.borough or None, attributes=cmd.attributes,
                                        purposes=cmd.purposes)
    async with uow:
        if await uow.services.get(service.service_id) is not None:
            raise AlreadyExists("SERVICE_EXISTS", "a service with this id is in the catalogue")
        if await uow.services.get_by_client(service.client_id) is not None:
            # A service is represented by exactly one client, and a client by one service.
            raise AlreadyExists("CLIENT_ALREADY_REPRESENTS_A_SERVICE", "this client represents another service")
        await uow.services.add(service)
        publish(uow, [service])
        await uow.commit()
        return service


async def update_service(cmd: c.UpdateService, uow: AccountsUnitOfWork, *, clock: Clock = utcnow) -> CatalogueService:
    async with uow:
        service = await _service(uow, cmd.service_id)
        service.update(name_fr=cmd.name_fr, name_en=cmd.name_en, owner=cmd.owner, attributes=cmd.attributes,
                       purposes=cmd.purposes, state=cmd.state, at=clock())
        await uow.services.save(service)
        publish(uow, [service])
        await uow.commit()
        return service


async def list_services(cmd: c.ListServices, uow: AccountsUnitOfWork) -> Page:
    size = _page_size(cmd.page_size)
    after = _decode_token(cmd.page_token, "svc")
    async with uow:
        items = await uow.services.list(kind=cmd.kind, borough=cmd.borough or None, after=after, limit=size + 1)
    token = _encode_token(items[size - 1].service_id, "svc") if len(items) > size else ""
    return Page(items[:size], token)


async def get_service(cmd: c.GetService, uow: AccountsUnitOfWork) -> CatalogueService:
    async with uow:
        return await _service(uow, cmd.service_id)


# ---- service accounts ---------------------------------------------------------------------------

async def _link(uow: AccountsUnitOfWork, service: CatalogueService, resident_id: str, reference: str,
                actor: str, now: dt.datetime, reason: str) -> ServiceAccount:
    if not service.is_active:
        raise FailedPrecondition("SERVICE_RETIRED", "the service is retired and takes no new link")
    account = ServiceAccount.link(account_id=new_id("acc"), resident_id=resident_id, service_id=service.service_id,
                                  account_reference=reference, actor=actor, at=now, reason=reason)
    await _profile(uow, resident_id)
    if await uow.accounts.open_for(resident_id, service.service_id) is not None:
        raise AlreadyExists("ACCOUNT_ALREADY_LINKED", "the resident already has an open account with this service")
    if await uow.accounts.open_by_reference(service.service_id, account.account_reference) is not None:
        raise AlreadyExists("ACCOUNT_REFERENCE_TAKEN", "another open account of this service has this reference")
    await uow.accounts.add(account)
    publish(uow, [account])
    return account


async def link_account(cmd: c.LinkAccount, uow: AccountsUnitOfWork, *, resolver: SubjectResolver,
                       clock: Clock = utcnow) -> AccountView:
    async with uow:
        service = await _service(uow, cmd.service_id)
        _own_service(cmd.caller, service)
        resident_id = await resident_from(cmd.resident_id, service, resolver)
        account = await _link(uow, service, resident_id, cmd.account_reference, cmd.caller.actor, clock(), "linked")
        await uow.commit()
    return AccountView(account, cmd.resident_id if service.sees_pairwise_ids else resident_id)


async def change_account_state(cmd: c.ChangeAccountState, uow: AccountsUnitOfWork, *, resolver: SubjectResolver,
                               clock: Clock = utcnow) -> AccountView:
    if cmd.action in ("suspend", "close") and not cmd.reason.strip():
        raise InvalidArgument("reason", "say why (the resident sees it in the account history)")
    if len(cmd.reason) > 500:
        raise InvalidArgument("reason", "at most 500 characters")
    async with uow:
        account = await uow.accounts.get(cmd.account_id)
        if account is None:
            raise NotFound("account")
        service = await _service(uow, account.service_id)
        _own_service(cmd.caller, service)
        getattr(account, cmd.action)(cmd.caller.actor, cmd.reason.strip(), clock())
        await uow.accounts.save(account)
        publish(uow, [account])
        await uow.commit()
    return AccountView(account, await resident_shown(account.resident_id, service, resolver))


async def list_accounts(cmd: c.ListAccounts, uow: AccountsUnitOfWork, *, resolver: SubjectResolver) -> Page:
    size = _page_size(cmd.page_size)
    after = _decode_token(cmd.page_token, "acc")
    caller = cmd.caller
    async with uow:
        service = None
        resident_id = None
        if cmd.service_id:
            service = await _service(uow, cmd.service_id)
            if caller.has(AGENT):
                _agent(caller)
                if not cmd.resident_id:
                    # An agent serves the resident in front of them, not a whole service's list.
                    raise InvalidArgument("resident_id", "an agent lists the accounts of one resident")
            else:
                _own_service(caller, service)
            if cmd.resident_id:
                resident_id = await resident_from(cmd.resident_id, service, resolver)
        elif cmd.resident_id:
            resident_id = canonical_resident_id(cmd.resident_id)
            if caller.has(AGENT):
                _agent(caller)
            elif caller.has(RESIDENT):
                _own_data(caller, resident_id)
            else:
                raise PermissionDenied("NOT_YOUR_DATA", "a service lists the accounts of its own service only")
        else:
            raise InvalidArgument("resident_id", "give resident_id or service_id")
        if cmd.account_reference and service is None:
            raise InvalidArgument("account_reference", "a reference is a service's own: give service_id too")
        items = await uow.accounts.list(resident_id=resident_id, service_id=service.service_id if service else None,
                                        state=cmd.state, after=after, limit=size + 1,
                                        account_reference=cmd.account_reference.strip() or None)
    token = _encode_token(items[size - 1].account_id, "acc") if len(items) > size else ""
    views = [AccountView(a, await resident_shown(a.resident_id, service, resolver)) for a in items[:size]]
    return Page(views, token)


async def _readable_account(uow: AccountsUnitOfWork, caller: Caller, account_id: str) -> tuple[ServiceAccount, CatalogueService]:
    account = await uow.accounts.get(account_id)
    if account is None:
        raise NotFound("account")
    service = await _service(uow, account.service_id)
    if caller.has(RESIDENT):
        _own_data(caller, account.resident_id)
    elif caller.has(AGENT):
        _agent(caller)
    else:
        _own_service(caller, service)
    return account, service


async def request_unlink(cmd: c.RequestUnlink, uow: AccountsUnitOfWork, *, clock: Clock = utcnow) -> AccountView:
    if not cmd.caller.has(RESIDENT):
        raise PermissionDenied("RESIDENT_ONLY", "only the resident asks to unlink their account")
    async with uow:
        account = await uow.accounts.get(cmd.account_id)
        if account is None:
            raise NotFound("account")
        _own_data(cmd.caller, account.resident_id)
        account.request_unlink(clock())
        await uow.accounts.save(account)
        publish(uow, [account])
        await uow.commit()
    return AccountView(account, account.resident_id)


async def get_account_history(cmd: c.GetAccountHistory, uow: AccountsUnitOfWork, *,
                              resolver: SubjectResolver) -> tuple[AccountView, list[Transition]]:
    async with uow:
        account, service = await _readable_account(uow, cmd.caller, cmd.account_id)
    shown = account.resident_id if cmd.caller.has(RESIDENT) or cmd.caller.has(AGENT) else \
        await resident_shown(account.resident_id, service, resolver)
    return AccountView(account, shown), list(account.transitions)


# ---- release ------------------------------------------------------------------------------------

class UnitOfWorkReleaseReads:
    """``ReleaseReads`` through the unit of work: for the unit tests' fakes and any wiring
    without point reads. The service uses ``adapters.release_reads.SqlReleaseReads``."""

    def __init__(self, uow_factory: UowFactory) -> None:
        self._uow_factory = uow_factory

    async def service(self, service_id: str) -> CatalogueService | None:
        async with self._uow_factory() as uow:
            return await uow.services.get(service_id)

    async def live_account_and_profile(self, resident_id: str,
                                       service_id: str) -> tuple[ServiceAccount | None, Profile | None]:
        async with self._uow_factory() as uow:
            return await uow.accounts.open_for(resident_id, service_id), await uow.profiles.get(resident_id)

    def catalogue_changed(self, service_id: str) -> None:
        """Nothing is kept."""


class UnitOfWorkReleaseOutbox:
    """``ReleaseOutbox`` as a short unit of work of its own (fakes, SQLite); PostgreSQL uses
    ``adapters.release_outbox.PostgresReleaseOutbox``."""

    def __init__(self, uow_factory: UowFactory) -> None:
        self._uow_factory = uow_factory

    async def add(self, event: Event) -> None:
        async with self._uow_factory() as uow:
            uow.add_event(event)
            await uow.commit()


async def release_attributes(cmd: c.ReleaseAttributes, *, reads: ReleaseReads, outbox: ReleaseOutbox,
                             consent: ConsentGateway, resolver: SubjectResolver,
                             clock: Clock = utcnow, uow_factory: UowFactory | None = None) -> ReleaseResult:
    """Check → decide → record → answer (issue 5, part 4).

    The read phase writes nothing and goes through ``reads`` (``ReleaseReads``: single
    statements outside any unit of work; only the service catalogue may come from a cache that
    the database's change notifications clear, never the account, the profile or a consent
    decision). Then the consent ledger decides and records the access in one call
    (``CheckAndRecord``, under the ledger's lock: issue 24), *before* the answer — if it
    fails the caller gets UNAVAILABLE and nothing is released — and
    ``outbox`` commits the ``attributes_released`` event (one atomic write, before the answer),
    with the same ``access_id``: the ledger is idempotent by it, so its consumer never records
    the access twice. No database transaction (on SQLite, the write lock) is held across the
    two calls to the consent ledger.
    """
    violations = []
    if not cmd.attributes:
        violations.append(("attributes", "name at least one attribute"))
    if len(cmd.attributes) > MAX_RELEASE_ATTRIBUTES:
        violations.append(("attributes", f"at most {MAX_RELEASE_ATTRIBUTES}"))
    for i, name in enumerate(cmd.attributes):
        if name not in DATA_CATEGORIES:
            violations.append((f"attributes[{i}]", "not a data category (docs/contracts.md)"))
    if not cmd.purpose_id:
        violations.append(("purpose_id", "required"))
    if not cmd.service_id:
        violations.append(("service_id", "required"))
    if violations:
        raise InvalidArgument.many(violations)

    service = await reads.service(cmd.service_id)
    if service is None:
        raise NotFound("service")
    _own_service(cmd.caller, service)
    if not service.is_active:
        raise FailedPrecondition("SERVICE_RETIRED", "the service is retired")
    if not service.requests_for(cmd.purpose_id):
        raise FailedPrecondition("PURPOSE_NOT_DECLARED",
                                 "the catalogue does not list this purpose for this service")
    resident_id = await resident_from(cmd.resident_id, service, resolver)
    mandatary_id = ""
    if cmd.mandatary_id:
        # Issue 22: a mandatary asks for the represented resident's attributes. The register
        # decides the mandate (``view`` on this service) with the consents, under one lock.
        if uow_factory is None:
            raise Unavailable("mandates are not available here")
        mandatary_id = await _person(cmd.mandatary_id, "mandatary_id", service, uow_factory, resolver)
        if mandatary_id == resident_id:
            raise InvalidArgument("mandatary_id", "the person acting is the resident themself")
    account, profile = await reads.live_account_and_profile(resident_id, service.service_id)
    if account is None or not account.may_receive_attributes:
        raise FailedPrecondition("NO_LIVE_ACCOUNT",
                                 "the resident has no pending or active account with this service")
    if profile is None:
        raise NotFound("resident")

    to_check = categories_to_check(service, cmd.attributes)
    decisions, recorded, mandate_id = {}, (), ""
    access_id = new_id("acs")
    if mandatary_id:
        # Asked even when nothing needs a consent decision: the mandate itself is decided
        # (and a refusal answered) before anything is released.
        decisions, recorded, mandate_id = await consent.check_and_record_for(
            access_id=access_id, resident_id=resident_id, mandatary_id=mandatary_id,
            recipient_id=service.service_id, purpose_id=cmd.purpose_id, categories=to_check or cmd.attributes[:1],
            available=[name for name in to_check if profile.get(name) is not None],
            withheld=[name for name in unique(cmd.attributes) if name not in to_check])
        decisions = {k: v for k, v in decisions.items() if k in to_check}
    elif to_check:
        # Asked every time, never cached: a withdrawal stops the very next release. Decided
        # and recorded in one call, under the ledger's lock (issue 24): no withdrawal can
        # commit between the decision and the record.
        decisions, recorded = await consent.check_and_record(
            access_id=access_id, resident_id=resident_id, recipient_id=service.service_id,
            purpose_id=cmd.purpose_id, categories=to_check,
            available=[name for name in to_check if profile.get(name) is not None],
            withheld=[name for name in unique(cmd.attributes) if name not in to_check])
    decision = decide_release(service, profile, cmd.attributes, decisions)
    shown = cmd.resident_id if service.sees_pairwise_ids else resident_id
    if set(decision.categories) != set(recorded):
        # The ledger records what it decided; a release must match that record exactly
        # (never more than recorded): a disagreement is a fault, failed closed.
        logger.warning("release and ledger record disagree", extra={"access_id": access_id,
                                                                    "service_id": service.service_id})
        raise Unavailable("the consent ledger's record does not match the release; nothing was released")
    if not decision.released:
        return ReleaseResult("", shown, decision, mandate_id)

    await outbox.add(AttributesReleased(
        access_id=access_id, resident_id=resident_id, service_id=service.service_id,
        purpose_id=cmd.purpose_id, categories=decision.categories,
        withheld=tuple(w.name for w in decision.withheld),
        bases={k: v.value for k, v in decision.bases.items()}, consent_ids=decision.consent_ids))
    logger.info("attributes released", extra={"access_id": access_id, "service_id": service.service_id,
                                              "purpose_id": cmd.purpose_id, "categories": list(decision.categories),
                                              "under_mandate": bool(mandate_id)})
    return ReleaseResult(access_id, shown, decision, mandate_id)


# ---- mandates (issue 22) --------------------------------------------------------------------------

MAX_MANDATE_QUESTIONS = 1000
_ACTIONS = ("view", "request", "pay", "consent")
_ACT_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


async def _person(text: str, field: str, service: CatalogueService, uow_factory: UowFactory,
                  resolver: SubjectResolver) -> str:
    """The citizen identifier behind how ``service``'s system names a person: one of its own
    service accounts (``acc_…``), or the identifier it may see (``resident_from``: the citizen
    number for a city service, the pairwise subject for a partner)."""
    if (text or "").startswith("acc_"):
        async with uow_factory() as uow:
            account = await uow.accounts.get(text)
        if account is None or account.service_id != service.service_id:
            raise InvalidArgument(field, "not a service account of the caller's service")
        return account.resident_id
    if not text:
        raise InvalidArgument(field, "required")
    return await resident_from(text, service, resolver, field)


async def _callers_service(caller: Caller, service_id: str, uow_factory: UowFactory, field: str) -> CatalogueService:
    """The caller's own service (``service_id`` empty or naming it); refused otherwise."""
    async with uow_factory() as uow:
        service = await uow.services.get_by_client(caller.client_id)
    if service is None:
        raise PermissionDenied("NOT_YOUR_SERVICE", "this client represents no service of the catalogue")
    if service_id and service_id != service.service_id:
        raise InvalidArgument(field, "a service asks about itself only (leave it empty)")
    return service


async def decide_mandates(cmd: c.DecideMandates, uow_factory: UowFactory, *, consent, resolver: SubjectResolver
                          ) -> list[tuple[bool, str, str]]:
    """"May X act for Y on this service for action A", per question, from the consent
    register (never cached). X and Y are named as the caller knows them; every malformed or
    unknown name is its own field violation (``questions[i].…``) and nothing is decided."""
    if not cmd.questions:
        raise InvalidArgument("questions", "at least one question")
    if len(cmd.questions) > MAX_MANDATE_QUESTIONS:
        raise InvalidArgument("questions", f"at most {MAX_MANDATE_QUESTIONS}")
    service = await _callers_service(cmd.caller, "", uow_factory, "service_id")
    problems: list[tuple[str, str]] = []
    asked: list[tuple[str, str, str, str]] = []
    for i, q in enumerate(cmd.questions):
        names = {}
        if q.service_id and q.service_id != service.service_id:
            problems.append((f"questions[{i}].service_id", "a service asks about itself only (leave it empty)"))
        if q.action not in _ACTIONS:
            problems.append((f"questions[{i}].action", "one of view, request, pay, consent"))
        for name in ("mandatary_id", "represented_id"):
            field = f"questions[{i}].{name}"
            try:
                names[name] = await _person(getattr(q, name), field, service, uow_factory, resolver)
            except InvalidArgument as bad:
                problems.extend(bad.violations)
            except NotFound:
                problems.append((field, "no resident behind this identifier for this service"))
        if len(names) == 2 and names["mandatary_id"] == names["represented_id"]:
            problems.append((f"questions[{i}].mandatary_id", "the same person as represented_id"))
        if not problems:
            asked.append((names["mandatary_id"], names["represented_id"], service.service_id, q.action))
    if problems:
        raise InvalidArgument.many(problems)
    return await consent.decide_mandates(asked)


async def record_mandate_act(cmd: c.RecordMandateAct, uow_factory: UowFactory, *, consent
                             ) -> tuple[dt.datetime | None, bool]:
    """An act done with the caller's service under a mandate: the register decides again
    under its lock and records ``mandate_used`` (idempotent by ``act_id``)."""
    problems = []
    try:
        uuid.UUID(cmd.mandate_id or "")
    except ValueError:
        problems.append(("mandate_id", "a mandate id (UUID)"))
    if not _ACT_ID.match(cmd.act_id or ""):
        problems.append(("act_id", "8 to 64 letters, digits or ._:- (the caller's id for the act)"))
    if cmd.action not in _ACTIONS:
        problems.append(("action", "one of view, request, pay, consent"))
    if problems:
        raise InvalidArgument.many(problems)
    service = await _callers_service(cmd.caller, cmd.service_id, uow_factory, "service_id")
    # The act is the service's: recorded as done by its client, not by accounts.
    return await consent.record_mandate_act(mandate_id=cmd.mandate_id, act_id=cmd.act_id,
                                            service=service.service_id, action=cmd.action,
                                            service_client_id=service.client_id)


# ---- counter --------------------------------------------------------------------------------------

async def find_resident(cmd: c.FindResident, uow: AccountsUnitOfWork, *, clock: Clock = utcnow) -> list[Profile]:
    agent_id = _agent(cmd.caller)
    size = _page_size(cmd.page_size, default=10, maximum=20)
    today = clock().date()
    criteria: dict[str, str] = {}
    violations = []
    for field, value in (("email", cmd.email), ("phone", cmd.phone), ("family_name", cmd.family_name),
                         ("given_name", cmd.given_name), ("date_of_birth", cmd.date_of_birth)):
        if value:
            try:
                criteria[field] = normalize(field, value, today=today)
            except AttributeRejected as error:
                violations.append((field, str(error)))
    resident_id = canonical_resident_id(cmd.resident_id) if cmd.resident_id else None
    if not criteria and resident_id is None and not violations:
        violations.append(("resident_id", "give the citizen number, an e-mail, a phone or names"))
    if criteria.keys() & {"given_name", "date_of_birth"} and "family_name" not in criteria:
        # A given name or a birth date alone matches thousands of people: no fishing.
        violations.append(("family_name", "required with given_name or date_of_birth"))
    if violations:
        raise InvalidArgument.many(violations)
    async with uow:
        if resident_id is not None:
            profile = await uow.profiles.get(resident_id)
            found = [profile] if profile else []
        else:
            found = await uow.profiles.find(limit=size, **criteria)
        now = clock()
        for profile in found:
            await _agent_action(uow, cmd.caller, agent_id, "find_resident", profile.resident_id, now,
                                categories=_seen(profile))
        await uow.commit()
    return found


async def enroll_resident(cmd: c.EnrollResident, uow: AccountsUnitOfWork, *,
                          clock: Clock = utcnow) -> Profile | None:
    """The profile of a resident enrolled at the counter. With ``validate_only`` (AIP-163) every
    problem is raised as for the real call and nothing is read or written: the console asks
    before identity issues a number, so that bad input never leaves a number without a profile."""
    agent_id = _agent(cmd.caller)
    now = clock()
    violations: list[tuple[str, str]] = []
    resident_id = ""
    if cmd.resident_id or not cmd.validate_only:
        try:
            resident_id = canonical_resident_id(cmd.resident_id)
        except InvalidArgument as error:
            violations += error.violations
    values = {}
    if cmd.attributes:
        try:
            values = _normalized_changes(cmd.attributes, "attributes", now.date(), allow_clear=False)
        except InvalidArgument as error:
            violations += error.violations
    if violations:
        raise InvalidArgument.many(violations)
    if cmd.validate_only:
        return None
    async with uow:
        profile, _ = await profile_or_new(uow, resident_id, now)
        for name, value in values.items():
            profile.verify(name, Provenance.VERIFIED_AT_COUNTER, now, agent_id=agent_id, value=value)
            await _agent_action(uow, cmd.caller, agent_id, "verify_attribute", resident_id, now, name,
                                categories=(name,))
        await uow.profiles.save(profile)
        uow.add_event(ResidentEnrolled(resident_id=resident_id, agent_id=agent_id))
        await _agent_action(uow, cmd.caller, agent_id, "enroll_resident", resident_id, now,
                            categories=tuple(values))
        publish(uow, [profile])
        await uow.commit()
        return profile


async def record_document_check(cmd: c.RecordDocumentCheck, uow: AccountsUnitOfWork, *,
                                clock: Clock = utcnow) -> DocumentCheck:
    agent_id = _agent(cmd.caller)
    resident_id = canonical_resident_id(cmd.resident_id)
    violations = []
    if cmd.document_type is None:
        violations.append(("document_type", "required"))
    try:
        last_digits = check_last_digits(cmd.last_digits)
    except InvalidArgument as error:
        violations += error.violations
    if violations:
        raise InvalidArgument.many(violations)
    now = clock()
    async with uow:
        await _profile(uow, resident_id)
        check = DocumentCheck(check_id=new_id("doc"), resident_id=resident_id, document_type=cmd.document_type,
                              last_digits=last_digits, agent_id=agent_id, checked_at=now)
        await uow.counter.add_check(check)
        await _agent_action(uow, cmd.caller, agent_id, "record_document_check", resident_id, now, check.check_id,
                            categories=IDENTIFYING)
        uow.add_event(DocumentChecked(check_id=check.check_id, resident_id=resident_id,
                                      document_type=check.document_type.value, agent_id=agent_id))
        await uow.commit()
        return check


async def verify_attribute(cmd: c.VerifyAttribute, uow: AccountsUnitOfWork, *, clock: Clock = utcnow) -> Attribute:
    agent_id = _agent(cmd.caller)
    resident_id = canonical_resident_id(cmd.resident_id)
    now = clock()
    violations = []
    if cmd.attribute not in PROFILE_ATTRIBUTES:
        violations.append(("attribute", "not an attribute a profile holds"))
    provenance = {"at_counter": Provenance.VERIFIED_AT_COUNTER,
                  "from_document": Provenance.VERIFIED_FROM_DOCUMENT}.get(cmd.method or "")
    if provenance is None:
        violations.append(("method", "required: at a counter or from a document"))
    if provenance is Provenance.VERIFIED_FROM_DOCUMENT and not cmd.document_check_id:
        violations.append(("document_check_id", "required to verify from a document"))
    value = None
    if cmd.value and not violations:
        try:
            value = normalize(cmd.attribute, cmd.value, today=now.date())
        except AttributeRejected as error:
            violations.append(("value", str(error)))
    if violations:
        raise InvalidArgument.many(violations)
    async with uow:
        profile = await _profile(uow, resident_id)
        if cmd.document_check_id:
            check = await uow.counter.get_check(cmd.document_check_id)
            if check is None or check.resident_id != resident_id:
                raise FailedPrecondition("DOCUMENT_CHECK_NOT_FOUND", "no such document check for this resident")
        attribute = profile.verify(cmd.attribute, provenance, now, agent_id=agent_id, value=value,
                                   document_check_id=cmd.document_check_id or None)
        await uow.profiles.save(profile)
        await _agent_action(uow, cmd.caller, agent_id, "verify_attribute", resident_id, now, cmd.attribute,
                            categories=(cmd.attribute,))
        publish(uow, [profile])
        await uow.commit()
        return attribute


async def link_account_in_person(cmd: c.LinkAccountInPerson, uow: AccountsUnitOfWork, *,
                                 clock: Clock = utcnow) -> AccountView:
    agent_id = _agent(cmd.caller)
    resident_id = canonical_resident_id(cmd.resident_id)
    now = clock()
    async with uow:
        service = await _service(uow, cmd.service_id)
        account = await _link(uow, service, resident_id, cmd.account_reference, f"agent:{agent_id}", now,
                              "linked in person")
        await _agent_action(uow, cmd.caller, agent_id, "link_account", resident_id, now, account.account_id,
                            categories=IDENTIFYING)
        await uow.commit()
    return AccountView(account, resident_id)

