"""In-memory fakes of the accounts ports, for unit tests of the service layer."""

from __future__ import annotations

import copy
import hashlib

from services.accounts.domain.release import ConsentDecision
from services.common.errors import Unavailable


def _copy(obj):
    if obj is None:
        return None
    clone = copy.deepcopy(obj)
    if hasattr(clone, "events"):
        clone.events = []
    return clone


class _Store:
    def __init__(self):
        self.profiles = {}
        self.services = {}
        self.accounts = {}
        self.checks = {}
        self.actions = []
        self.outbox = []


class FakeProfiles:
    def __init__(self, store, pending):
        self.s, self.p = store, pending

    async def get(self, resident_id):
        return _copy(self.p.get(resident_id) or self.s.profiles.get(resident_id))

    async def add(self, profile):
        self.p[profile.resident_id] = profile

    async def save(self, profile):
        self.p[profile.resident_id] = profile

    async def find(self, *, limit=10, **criteria):
        out = []
        for profile in self.s.profiles.values():
            if all(profile.get(k) is not None and profile.get(k).value == v for k, v in criteria.items() if v):
                out.append(_copy(profile))
        return out[:limit]


class FakeServices:
    def __init__(self, store, pending):
        self.s, self.p = store, pending

    async def get(self, service_id):
        return _copy(self.s.services.get(service_id))

    async def get_by_client(self, client_id):
        return next((_copy(s) for s in self.s.services.values() if s.client_id == client_id), None)

    async def add(self, service):
        self.p[service.service_id] = service

    save = add

    async def list(self, *, kind, borough, after, limit):
        items = sorted(self.s.services.values(), key=lambda s: s.service_id)
        items = [s for s in items if (kind is None or s.kind == kind) and (borough is None or s.borough == borough)
                 and (after is None or s.service_id > after)]
        return [_copy(s) for s in items[:limit]]


class FakeAccounts:
    def __init__(self, store, pending):
        self.s, self.p = store, pending

    def _all(self):
        return {**self.s.accounts, **self.p}.values()

    async def get(self, account_id):
        return _copy(self.s.accounts.get(account_id))

    async def add(self, account):
        self.p[account.account_id] = account

    save = add

    async def open_for(self, resident_id, service_id):
        return next((_copy(a) for a in self._all() if a.resident_id == resident_id and a.service_id == service_id
                     and a.is_open), None)

    async def open_by_reference(self, service_id, reference):
        return next((_copy(a) for a in self._all() if a.service_id == service_id
                     and a.account_reference == reference and a.is_open), None)

    async def list(self, *, resident_id, service_id, state, after, limit, account_reference=None):
        items = sorted(self.s.accounts.values(), key=lambda a: a.account_id)
        items = [a for a in items if (resident_id is None or a.resident_id == resident_id)
                 and (account_reference is None or a.account_reference == account_reference)
                 and (service_id is None or a.service_id == service_id) and (state is None or a.state == state)
                 and (after is None or a.account_id > after)]
        return [_copy(a) for a in items[:limit]]


class FakeCounter:
    def __init__(self, store, checks, actions):
        self.s, self.checks, self.actions = store, checks, actions

    async def add_check(self, check):
        self.checks[check.check_id] = check

    async def get_check(self, check_id):
        return self.s.checks.get(check_id)

    async def checks_for(self, resident_id):
        return sorted((c for c in self.s.checks.values() if c.resident_id == resident_id), key=lambda c: c.checked_at)

    async def record(self, action):
        self.actions.append(action)

    async def actions_for(self, resident_id):
        return [a for a in self.s.actions if a.resident_id == resident_id]


class FakeUnitOfWork:
    def __init__(self, store: _Store):
        self.store = store

    async def __aenter__(self):
        self._profiles, self._services, self._accounts, self._checks, self._actions, self._events = {}, {}, {}, {}, [], []
        self.profiles = FakeProfiles(self.store, self._profiles)
        self.services = FakeServices(self.store, self._services)
        self.accounts = FakeAccounts(self.store, self._accounts)
        self.counter = FakeCounter(self.store, self._checks, self._actions)
        return self

    async def __aexit__(self, *exc):
        return None

    def add_event(self, event):
        self._events.append(event)

    async def commit(self):
        self.store.profiles.update(copy.deepcopy(self._profiles))
        self.store.services.update(copy.deepcopy(self._services))
        self.store.accounts.update(copy.deepcopy(self._accounts))
        self.store.checks.update(self._checks)
        self.store.actions.extend(self._actions)
        self.store.outbox.extend(self._events)
        self._events = []


class FakeConsent:
    """Answers from a table {(resident, recipient, purpose, category): ConsentDecision}."""

    def __init__(self):
        self.allowed: dict[tuple, ConsentDecision] = {}
        self.records: list[dict] = []
        self.checks = 0
        self.down = False
        self.record_down = False

    async def check(self, *, resident_id, recipient_id, purpose_id, categories):
        if self.down:
            raise Unavailable("consent ledger unavailable")
        self.checks += 1
        return {c: self.allowed.get((resident_id, recipient_id, purpose_id, c), ConsentDecision(c, False, reason="NO_CONSENT"))
                for c in categories}

    async def record_access(self, **record):
        if self.down or self.record_down:
            raise Unavailable("consent ledger unavailable")
        self.records.append(record)

    async def check_and_record(self, *, access_id, resident_id, recipient_id, purpose_id, categories, available,
                               withheld):
        """As the ledger's CheckAndRecord: decide, record what is allowed and available."""
        decisions = await self.check(resident_id=resident_id, recipient_id=recipient_id, purpose_id=purpose_id,
                                     categories=categories)
        released = tuple(c for c in categories if decisions[c].allowed and c in available)
        if released:
            if self.record_down:
                raise Unavailable("consent ledger unavailable")
            self.records.append({"access_id": access_id, "resident_id": resident_id, "recipient_id": recipient_id,
                                 "purpose_id": purpose_id, "categories": released,
                                 "withheld": [*(c for c in categories if c not in released), *withheld]})
        return decisions, released


class FakeResolver:
    """Pairwise subjects as identity computes them (a keyed hash per client), reversible here."""

    def __init__(self):
        self.reverse: dict[tuple[str, str], str] = {}

    async def subject_for(self, client_id, resident_id):
        import base64
        digest = hashlib.sha256(f"{client_id}\x00{resident_id}".encode()).digest()
        subject = base64.b32encode(digest).decode().rstrip("=").lower()
        self.reverse[(client_id, subject)] = resident_id
        return subject

    async def resident_for(self, client_id, subject):
        return self.reverse.get((client_id, subject))
