"""Identity's domain-level errors that are not wire errors."""


class Conflict(Exception):
    """A uniqueness rule of the store refused a write (a duplicate id or email).

    Raised by the repositories (translated from the database's unique constraints) so the
    service layer can retry with a fresh citizen number without importing SQLAlchemy."""
