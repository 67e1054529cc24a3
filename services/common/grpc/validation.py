"""Generic request validation driven by the proto descriptors.

- A field marked ``[(google.api.field_behavior) = REQUIRED]`` (AIP-203) must be present —
  in an update (a request with an ``update_mask``, AIP-134), only the resource's fields the
  mask names: the others are not being changed:
  ``HasField`` for fields with presence (messages, ``optional`` scalars, oneof members),
  non-empty for repeated fields and maps, and non-default for proto3 scalars without
  presence (proto3 cannot tell an unset ``0`` or ``""`` from a sent one: mark a field
  ``optional`` when its zero value is legitimate). Set sub-messages are checked recursively.
- A string holding a NUL character is refused: no identifier, name or text of ours has one,
  and PostgreSQL cannot store it in ``text`` (invalid UTF-8 never gets here: the proto3
  parser refuses it, and the decoder names the field).
- A string over ``MAX_STRING_LENGTH`` characters or a repeated field (or map) over
  ``MAX_REPEATED_ITEMS`` elements is refused, unless the field has its own limits
  (``register_limits``).

The per-message plan (which fields are required, which limits apply) is computed once per
descriptor; a call only walks the fields actually set (``ListFields``). A first walk only
asks whether anything is wrong, building no field path (issue 24: a batch of 1,000
questions is 1,000 sub-messages); only a request with a violation is walked again to name
each one.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

MAX_STRING_LENGTH = 1024
MAX_REPEATED_ITEMS = 1000
_MAX_DEPTH = 32

_F = FieldDescriptor


@dataclass(frozen=True)
class Limits:
    max_length: int = MAX_STRING_LENGTH
    max_items: int = MAX_REPEATED_ITEMS


_DEFAULT_LIMITS = Limits()
_overrides: dict[str, Limits] = {}


def register_limits(field_full_name: str, *, max_length: int | None = None,
                    max_items: int | None = None) -> None:
    """Give one field its own limits, e.g. ``register_limits("montreal.consent.v1.Export.items",
    max_items=10_000)``. Call at import time of the servicer module."""
    current = _overrides.get(field_full_name, _DEFAULT_LIMITS)
    _overrides[field_full_name] = Limits(
        max_length=current.max_length if max_length is None else max_length,
        max_items=current.max_items if max_items is None else max_items)
    _plans.clear()


@dataclass(frozen=True)
class _RequiredField:
    name: str
    mode: str  # "has" | "len" | "truthy"


# What the quick walk does with a set field (``_Plan.kinds``).
_OTHER, _STRING, _MESSAGE, _SCALARS, _STRINGS, _MESSAGES, _MAP = range(7)


@dataclass(frozen=True)
class _Plan:
    required: tuple[_RequiredField, ...]
    limits: dict[int, Limits]  # field number -> limits (only fields with overrides)
    # field number -> (what it is, max length, max items): the quick walk's whole plan
    kinds: dict[int, tuple[int, int, int]]


_plans: dict[str, _Plan] = {}


def _kind(field: FieldDescriptor) -> int:
    is_message = field.type in (_F.TYPE_MESSAGE, _F.TYPE_GROUP)
    if field.is_repeated:
        if is_message and field.message_type.GetOptions().map_entry:
            return _MAP
        return _STRINGS if field.type == _F.TYPE_STRING else _MESSAGES if is_message else _SCALARS
    return _STRING if field.type == _F.TYPE_STRING else _MESSAGE if is_message else _OTHER


def _is_required(field: FieldDescriptor) -> bool:
    options = field.GetOptions()
    return field_behavior_pb2.REQUIRED in options.Extensions[field_behavior_pb2.field_behavior]


def _plan_for(descriptor: Descriptor) -> _Plan:
    plan = _plans.get(descriptor.full_name)
    if plan is None:
        required = []
        for field in descriptor.fields:
            if _is_required(field):
                mode = "len" if field.is_repeated else "has" if field.has_presence else "truthy"
                required.append(_RequiredField(field.name, mode))
        limits = {f.number: _overrides[f.full_name] for f in descriptor.fields if f.full_name in _overrides}
        kinds = {}
        for f in descriptor.fields:
            own = limits.get(f.number, _DEFAULT_LIMITS)
            kinds[f.number] = (_kind(f), own.max_length, own.max_items)
        plan = _Plan(tuple(required), limits, kinds)
        _plans[descriptor.full_name] = plan
    return plan


def validate_message(message: Message) -> list[tuple[str, str]]:
    """Field violations of ``message`` as ``[(path, description)]``; empty when valid."""
    mask = _update_mask(message)
    if _clean(message, 0, mask=mask):
        return []
    violations: list[tuple[str, str]] = []
    _validate(message, "", violations, 0, mask=mask)
    return violations


def _update_mask(request: Message) -> frozenset[str] | None:
    """The top-level fields an update request's ``update_mask`` names (AIP-134), or None for a
    request that is not an update."""
    field = request.DESCRIPTOR.fields_by_name.get("update_mask")
    if field is None or field.message_type is None or field.message_type.full_name != "google.protobuf.FieldMask":
        return None
    return frozenset(path.split(".")[0] for path in request.update_mask.paths)


def _clean(message: Message, depth: int, *, only: frozenset[str] | None = None,
           mask: frozenset[str] | None = None) -> bool:
    """Whether ``_validate`` would find nothing, without naming anything (the quick walk).
    ``only``: the required fields to check here (None: all); ``mask``: the ``only`` of the
    messages directly inside this one (an update's resource)."""
    if depth > _MAX_DEPTH:
        return True
    plan = _plans.get(message.DESCRIPTOR.full_name) or _plan_for(message.DESCRIPTOR)
    for req in plan.required:
        if only is not None and req.name not in only:
            continue
        if req.mode == "has":
            if not message.HasField(req.name):
                return False
        elif req.mode == "len":
            if not len(getattr(message, req.name)):
                return False
        elif not getattr(message, req.name):
            return False
    kinds = plan.kinds
    for field, value in message.ListFields():
        kind, max_length, max_items = kinds[field.number]
        if kind == _STRING:
            if len(value) > max_length or NUL in value:
                return False
        elif kind == _MESSAGE:
            if not _clean(value, depth + 1, only=mask):
                return False
        elif kind != _OTHER:
            if len(value) > max_items:
                return False
            if kind == _STRINGS:
                for item in value:
                    if len(item) > max_length or NUL in item:
                        return False
            elif kind == _MESSAGES:
                for item in value:
                    if not _clean(item, depth + 1):
                        return False
            elif kind == _MAP:
                return False  # rare in requests: the full walk checks keys and values
    return True


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _validate(message: Message, prefix: str, out: list[tuple[str, str]], depth: int, *,
              only: frozenset[str] | None = None, mask: frozenset[str] | None = None) -> None:
    if depth > _MAX_DEPTH:
        return
    descriptor = message.DESCRIPTOR
    plan = _plan_for(descriptor)
    for req in plan.required:
        if only is not None and req.name not in only:
            continue
        if req.mode == "has":
            present = message.HasField(req.name)
        elif req.mode == "len":
            present = len(getattr(message, req.name)) > 0
        else:
            present = bool(getattr(message, req.name))
        if not present:
            out.append((_join(prefix, req.name), "is required"))
    for field, value in message.ListFields():
        limits = plan.limits.get(field.number, _DEFAULT_LIMITS) if plan.limits else _DEFAULT_LIMITS
        path = _join(prefix, field.name)
        if field.is_repeated:
            if len(value) > limits.max_items:
                out.append((path, f"has more than {limits.max_items} items"))
                continue
            if field.type == _F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
                _validate_map(field.message_type, value, path, out, depth)
            elif field.type == _F.TYPE_STRING:
                for i, item in enumerate(value):
                    _check_string(item, f"{path}[{i}]", limits.max_length, out)
            elif field.type in (_F.TYPE_MESSAGE, _F.TYPE_GROUP):
                for i, item in enumerate(value):
                    _validate(item, f"{path}[{i}]", out, depth + 1)
        elif field.type == _F.TYPE_STRING:
            _check_string(value, path, limits.max_length, out)
        elif field.type in (_F.TYPE_MESSAGE, _F.TYPE_GROUP):
            _validate(value, path, out, depth + 1, only=mask)


NUL = "\x00"
NUL_REFUSED = "must not contain a NUL character"


def _check_string(value: str, path: str, max_length: int, out: list[tuple[str, str]]) -> None:
    if len(value) > max_length:
        out.append((path, f"is longer than {max_length} characters"))
    elif NUL in value:
        out.append((path, NUL_REFUSED))


def _validate_map(entry: Descriptor, value, path: str, out: list[tuple[str, str]], depth: int) -> None:
    key_field = entry.fields_by_name["key"]
    value_field = entry.fields_by_name["value"]
    entry_plan = _plan_for(entry)
    key_limit = entry_plan.limits.get(key_field.number, _DEFAULT_LIMITS).max_length
    value_limit = entry_plan.limits.get(value_field.number, _DEFAULT_LIMITS).max_length
    key_is_string = key_field.type == _F.TYPE_STRING
    for key in value:
        item_path = f"{path}[{key}]" if not key_is_string or len(key) <= key_limit else path
        if key_is_string and len(key) > key_limit:
            out.append((path, f"has a key longer than {key_limit} characters"))
            continue
        if key_is_string and NUL in key:
            out.append((path, NUL_REFUSED.replace("contain", "have a key with")))
            continue
        if value_field.type == _F.TYPE_STRING:
            _check_string(value[key], item_path, value_limit, out)
        elif value_field.type == _F.TYPE_MESSAGE:
            _validate(value[key], item_path, out, depth + 1)
