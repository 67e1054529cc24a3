"""The consent service's tables (SQLAlchemy 2.x typed models). The Alembic revision
``0001_consent`` creates exactly these, plus the append-only triggers; the domain never
imports this module.

- ``ledger_entries``: one row per Merkle leaf. ``idx`` is the leaf index (0, 1, 2, … with
  no gap); ``leaf_data`` holds the canonical bytes verbatim (the source of truth), the other
  columns are indexes over them. Never updated, never deleted (database triggers).
- ``merkle_nodes``: the hash of every complete subtree (RFC 9162 s. 2.1.1), written once
  when its last leaf arrives, so a proof reads O(log n) rows. Never updated or deleted.
- ``ledger_head``: a single row; appenders lock it (``SELECT … FOR UPDATE``) so appends
  from every replica form one linear log.
- ``catalogue_version``: a single row that database triggers (revision ``0003``) bump on
  every change to ``purposes``, ``data_categories`` or ``recipients``; Check reads it with
  the consent entries to know whether its in-memory catalogue is current.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Index, Integer, LargeBinary, MetaData,
                        SmallInteger, String, Text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.outbox import add_outbox_tables

NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s",
          "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
          "pk": "pk_%(table_name)s"}
TZ = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


add_outbox_tables(Base.metadata)


class LedgerEntryRow(Base):
    __tablename__ = "ledger_entries"
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_id: Mapped[str] = mapped_column(String(36), unique=True)
    entry_type: Mapped[str] = mapped_column(String(40))
    resident_id: Mapped[str] = mapped_column(String(12))
    consent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    access_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    recipient_id: Mapped[str | None] = mapped_column(String(64))
    purpose_id: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    entry_time: Mapped[dt.datetime] = mapped_column(TZ)
    leaf_data: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Issue 22 (migration 0014): a mandate entry's mandate and mandatary, so a mandate's steps
    # and a mandatary's mandates are found by index (domain/binding.py checks them too).
    mandate_id: Mapped[str | None] = mapped_column(String(36))
    mandatary_id: Mapped[str | None] = mapped_column(String(12))

    __table_args__ = (
        Index("ix_ledger_entries_resident", "resident_id", "idx"),
        Index("ix_ledger_entries_expiry", "entry_type", "expires_at"),
        Index("ix_ledger_entries_mandate", "mandate_id"),
        Index("ix_ledger_entries_mandatary", "mandatary_id"),
    )


class MerkleNodeRow(Base):
    __tablename__ = "merkle_nodes"
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerHeadRow(Base):
    __tablename__ = "ledger_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger)


class CatalogueVersionRow(Base):
    __tablename__ = "catalogue_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class PurposeRow(Base):
    __tablename__ = "purposes"
    purpose_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    dpv_iri: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(String(40))
    biometric: Mapped[bool] = mapped_column(Boolean)
    title_fr: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(Text)
    description_fr: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    data_categories: Mapped[list] = mapped_column(JSON)
    max_validity_days: Mapped[int] = mapped_column(Integer)
    non_biometric_alternative_id: Mapped[str] = mapped_column(String(64))
    non_biometric_alternative_fr: Mapped[str] = mapped_column(Text)
    non_biometric_alternative_en: Mapped[str] = mapped_column(Text)
    retention_fr: Mapped[str] = mapped_column(Text)
    retention_en: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(TZ)


class DataCategoryRow(Base):
    __tablename__ = "data_categories"
    category_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label_fr: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    biometric: Mapped[bool] = mapped_column(Boolean)


class RecipientRow(Base):
    __tablename__ = "recipients"
    recipient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), unique=True)
    name_fr: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str] = mapped_column(String(200))
    purposes: Mapped[list] = mapped_column(JSON)
    data_categories: Mapped[list] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(TZ)


class CosignatureRow(Base):
    """A witness's cosignature of the checkpoint of one tree size (revision ``0007``)."""
    __tablename__ = "ledger_cosignatures"
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(100), primary_key=True)
    key_id: Mapped[bytes] = mapped_column(LargeBinary(4))
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    cosigned_at: Mapped[int] = mapped_column(BigInteger)  # the cosignature's own timestamp (unix s)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    received_at: Mapped[dt.datetime] = mapped_column(TZ)


class LogKeyRow(Base):
    __tablename__ = "log_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The private JWK, AES-256-GCM encrypted under MTLID_KEY_ENCRYPTION_KEY.
    private_jwk: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(TZ)
    # Revision 0010: the JWS by which the key this one replaces handed over to it (none for
    # the first key); the newest announced key signs (LEDGER.md "Key rotation").
    announcement: Mapped[str | None] = mapped_column(Text, nullable=True)
