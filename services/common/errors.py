"""Errors the services raise below their entrypoints, free of any wire framework.

The gRPC boundary (``services.common.grpc.errors``) maps each one to a status code and a
``google.rpc.Status`` detail, once. Messages never carry attribute values, passwords or
tokens: they name fields and reasons.
"""

from __future__ import annotations

import socket

from collections.abc import Iterable


class ServiceError(Exception):
    """Base of every error a caller may legitimately provoke."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError):
    """The request is malformed: one or more fields are wrong (google.rpc.BadRequest)."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.violations: list[tuple[str, str]] = [(field, description)]

    @classmethod
    def many(cls, violations: Iterable[tuple[str, str]]) -> "InvalidArgument":
        items = list(violations)
        if not items:
            raise ValueError("InvalidArgument.many needs at least one violation")
        error = cls(*items[0])
        error.violations = items
        error.message = "; ".join(f"{f}: {d}" for f, d in items)
        error.args = (error.message,)
        return error


class _Reasoned(ServiceError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class FailedPrecondition(_Reasoned):
    """The request is well formed but the system's state refuses it (a domain rule)."""


class AlreadyExists(_Reasoned):
    """The thing the caller asked to create exists already."""


class PermissionDenied(_Reasoned):
    """The caller is known but may not do this (wrong scope, not its own service or data)."""


class NotFound(ServiceError):
    """The addressed resource does not exist (or the caller may not know it exists)."""

    def __init__(self, what: str, message: str | None = None) -> None:
        super().__init__(message or f"{what} not found")
        self.what = what
        self.reason = "NOT_FOUND"


class ResourceExhausted(_Reasoned):
    """The caller sent more than its share (a rate per caller): it may retry after
    ``retry_after`` seconds (gRPC RESOURCE_EXHAUSTED with ``google.rpc.RetryInfo``)."""

    def __init__(self, reason: str, message: str, retry_after: float) -> None:
        super().__init__(reason, message)
        self.retry_after = retry_after


class Unauthenticated(ServiceError):
    """No credentials, or credentials that do not verify."""


class Unavailable(ServiceError):
    """A dependency is unavailable; the caller may retry."""


def dependency_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says a dependency (the database, NATS, another service) could not be
    reached or answered in time, rather than that our code is wrong: the caller may retry, and
    gets UNAVAILABLE (gRPC) or 503 (HTTP) instead of INTERNAL/500 (AIP-193: UNAVAILABLE is the
    retryable "service is currently unavailable")."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (ConnectionError, TimeoutError, socket.gaierror)):
            return True
        module = type(error).__module__ or ""
        name = type(error).__name__
        if module.startswith("asyncpg") and name in _ASYNCPG_UNAVAILABLE:
            return True
        if module.startswith("sqlalchemy") and (getattr(error, "connection_invalidated", False)
                                                or name == "TimeoutError"):   # pool exhausted
            return True
        if module.startswith("sqlite3") and name == "OperationalError" and "locked" in str(error):
            return True   # a writer held the lock past the busy timeout
        # SQLAlchemy wraps the driver's error (``orig``); the driver, the socket's
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
    return False


def unstorable_text(error: BaseException) -> bool:
    """Whether ``error`` says a string from the request is text no database stores: a NUL
    (PostgreSQL refuses it in ``text``, SQLSTATE 22021, and ``\\u0000`` in ``jsonb``, 22P05) or a
    lone UTF-16 surrogate (not UTF-8, RFC 3629 s. 3: the driver cannot encode it). Such a
    string reaches a query only from inside an encoded parameter the front cannot see into
    (a JSON escape in a JWT or a JSON parameter, issue 16): the caller's error, answered
    INVALID_ARGUMENT / 400 ``invalid_request``, not a bug answered INTERNAL / 500."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, UnicodeEncodeError) and "surrogate" in (error.reason or ""):
            return True
        if getattr(error, "sqlstate", None) in ("22021", "22P05"):
            return True
        if type(error).__module__.startswith("asyncpg") and "surrogates not allowed" in str(error):
            return True
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
    return False


_ASYNCPG_UNAVAILABLE = frozenset({
    "ConnectionDoesNotExistError", "ConnectionFailureError", "PostgresConnectionError", "InterfaceError",
    "InternalClientError", "AdminShutdownError", "CrashShutdownError", "CannotConnectNowError",
    "OperatorInterventionError", "TooManyConnectionsError", "QueryCanceledError",
})
