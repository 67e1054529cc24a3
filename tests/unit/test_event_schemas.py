"""Every domain event matches its published schema in protos/montreal/events/v1.

Consumers outside this repository read the ``data`` of our CloudEvents with those messages
(proto3 JSON mapping); a field added, renamed or retyped in a dataclass without the proto
(or the reverse) breaks them, so it fails here first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import pathlib
import types
import typing

import pytest
from google.protobuf import json_format

from services.common.events import Event

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVICES = ("identity", "accounts", "consent")


def _event_classes() -> list[type[Event]]:
    for path in sorted(ROOT.glob("services/*/domain/*.py")):
        importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))

    def walk(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    return [c for c in walk(Event) if c.__module__.split(".")[1] in SERVICES]


def _sample(tp) -> object:
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:   # X | None: an X
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if typing.is_typeddict(tp):  # a record in a field (data_released's grant)
        return {name: _sample(hint) for name, hint in typing.get_type_hints(tp).items()}
    text = str(tp)
    if "datetime" in text:
        return dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)
    if text.startswith(("tuple[dict", "list[dict")):  # records with named fields (purpose_categories)
        return ({"purpose_id": "a", "categories": ["b"]},)
    if text.startswith(("tuple", "list")):
        return ("a", "b")
    if text.startswith("dict"):
        return {"email": "consent"}
    if text in ("bool", "<class 'bool'>"):
        return True
    if text in ("int", "<class 'int'>"):
        return 2
    return "sample"


def _message_for(cls):
    service = cls.__module__.split(".")[1]
    module = importlib.import_module(f"montreal.events.v1.{service}_events_pb2")
    name = "".join(part.capitalize() for part in cls.NAME.split("_"))
    return getattr(module, name, None)


EVENTS = _event_classes()


def test_every_service_publishes_events():
    assert {c.__module__.split(".")[1] for c in EVENTS} == set(SERVICES)


@pytest.mark.parametrize("cls", EVENTS, ids=lambda c: c.NAME)
def test_event_payload_parses_with_its_published_schema(cls):
    message_class = _message_for(cls)
    assert message_class is not None, f"no message for {cls.NAME} in protos/montreal/events/v1"
    hints = typing.get_type_hints(cls, globalns=vars(importlib.import_module(cls.__module__)))
    event = cls(**{f.name: _sample(hints.get(f.name, f.type)) for f in dataclasses.fields(cls)})
    payload = event.to_payload()
    parsed = json_format.ParseDict(payload, message_class(), ignore_unknown_fields=False)
    schema_fields = {f.name for f in message_class.DESCRIPTOR.fields}
    assert schema_fields == set(payload), f"{cls.NAME}: proto {sorted(schema_fields)} vs event {sorted(payload)}"
    assert parsed.IsInitialized()
