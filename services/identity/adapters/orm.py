"""Identity's tables (SQLAlchemy 2.x typed models). The migration ``0001_identity_core``
creates exactly these; the domain never imports this module.

Residents are never deleted (a citizen number is never reused): they are disabled.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Index, Integer, LargeBinary, MetaData,
                        String, false, func, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.outbox import add_outbox_tables

NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s",
          "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
          "pk": "pk_%(table_name)s"}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


add_outbox_tables(Base.metadata)


class ResidentRow(Base):
    __tablename__ = "residents"

    resident_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    level: Mapped[int] = mapped_column(Integer, default=1)
    preferred_language: Mapped[str] = mapped_column(String(2), default="fr")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_pending_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    email_code_hash: Mapped[str | None] = mapped_column(String(100))
    email_code_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    registered_by: Mapped[str] = mapped_column(String(10), default="self")
    # Issue 21 (migration 0010): a new sign-in address waiting for its code, "this was not
    # me" (a new password at the next sign-in), closed at the resident's request.
    pending_email: Mapped[str | None] = mapped_column(String(254))
    pending_email_code_hash: Mapped[str | None] = mapped_column(String(100))
    pending_email_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    password_change_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


# One account per email, whatever its case.
Index("uq_residents_email_lower", func.lower(ResidentRow.email), unique=True)


class ClientRow(Base):
    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str | None] = mapped_column(String(100))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    grant_types: Mapped[list] = mapped_column(JSON, default=list)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    audiences: Mapped[list] = mapped_column(JSON, default=list)
    subject_type: Mapped[str] = mapped_column(String(10), default="pairwise")
    sector_identifier: Mapped[str] = mapped_column(String(255), default="")
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(10), default="ES256")
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(30), default="client_secret_basic")
    is_city_client: Mapped[bool] = mapped_column(Boolean, default=False)
    purposes: Mapped[list] = mapped_column(JSON, default=list)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class SigningKeyRow(Base):
    """A signing key: next (published, not signing) → current (signing) → retired
    (published until ``not_after``, when every token it signed has expired)."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10))
    public_jwk: Mapped[dict] = mapped_column(JSON)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    activated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # At most one current and one next key per algorithm, even with two replicas
        # starting at once: the loser's insert fails and it reloads the winner's key.
        Index("uq_signing_keys_current", "alg", unique=True,
              sqlite_where=text("state = 'current'"), postgresql_where=text("state = 'current'")),
        Index("uq_signing_keys_next", "alg", unique=True,
              sqlite_where=text("state = 'next'"), postgresql_where=text("state = 'next'")),
    )


class LoginThrottleRow(Base):
    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class TotpUsedStepRow(Base):
    """RFC 6238 s. 5.2: a step, once accepted, is never accepted again (primary key)."""

    __tablename__ = "totp_used_steps"

    resident_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    used_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AgentActionRow(Base):
    """Every counter agent's action, with the agent's identity (the token's ``act.sub``)."""

    __tablename__ = "agent_actions"

    action_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    resident_id: Mapped[str] = mapped_column(String(12), index=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ResidentClosureRow(Base):
    """A closure at the resident's request (the receipt's number), kept after a reopening at
    a counter (by which agent). Never deleted: it is the record of what the resident asked."""

    __tablename__ = "resident_closures"

    closure_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(12), index=True)
    closed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str] = mapped_column(String(20))
    reopened_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reopened_by: Mapped[str | None] = mapped_column(String(200))


class SecurityReportRow(Base):
    """A resident's "this was not me": when, about which session (if one was named), and how
    many sessions it ended."""

    __tablename__ = "security_reports"

    report_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(12), index=True)
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    session_id: Mapped[str | None] = mapped_column(String(36))
    sessions_ended: Mapped[int] = mapped_column(Integer)
