"""Tables of the OpenID provider (migration ``0002_oauth``), on identity's declarative base.

Codes, refresh tokens and session cookies are stored as SHA-256 hashes only.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.identity.adapters.orm import Base


class AuthorizationCodeRow(Base):
    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    resident_id: Mapped[str] = mapped_column(String(12), index=True)   # migration 0011
    session_id: Mapped[str] = mapped_column(String(36))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scope: Mapped[str] = mapped_column(String(1024))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    nonce: Mapped[str | None] = mapped_column(String(512))
    auth_time: Mapped[int] = mapped_column(Integer)
    acr: Mapped[str] = mapped_column(String(40))
    amr: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    consumed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    family_id: Mapped[str | None] = mapped_column(String(36))
    #: RFC 9449 s. 10: the ``dpop_jkt`` the authorization request named (migration 0017)
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))
    # issue 22, migration 0021: a sign-in on someone's behalf under a mandate
    represented_id: Mapped[str | None] = mapped_column(String(12))
    mandate_id: Mapped[str | None] = mapped_column(String(36))
    authorization_details: Mapped[list | None] = mapped_column(JSON)


class RefreshTokenRow(Base):
    __tablename__ = "oauth_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    resident_id: Mapped[str] = mapped_column(String(12), index=True)
    session_id: Mapped[str] = mapped_column(String(36), index=True)
    scope: Mapped[str] = mapped_column(String(1024))
    auth_time: Mapped[int] = mapped_column(Integer)
    acr: Mapped[str] = mapped_column(String(40))
    amr: Mapped[list] = mapped_column(JSON, default=list)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(10))
    #: RFC 9449 s. 5: a public client's refresh token answers only to this key (migration 0017)
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))


class GrantRow(Base):
    __tablename__ = "oauth_grants"

    grant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(12))
    client_id: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    scopes_refused: Mapped[list] = mapped_column(JSON, default=list)
    purposes_accepted: Mapped[list] = mapped_column(JSON, default=list)
    purposes_refused: Mapped[list] = mapped_column(JSON, default=list)
    #: {purpose: [categories]} as ticked (migration 0004; NULL for grants made before it)
    purpose_categories: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_oauth_grants_resident_client", "resident_id", "client_id"),)


class SsoSessionRow(Base):
    __tablename__ = "sso_sessions"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    resident_id: Mapped[str] = mapped_column(String(12), index=True)
    auth_time: Mapped[int] = mapped_column(Integer)
    amr: Mapped[list] = mapped_column(JSON, default=list)
    acr: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RevokedAccessTokenRow(Base):
    """RFC 7009 s. 2: a revoked JWT access token's ``jti``, kept until the token expires."""

    __tablename__ = "revoked_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class ReleaseWindowRow(Base):
    """Issue 15: the last record of a repeated read (userinfo, introspection, refresh) per
    window key — a SHA-256 of channel, client, resident and categories — shared by every
    identity process on this database (migration 0011)."""

    __tablename__ = "release_windows"

    window_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class SessionClientRow(Base):
    """A client a resident signed in to during an SSO session: who to tell at logout
    (Back-Channel Logout 1.0 s. 2.7, Front-Channel Logout 1.0 s. 3; migration 0009)."""

    __tablename__ = "oauth_session_clients"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LogoutDeliveryRow(Base):
    """One back-channel logout to deliver to a client (Back-Channel Logout 1.0 s. 2.8),
    written with the logout that causes it, retried with backoff, its outcome recorded."""

    __tablename__ = "oauth_logout_deliveries"

    delivery_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str] = mapped_column(String(36))
    resident_id: Mapped[str] = mapped_column(String(12))
    uri: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    gave_up_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(String(200), default="", server_default="")


class ClientAssertionRow(Base):
    """A ``private_key_jwt`` assertion's ``jti`` already used, kept until the assertion
    expires (RFC 7523 s. 3 item 7: the server may refuse a replayed ``jti``)."""

    __tablename__ = "oauth_client_assertions"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class DpopProofRow(Base):
    """A DPoP proof already used (RFC 9449 s. 11.1): the hash of its key thumbprint and
    ``jti``, kept until the proof is too old to be accepted anyway (migration 0017)."""

    __tablename__ = "oauth_dpop_proofs"

    proof_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class PushedRequestRow(Base):
    """A pushed authorization request (RFC 9126 s. 2.2): its parameters under the hash of its
    ``request_uri``, single use, short-lived (migration 0009)."""

    __tablename__ = "oauth_pushed_requests"

    request_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict] = mapped_column(JSON)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
