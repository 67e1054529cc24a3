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
    email: Mapped[str | None] = mapped_column(String(254))   # None: enrolled at a counter without e-mail
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
    # The one-time code printed on the activation letter of a resident enrolled at a counter.
    activation_code_hash: Mapped[str | None] = mapped_column(String(100))
    activation_code_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Issue 21 (migration 0010): a new sign-in address waiting for its code, "this was not
    # me" (a new password at the next sign-in), closed at the resident's request.
    pending_email: Mapped[str | None] = mapped_column(String(254))
    pending_email_code_hash: Mapped[str | None] = mapped_column(String(100))
    pending_email_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    password_change_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Migration 0018: personal data deleted after the closed-account retention period.
    purged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


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
    # OpenID Connect Back-/Front-Channel Logout 1.0 (migration 0009); "" = none
    backchannel_logout_uri: Mapped[str] = mapped_column(String(2048), default="", server_default="")
    frontchannel_logout_uri: Mapped[str] = mapped_column(String(2048), default="", server_default="")
    # private_key_jwt (RFC 7523): the client's public keys, registered or fetched (migration 0009)
    jwks: Mapped[dict | None] = mapped_column(JSON)
    jwks_uri: Mapped[str] = mapped_column(String(2048), default="", server_default="")
    # a borough system's own staff directory (migration 0012, issue 17)
    staff_directory_issuer: Mapped[str] = mapped_column(String(2048), default="", server_default="")
    staff_directory_jwks: Mapped[dict | None] = mapped_column(JSON)
    staff_directory_jwks_uri: Mapped[str] = mapped_column(String(2048), default="", server_default="")
    # RFC 9126 s. 6: this client's authorization requests must be pushed (migration 0009)
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(Boolean, default=False,
                                                                        server_default=false())
    # RFC 9449 s. 5.2: every token request of this client carries a DPoP proof (migration 0017)
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # issue 22: signing in on someone's behalf under a mandate (migration 0021)
    accepts_mandates: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


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
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    office: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (Index("ix_agent_actions_agent_id", "agent_id"),)


class AgentRow(Base):
    """A counter agent: staff, not a resident (issue 17). Never deleted: disabled."""

    __tablename__ = "agents"

    agent_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    office: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    last_totp_step: Mapped[int | None] = mapped_column(BigInteger)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class SignInRow(Base):
    """One sign-in of a resident, succeeded or refused (migration 0004; kept 12 months)."""

    __tablename__ = "sign_ins"

    sign_in_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(12))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    client_name: Mapped[str | None] = mapped_column(String(200))
    methods: Mapped[list] = mapped_column(JSON, default=list)
    acr: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(40))
    session_id: Mapped[str | None] = mapped_column(String(64))  # migration 0018

    __table_args__ = (Index("ix_sign_ins_resident_time", "resident_id", "occurred_at"),)


Index("uq_agents_email_lower", func.lower(AgentRow.email), unique=True)


class AgentSessionRow(Base):
    """An agent's sign-in at the identity front: 8 h at most, ended after 15 min idle."""

    __tablename__ = "agent_sessions"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    agent_id: Mapped[str] = mapped_column(String(12), index=True)
    amr: Mapped[list] = mapped_column(JSON, default=list)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


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


class RecoveryCodeRow(Base):
    """A resident's recovery code (migration 0015): its keyed hash only, used once."""

    __tablename__ = "recovery_codes"

    resident_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PasskeyRow(Base):
    """A WebAuthn credential of a resident or an agent (migration 0016)."""

    __tablename__ = "passkeys"

    credential_id: Mapped[str] = mapped_column(String(1400), primary_key=True)   # base64url, as browsers send it
    owner_kind: Mapped[str] = mapped_column(String(10))
    owner_id: Mapped[str] = mapped_column(String(12))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    multi_device: Mapped[bool] = mapped_column(Boolean)
    transports: Mapped[list] = mapped_column(JSON, default=list)
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_passkeys_owner", "owner_kind", "owner_id"),)


class WebAuthnChallengeRow(Base):
    """A challenge handed to a browser, until used or expired (migration 0016)."""

    __tablename__ = "webauthn_challenges"

    challenge: Mapped[str] = mapped_column(String(100), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str | None] = mapped_column(String(40))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
