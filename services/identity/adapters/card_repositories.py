"""The carte citoyenne's storage (migrations 0023, 0115): ``card.issuance.CardStore`` on SQLAlchemy."""

from __future__ import annotations

import json

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, String, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from services.identity.adapters.orm import Base
from services.identity.adapters import crypto
from services.identity.card.issuance import CardAccess, CardOffer, Holder, IssuedCard
from services.identity.card.presentation import Verification


class CardOfferRow(Base):
    __tablename__ = "card_offers"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tx_code_hash: Mapped[str] = mapped_column(String(64))
    resident_id: Mapped[str] = mapped_column(String(32), index=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    holder_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    renewable_until: Mapped[int] = mapped_column(BigInteger, default=0)
    wallet_jkt: Mapped[str | None] = mapped_column(String(64))


class CardAccessRow(Base):
    __tablename__ = "card_access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[int] = mapped_column(BigInteger)
    offer_code_hash: Mapped[str] = mapped_column(String(64))


class IssuedCardRow(Base):
    __tablename__ = "issued_cards"

    card_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(32), index=True)
    status_index: Mapped[int] = mapped_column(Integer, unique=True)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    # indexed (migration 0116): the issuer's JWKS keeps a rotated-out card key while a card it
    # signed has not expired
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    kid: Mapped[str | None] = mapped_column(String(64))


class CardVerificationRow(Base):
    """A borough system's OpenID4VP request (migration 0115)."""

    __tablename__ = "card_verifications"

    transaction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    claims: Mapped[str] = mapped_column(String(400))
    purpose: Mapped[str] = mapped_column(String(200), default="")
    nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(40))
    disclosed: Mapped[str | None] = mapped_column(Text)
    resident_id: Mapped[str | None] = mapped_column(String(32))
    answered_at: Mapped[int | None] = mapped_column(BigInteger)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)


def _verification(row: CardVerificationRow) -> Verification:
    return Verification(row.transaction_id, row.request_id, row.client_id, tuple(json.loads(row.claims)), row.purpose,
                        row.nonce, row.created_at, row.expires_at, row.status, row.reason,
                        None if row.disclosed is None else json.loads(row.disclosed), row.resident_id,
                        row.answered_at, row.delivered_at)


def _card(row: IssuedCardRow) -> IssuedCard:
    return IssuedCard(row.card_id, row.resident_id, row.status_index, row.issued_at, row.expires_at,
                      row.revoked_at, row.revoked_reason, row.kid)


class SqlCardStore:
    """The holder's attributes of an offer are sealed (AES-GCM with the key-encryption key,
    bound to the offer) while they wait for the wallet, and erased when the card is issued."""

    def __init__(self, session: AsyncSession, kek: bytes | None) -> None:
        self.session = session
        self.kek = kek

    def _seal(self, offer: CardOffer) -> bytes | None:
        if offer.holder is None:
            return None
        if self.kek is None:
            raise RuntimeError("the card store needs the key-encryption key")
        return crypto.encrypt(self.kek, json.dumps(offer.holder.to_json()).encode(), offer.code_hash.encode())

    def _unseal(self, row: CardOfferRow) -> Holder | None:
        if row.holder_sealed is None or self.kek is None:
            return None
        return Holder.from_json(json.loads(crypto.decrypt(self.kek, row.holder_sealed, row.code_hash.encode())))

    async def add_offer(self, offer: CardOffer) -> None:
        self.session.add(CardOfferRow(code_hash=offer.code_hash, tx_code_hash=offer.tx_code_hash,
                                      resident_id=offer.resident_id, expires_at=offer.expires_at,
                                      holder_sealed=self._seal(offer), used=offer.used,
                                      failed_attempts=offer.failed_attempts))
        await self.session.flush()

    async def get_offer(self, code_hash: str) -> CardOffer | None:
        # FOR UPDATE: two wallets racing with one code cannot both pass (ignored by SQLite,
        # whose writes are serialized anyway).
        row = (await self.session.execute(
            select(CardOfferRow).where(CardOfferRow.code_hash == code_hash).with_for_update())).scalar_one_or_none()
        return None if row is None else self._offer(row)

    def _offer(self, row: CardOfferRow) -> CardOffer:
        return CardOffer(row.code_hash, row.tx_code_hash, row.resident_id, row.expires_at, self._unseal(row),
                         row.used, row.failed_attempts, row.refresh_hash, row.renewable_until, row.wallet_jkt)

    async def offer_by_refresh(self, refresh_hash: str) -> CardOffer | None:
        row = (await self.session.execute(
            select(CardOfferRow).where(CardOfferRow.refresh_hash == refresh_hash).with_for_update())).scalar_one_or_none()
        return None if row is None else self._offer(row)

    async def offers_for(self, resident_id: str) -> list[CardOffer]:
        rows = (await self.session.execute(
            select(CardOfferRow).where(CardOfferRow.resident_id == resident_id))).scalars().all()
        return [self._offer(r) for r in rows]

    async def update_offer(self, offer: CardOffer) -> None:
        row = await self.session.get(CardOfferRow, offer.code_hash)
        row.used, row.failed_attempts = offer.used, offer.failed_attempts
        row.refresh_hash, row.renewable_until = offer.refresh_hash, offer.renewable_until
        row.wallet_jkt = offer.wallet_jkt
        if offer.holder is None:
            row.holder_sealed = None
        await self.session.flush()

    async def add_access(self, access: CardAccess) -> None:
        self.session.add(CardAccessRow(token_hash=access.token_hash, resident_id=access.resident_id,
                                       expires_at=access.expires_at, offer_code_hash=access.offer_code_hash))
        await self.session.flush()

    async def get_access(self, token_hash: str) -> CardAccess | None:
        row = await self.session.get(CardAccessRow, token_hash)
        return None if row is None else CardAccess(row.token_hash, row.resident_id, row.expires_at, row.offer_code_hash)

    async def remove_access(self, token_hash: str) -> None:
        row = await self.session.get(CardAccessRow, token_hash)
        if row is not None:
            await self.session.delete(row)
            await self.session.flush()

    async def next_status_index(self) -> int:
        # The unique constraint on status_index makes a concurrent duplicate fail at commit
        # (the wallet retries) rather than share a bit between two cards.
        highest = (await self.session.execute(select(func.max(IssuedCardRow.status_index)))).scalar()
        return 0 if highest is None else highest + 1

    async def add_card(self, card: IssuedCard) -> None:
        self.session.add(IssuedCardRow(card_id=card.card_id, resident_id=card.resident_id,
                                       status_index=card.status_index, issued_at=card.issued_at,
                                       expires_at=card.expires_at, revoked_at=card.revoked_at,
                                       revoked_reason=card.revoked_reason, kid=card.kid))
        await self.session.flush()

    async def cards_for(self, resident_id: str) -> list[IssuedCard]:
        rows = (await self.session.execute(select(IssuedCardRow).where(IssuedCardRow.resident_id == resident_id)
                                           .order_by(IssuedCardRow.issued_at))).scalars().all()
        return [_card(r) for r in rows]

    async def update_card(self, card: IssuedCard) -> None:
        row = await self.session.get(IssuedCardRow, card.card_id)
        row.revoked_at, row.revoked_reason = card.revoked_at, card.revoked_reason
        await self.session.flush()

    async def revoked_indexes(self) -> list[int]:
        rows = await self.session.execute(select(IssuedCardRow.status_index).where(IssuedCardRow.revoked_at.is_not(None)))
        return [r for (r,) in rows.all()]

    async def signing_kids_in_use(self, now: int) -> set[str | None]:
        """The card keys that signed a card not yet expired (revoked ones too: a verifier must
        still be able to check the signature before it reads the revocation)."""
        rows = await self.session.execute(select(IssuedCardRow.kid).where(IssuedCardRow.expires_at >= now).distinct())
        return {kid for (kid,) in rows.all()}

    async def card_by_status_index(self, index: int) -> IssuedCard | None:
        row = (await self.session.execute(
            select(IssuedCardRow).where(IssuedCardRow.status_index == index))).scalar_one_or_none()
        return None if row is None else _card(row)

    # --- OpenID4VP requests of borough systems (card/presentation.py) ---

    async def add_verification(self, verification: Verification) -> None:
        self.session.add(CardVerificationRow(
            transaction_id=verification.transaction_id, request_id=verification.request_id,
            client_id=verification.client_id, claims=json.dumps(list(verification.claims)),
            purpose=verification.purpose, nonce=verification.nonce, created_at=verification.created_at,
            expires_at=verification.expires_at, status=verification.status))
        await self.session.flush()

    async def get_verification(self, transaction_id: str, *, for_update: bool = False) -> Verification | None:
        query = select(CardVerificationRow).where(CardVerificationRow.transaction_id == transaction_id)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).scalar_one_or_none()
        return None if row is None else _verification(row)

    async def verification_by_request(self, request_id: str, *, for_update: bool = False) -> Verification | None:
        # FOR UPDATE: two answers racing for one request cannot both be recorded
        query = select(CardVerificationRow).where(CardVerificationRow.request_id == request_id)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).scalar_one_or_none()
        return None if row is None else _verification(row)

    async def update_verification(self, verification: Verification) -> None:
        row = await self.session.get(CardVerificationRow, verification.transaction_id)
        row.status, row.reason, row.resident_id = verification.status, verification.reason, verification.resident_id
        row.disclosed = None if verification.disclosed is None else json.dumps(verification.disclosed)
        row.answered_at, row.delivered_at = verification.answered_at, verification.delivered_at
        await self.session.flush()
