"""An in-memory card store and unit of work for the issuer's unit tests (SQL adapter: integration)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from typing import Any

from services.identity.card.issuance import CardAccess, CardOffer, Holder, IssuedCard
from services.identity.domain.assurance import LevelOfAssurance


@dataclasses.dataclass
class FakeResident:
    resident_id: str
    level: LevelOfAssurance = LevelOfAssurance.VERIFIED
    disabled: bool = False
    closed_at: Any = None


class Tables:
    def __init__(self):
        self.offers: dict[str, CardOffer] = {}
        self.access: dict[str, CardAccess] = {}
        self.cards: list[IssuedCard] = []
        self.residents: dict[str, FakeResident] = {}
        self.outbox: list[Any] = []


class FakeCards:
    def __init__(self, t: Tables):
        self.t = t

    async def add_offer(self, offer): self.t.offers[offer.code_hash] = copy.copy(offer)
    async def get_offer(self, code_hash): return copy.copy(self.t.offers.get(code_hash))
    async def update_offer(self, offer): self.t.offers[offer.code_hash] = copy.copy(offer)

    async def offer_by_refresh(self, refresh_hash):
        return next((copy.copy(o) for o in self.t.offers.values() if o.refresh_hash == refresh_hash), None)

    async def offers_for(self, resident_id):
        return [copy.copy(o) for o in self.t.offers.values() if o.resident_id == resident_id]
    async def add_access(self, access): self.t.access[access.token_hash] = access
    async def get_access(self, token_hash): return self.t.access.get(token_hash)
    async def remove_access(self, token_hash): self.t.access.pop(token_hash, None)
    async def next_status_index(self): return len(self.t.cards)
    async def add_card(self, card): self.t.cards.append(copy.copy(card))
    async def cards_for(self, resident_id): return [copy.copy(c) for c in self.t.cards if c.resident_id == resident_id]

    async def update_card(self, card):
        self.t.cards = [copy.copy(card) if c.card_id == card.card_id else c for c in self.t.cards]

    async def revoked_indexes(self): return [c.status_index for c in self.t.cards if c.revoked_at is not None]
    async def signing_kids_in_use(self, now): return {c.kid for c in self.t.cards if c.expires_at >= now}


class FakeResidents:
    def __init__(self, t: Tables):
        self.t = t

    async def get(self, resident_id): return self.t.residents.get(resident_id)


class FakeUnitOfWork:
    """Commits by swapping in the copy it worked on: leaving without commit() leaves no trace."""

    def __init__(self, t: Tables):
        self.committed = t

    async def __aenter__(self):
        self.t = copy.deepcopy(self.committed)
        self.cards, self.residents, self.events = FakeCards(self.t), FakeResidents(self.t), []
        return self

    async def __aexit__(self, *exc):
        return None

    def add_event(self, event): self.events.append(event)

    async def commit(self):
        self.t.outbox.extend(self.events)
        self.committed.__dict__.update(copy.deepcopy(self.t.__dict__))
        self.events = []


ELOISE = Holder(given_name="Éloïse", family_name="Tremblay", birthdate=dt.date(1990, 4, 2),
                borough="Ahuntsic-Cartierville", resident_of_montreal=True)


#: The holder's PIN for the reference wallet in tests (chosen at setup; 6+ digits).
PIN = "482913"


def mtlid_typing_pin(argv: list[str], pin: str = PIN) -> int:
    """``mtlid wallet …`` as a script runs it: ``--pin-stdin`` and the PIN as one line of stdin
    (never an argument). Safe from a worker thread (``asyncio.to_thread``): stdin is swapped only
    for the call."""
    import io
    import sys

    from services.cli import main as mtlid

    saved, sys.stdin = sys.stdin, io.StringIO(pin + "\n")
    try:
        return mtlid([*argv, "--pin-stdin"])
    finally:
        sys.stdin = saved
