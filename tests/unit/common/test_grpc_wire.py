"""The wire-format scanner names the field that breaks a protobuf message."""

from __future__ import annotations

import random

import pytest

from services.common.grpc.wire import ROOT, find_malformed_field
from tests.protos.build import load_probe_protos


@pytest.fixture(scope="module")
def pb2():
    return load_probe_protos()[0]


def scan(pb2, data: bytes):
    return find_malformed_field(data, pb2.EchoRequest.DESCRIPTOR)


def string_field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_a_well_formed_message_has_no_defect(pb2):
    message = pb2.EchoRequest(name="Émilie", inner=pb2.Inner(value="v", n=-5), tags=["a", "b"], count=7,
                              blob=b"\xff\x00", items=[pb2.Inner(value="x")], labels={"k": "v"},
                              numbers=[1, 300, -2], stamp=2**63)
    assert scan(pb2, message.SerializeToString()) is None
    assert scan(pb2, b"") is None


@pytest.mark.parametrize("data, field", [
    (bytes([0x08, 0x01]), "name"),                      # string sent as varint
    (bytes([0x0D, 0, 0, 0, 0]), "name"),                # string sent as fixed32
    (bytes([0x22, 0x01, 0x01]), "count"),               # int32 sent length-delimited
    (bytes([0x58, 0x01]), "stamp"),                     # fixed64 sent as varint
    (bytes([0x12, 0x03, 0x12, 0x01, 0x41]), "inner.n"),  # nested int64 sent length-delimited
])
def test_wrong_wire_type_names_the_field(pb2, data, field):
    found = scan(pb2, data)
    assert found is not None and found[0] == field
    assert "wire type" in found[1]


@pytest.mark.parametrize("data, field", [
    (bytes([0x0A, 0x05]) + b"ab", "name"),              # length runs past the end
    (bytes([0x0A]), "name"),                            # length missing
    (bytes([0x20, 0x80]), "count"),                     # varint cut short
    (bytes([0x20]) + b"\xff" * 10 + b"\x01", "count"),  # varint longer than 10 bytes
    (bytes([0x59, 1, 2, 3]), "stamp"),                  # fixed64 with 3 bytes
    (bytes([0x52, 0x02, 0x80, 0x80]), "numbers"),       # packed varints cut short
    (bytes([0x12, 0x04, 0x0A, 0x05, 0x61, 0x62]), "inner.value"),  # nested string runs past its message
])
def test_truncation_names_the_field(pb2, data, field):
    found = scan(pb2, data)
    assert found is not None and found[0] == field, found


def test_invalid_utf8_names_the_field(pb2):
    assert scan(pb2, string_field(1, b"\xc3\x28")) == ("name", "not valid UTF-8")
    assert scan(pb2, string_field(3, b"ok") + string_field(3, b"\xff")) == ("tags", "not valid UTF-8")


def test_nested_paths_are_dotted_with_indexes_for_repeated_messages(pb2):
    good_item = pb2.Inner(value="fine").SerializeToString()
    bad_item = string_field(1, b"\xff")
    data = pb2.EchoRequest(name="a").SerializeToString() + string_field(6, good_item) + string_field(6, bad_item)
    assert scan(pb2, data) == ("items[1].value", "not valid UTF-8")
    assert scan(pb2, string_field(2, bad_item)) == ("inner.value", "not valid UTF-8")


def test_map_entries_are_scanned(pb2):
    entry = string_field(1, b"k") + string_field(2, b"\xfe")
    assert scan(pb2, string_field(7, entry)) == ("labels[0].value", "not valid UTF-8")


def test_unknown_fields_are_fine_but_must_be_well_formed(pb2):
    assert scan(pb2, bytes([0xF8, 0x06, 0x07])) is None                    # field 111, varint
    assert scan(pb2, bytes([0xFA, 0x06, 0x02, 0x61, 0x62])) is None        # field 111, bytes
    assert scan(pb2, bytes([0xFB, 0x06, 0xF8, 0x06, 0x01, 0xFC, 0x06])) is None  # field 111, a group
    found = scan(pb2, bytes([0xFA, 0x06, 0x09, 0x61]))
    assert found is not None and found[0] == ROOT and "unknown field 111" in found[1]


def test_defects_outside_any_field_name_the_request(pb2):
    assert scan(pb2, bytes([0x00, 0x01]))[0] == ROOT     # field number 0
    assert scan(pb2, bytes([0x0F]))[0] == ROOT           # wire type 7
    assert scan(pb2, bytes([0x8A]))[0] == ROOT           # tag cut short
    assert scan(pb2, bytes([0x0C]))[0] == ROOT           # stray end-group


def test_packed_and_unpacked_repeated_scalars_are_both_accepted(pb2):
    packed = pb2.EchoRequest(numbers=[1, 2, 300]).SerializeToString()
    unpacked = bytes([0x50, 0x01, 0x50, 0x02])
    assert scan(pb2, packed) is None and scan(pb2, unpacked) is None


def test_whenever_the_parser_refuses_bytes_the_scanner_names_something(pb2):
    """Random damage to a valid message: the real parser and the scanner must agree that it
    is broken (no silent "could not be parsed"), and the scanner must not accuse a message
    the parser accepts without unknown fields."""
    rng = random.Random(9162)
    valid = pb2.EchoRequest(name="Jeanne", inner=pb2.Inner(value="v", n=3), tags=["a"], count=300,
                            items=[pb2.Inner(value="i")], labels={"k": "v"}, numbers=[1, 2],
                            stamp=7).SerializeToString()
    refused = 0
    for _ in range(600):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 3)):
            if not data:
                break
            choice = rng.random()
            if choice < 0.5:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif choice < 0.8:
                del data[rng.randrange(len(data)):]
            else:
                data.insert(rng.randrange(len(data)), rng.randrange(256))
        data = bytes(data)
        try:
            message = pb2.EchoRequest.FromString(data)
        except Exception:
            refused += 1
            assert scan(pb2, data) is not None, data.hex()
            continue
        size = message.ByteSize()
        message.DiscardUnknownFields()
        if message.ByteSize() == size:
            assert scan(pb2, data) is None, data.hex()
    assert refused > 50  # the damage did exercise the failure path
