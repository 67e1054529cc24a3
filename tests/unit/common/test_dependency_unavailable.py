"""Which failures mean "a dependency is away" (UNAVAILABLE/503, retry) and which are bugs."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest
import sqlalchemy.exc

from services.common.errors import dependency_unavailable


def _wrapped(error: BaseException) -> BaseException:
    try:
        try:
            raise error
        except BaseException as inner:
            raise sqlalchemy.exc.DBAPIError("SELECT 1", {}, inner) from inner
    except sqlalchemy.exc.DBAPIError as outer:
        return outer


@pytest.mark.parametrize("error", [
    ConnectionRefusedError(111, "refused"),
    ConnectionResetError(),
    asyncio.TimeoutError(),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.exceptions.TooManyConnectionsError("too many clients"),
    sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionResetError("server closed the connection")),
    sqlalchemy.exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"),
    _wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("closed")),
    sqlite3.OperationalError("database is locked"),
])
def test_unreachable_or_slow_dependencies_are_unavailable(error):
    assert dependency_unavailable(error)


@pytest.mark.parametrize("error", [
    RuntimeError("boom"),
    KeyError("x"),
    FileNotFoundError("template.html"),
    asyncpg.exceptions.UniqueViolationError("duplicate key"),
    asyncpg.exceptions.UndefinedColumnError("column does not exist"),
    sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate")),
    sqlite3.OperationalError("no such table: clients"),
    sqlalchemy.exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: clients")),
])
def test_bugs_and_data_errors_are_not(error):
    assert not dependency_unavailable(error)
