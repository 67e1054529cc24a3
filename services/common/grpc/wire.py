"""Name the field a malformed protobuf message breaks, by reading its wire format.

A protobuf parser only says "Error parsing message"; AIP-193 wants the caller told which
field is wrong. This scanner walks the bytes against the message descriptor the way the
encoding guide describes them (https://protobuf.dev/programming-guides/encoding/): each
record is a varint tag ``(field_number << 3) | wire_type`` followed by a varint, a fixed
8 or 4 bytes, a length-delimited payload, or a group.

It runs only after the real parser has refused the bytes, so it is diagnostics, not the
decoder: it must name *a* field that explains the failure, and it stays silent (returns
None) when it finds nothing wrong. Unknown field numbers are allowed (a newer client may
send them) but must still be well formed. Paths are dotted, with ``[i]`` for the i-th
element of a repeated message field: ``items[2].value``.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

ROOT = "request"  # what to name when the damage is not inside any one field

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
_WIRE_NAMES = {VARINT: "varint", I64: "64-bit", LEN: "length-delimited", SGROUP: "group",
               EGROUP: "end-group", I32: "32-bit"}
_MAX_DEPTH = 100  # upb's default recursion limit

_F = FieldDescriptor
_EXPECTED_WIRE_TYPE = {
    _F.TYPE_INT32: VARINT, _F.TYPE_INT64: VARINT, _F.TYPE_UINT32: VARINT,
    _F.TYPE_UINT64: VARINT, _F.TYPE_SINT32: VARINT, _F.TYPE_SINT64: VARINT,
    _F.TYPE_BOOL: VARINT, _F.TYPE_ENUM: VARINT,
    _F.TYPE_FIXED64: I64, _F.TYPE_SFIXED64: I64, _F.TYPE_DOUBLE: I64,
    _F.TYPE_FIXED32: I32, _F.TYPE_SFIXED32: I32, _F.TYPE_FLOAT: I32,
    _F.TYPE_STRING: LEN, _F.TYPE_BYTES: LEN, _F.TYPE_MESSAGE: LEN,
    _F.TYPE_GROUP: SGROUP,
}
_TYPE_NAMES = {v: k[len("TYPE_"):].lower() for k, v in vars(_F).items() if k.startswith("TYPE_")}


class _Malformed(Exception):
    def __init__(self, field: str, description: str) -> None:
        super().__init__(field, description)
        self.field = field
        self.description = description


def find_malformed_field(data: bytes, descriptor: Descriptor) -> tuple[str, str] | None:
    """``(field path, description)`` of the first defect in ``data``, or None if none found."""
    try:
        _scan_message(data, 0, len(data), descriptor, "", 0, None)
    except _Malformed as error:
        return error.field, error.description
    return None


def _read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode a base-128 varint; raises ValueError when it runs past ``end`` or 10 bytes."""
    result = shift = 0
    for _ in range(10):
        if pos >= end:
            raise ValueError("truncated")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise ValueError("varint longer than 10 bytes")


def _scan_message(data: bytes, pos: int, end: int, descriptor: Descriptor, prefix: str,
                  depth: int, group_number: int | None) -> int:
    here = prefix or ROOT
    if depth > _MAX_DEPTH:
        raise _Malformed(here, "nested too deeply")
    seen: dict[int, int] = {}  # repeated message field number -> elements so far, for [i]
    while pos < end:
        try:
            tag, pos = _read_varint(data, pos, end)
        except ValueError:
            raise _Malformed(here, "truncated or invalid field tag") from None
        number, wire_type = tag >> 3, tag & 7
        if wire_type == EGROUP:
            if number == group_number:
                return pos
            raise _Malformed(here, "unexpected end-group tag")
        if number == 0 or wire_type > I32:
            raise _Malformed(here, "invalid field tag")
        field = descriptor.fields_by_number.get(number)
        if field is None:
            pos = _skip(data, pos, end, wire_type, number, here, depth)
            continue
        path = f"{prefix}.{field.name}" if prefix else field.name
        pos = _scan_field(data, pos, end, field, wire_type, path, seen, depth)
    if pos > end:
        raise _Malformed(here, "truncated")
    if group_number is not None:
        raise _Malformed(here, "missing end-group tag")
    return pos


def _scan_field(data: bytes, pos: int, end: int, field: FieldDescriptor, wire_type: int,
                path: str, seen: dict[int, int], depth: int) -> int:
    expected = _EXPECTED_WIRE_TYPE[field.type]
    packed = wire_type == LEN and field.is_repeated and expected in (VARINT, I64, I32)
    if wire_type != expected and not packed:
        raise _Malformed(path, f"wrong wire type for a {_TYPE_NAMES.get(field.type, '?')} field: "
                               f"expected {_WIRE_NAMES[expected]}, got {_WIRE_NAMES[wire_type]}")
    item_path = path
    if field.is_repeated and field.type in (_F.TYPE_MESSAGE, _F.TYPE_GROUP):
        index = seen.get(field.number, 0)
        seen[field.number] = index + 1
        item_path = f"{path}[{index}]"
    if wire_type == VARINT:
        try:
            return _read_varint(data, pos, end)[1]
        except ValueError as error:
            raise _Malformed(path, f"invalid varint ({error})") from None
    if wire_type in (I64, I32):
        size = 8 if wire_type == I64 else 4
        if pos + size > end:
            raise _Malformed(path, "truncated")
        return pos + size
    if wire_type == SGROUP:
        return _scan_message(data, pos, end, field.message_type, item_path, depth + 1, field.number)
    # Length-delimited.
    try:
        length, pos = _read_varint(data, pos, end)
    except ValueError:
        raise _Malformed(path, "truncated length") from None
    stop = pos + length
    if stop > end:
        raise _Malformed(path, "truncated: length runs past the end of the message")
    if field.type == _F.TYPE_STRING:
        try:
            data[pos:stop].decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed(path, "not valid UTF-8") from None
    elif field.type == _F.TYPE_MESSAGE:
        _scan_message(data, pos, stop, field.message_type, item_path, depth + 1, None)
    elif packed:
        _scan_packed(data, pos, stop, expected, path)
    return stop


def _scan_packed(data: bytes, pos: int, end: int, element_wire_type: int, path: str) -> None:
    if element_wire_type == VARINT:
        while pos < end:
            try:
                pos = _read_varint(data, pos, end)[1]
            except ValueError:
                raise _Malformed(path, "invalid packed varint") from None
        return
    size = 8 if element_wire_type == I64 else 4
    if (end - pos) % size:
        raise _Malformed(path, f"packed length not a multiple of {size}")


def _skip(data: bytes, pos: int, end: int, wire_type: int, number: int, here: str, depth: int) -> int:
    """Step over an unknown field, which must still be well formed."""
    what = f"unknown field {number}"
    try:
        if wire_type == VARINT:
            return _read_varint(data, pos, end)[1]
        if wire_type in (I64, I32):
            stop = pos + (8 if wire_type == I64 else 4)
        elif wire_type == LEN:
            length, pos = _read_varint(data, pos, end)
            stop = pos + length
        else:  # SGROUP: skip records until the matching end-group tag
            if depth >= _MAX_DEPTH:
                raise _Malformed(here, "nested too deeply")
            while True:
                tag, pos = _read_varint(data, pos, end)
                if tag & 7 == EGROUP:
                    if tag >> 3 == number:
                        return pos
                    raise _Malformed(here, f"{what}: mismatched end-group tag")
                if tag >> 3 == 0 or tag & 7 > I32:
                    raise _Malformed(here, f"{what}: invalid tag inside group")
                pos = _skip(data, pos, end, tag & 7, tag >> 3, here, depth + 1)
    except ValueError:
        raise _Malformed(here, f"{what} is truncated") from None
    if stop > end:
        raise _Malformed(here, f"{what} is truncated")
    return stop
