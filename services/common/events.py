"""Domain events: small frozen dataclasses that travel through the outbox.

A service declares ``NAME`` (one snake_case token); the relay publishes the event on
``montreal.<service>.v1.<NAME>`` inside a CloudEvents 1.0 envelope. Events carry
identifiers, never secrets and no more personal data than their consumers need.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from typing import Any, ClassVar


#: values JSON takes as they are: most of an event's fields (checked first: every commit
#: serialises its events, on the token endpoint's path too)
_PLAIN = frozenset({str, int, bool, float, type(None)})


def _jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


@dataclasses.dataclass(frozen=True)
class Event:
    """Base of every domain event."""

    NAME: ClassVar[str] = ""

    def to_payload(self) -> dict[str, Any]:
        return {name: _jsonable(getattr(self, name)) for name in _field_names(type(self))}

    def aggregate_id(self) -> str | None:
        """The id of the thing the event is about (CloudEvents ``subject``); override."""
        return None


def new_event_id() -> str:
    return str(uuid.uuid4())


@dataclasses.dataclass(frozen=True)
class CloudEvent:
    """A received event (CloudEvents 1.0, structured JSON mode)."""

    id: str
    type: str
    source: str
    time: str
    data: dict[str, Any]
    subject: str | None = None

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any]) -> "CloudEvent":
        if envelope.get("specversion") != "1.0":
            raise ValueError("not a CloudEvents 1.0 envelope")
        return cls(id=envelope["id"], type=envelope["type"], source=envelope["source"],
                   time=envelope.get("time", ""), data=envelope.get("data") or {},
                   subject=envelope.get("subject"))
