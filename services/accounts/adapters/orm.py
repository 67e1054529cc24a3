"""The accounts service's tables (SQLAlchemy 2.x typed models). The Alembic revision
``0001_accounts`` creates exactly these; the domain never imports this module.

Attribute values are stored one row per (resident, attribute), with their provenance, so a
verification is a property of one value and dropping it touches nothing else. Document checks
store the type and last characters only; nothing here can hold an image.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, MetaData, String, text
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


class ProfileRow(Base):
    __tablename__ = "profiles"
    resident_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(TZ)
    updated_at: Mapped[dt.datetime] = mapped_column(TZ)


class ProfileAttributeRow(Base):
    __tablename__ = "profile_attributes"
    resident_id: Mapped[str] = mapped_column(String(12), ForeignKey("profiles.resident_id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))
    provenance: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(TZ)
    verified_at: Mapped[dt.datetime | None] = mapped_column(TZ, nullable=True)
    verified_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    document_check_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    source_service_id: Mapped[str | None] = mapped_column(String(63), nullable=True)
    # Counter search by e-mail, phone or name looks values up by attribute.
    __table_args__ = (Index("ix_profile_attributes_name_value", "name", "value"),)


class ServiceRow(Base):
    __tablename__ = "services"
    service_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name_fr: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(200))
    borough: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_id: Mapped[str] = mapped_column(String(128), unique=True)
    attributes: Mapped[list] = mapped_column(JSON)
    purposes: Mapped[list] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(TZ)
    updated_at: Mapped[dt.datetime] = mapped_column(TZ)


_OPEN = text("state <> 'closed'")


class ServiceAccountRow(Base):
    __tablename__ = "service_accounts"
    account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(12), ForeignKey("profiles.resident_id"), index=True)
    service_id: Mapped[str] = mapped_column(String(63), ForeignKey("services.service_id"))
    account_reference: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(TZ)
    updated_at: Mapped[dt.datetime] = mapped_column(TZ)
    unlink_requested_at: Mapped[dt.datetime | None] = mapped_column(TZ, nullable=True)
    # The database, not only the handler, holds the rules "one open account per resident and
    # service" and "one open account per reference": two replicas racing cannot break them.
    __table_args__ = (
        Index("uq_service_accounts_open_resident", "resident_id", "service_id", unique=True,
              sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("uq_service_accounts_open_reference", "service_id", "account_reference", unique=True,
              sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("ix_service_accounts_service", "service_id", "account_id"),
    )


class AccountTransitionRow(Base):
    __tablename__ = "account_transitions"
    account_id: Mapped[str] = mapped_column(String(40), ForeignKey("service_accounts.account_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(160))
    reason: Mapped[str] = mapped_column(String(500))
    at: Mapped[dt.datetime] = mapped_column(TZ)


class DocumentCheckRow(Base):
    __tablename__ = "document_checks"
    check_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(12), ForeignKey("profiles.resident_id"), index=True)
    document_type: Mapped[str] = mapped_column(String(32))
    last_digits: Mapped[str] = mapped_column(String(4))
    agent_id: Mapped[str] = mapped_column(String(128))
    checked_at: Mapped[dt.datetime] = mapped_column(TZ)


class AgentActionRow(Base):
    __tablename__ = "agent_actions"
    action_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(128), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(40))
    resident_id: Mapped[str] = mapped_column(String(12), index=True)
    target: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(TZ)
    #: the token's ``office`` claim (migration 0006); "" when the agent's system gives none
    office: Mapped[str] = mapped_column(String(100), default="", server_default="")


__all__ = ["Base", "ProfileRow", "ProfileAttributeRow", "ServiceRow", "ServiceAccountRow", "AccountTransitionRow",
           "DocumentCheckRow", "AgentActionRow"]
