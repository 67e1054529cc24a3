"""Malformed requests against a real grpc.aio server get INVALID_ARGUMENT naming the field
(google.rpc.BadRequest), never UNKNOWN or INTERNAL."""

from __future__ import annotations

import grpc
import pytest

from services.common.grpc.client import rpc_error_details

ECHO = "/mtlidtest.v1.ProbeService/Echo"


async def call_raw(probe_channel, probe, payload: bytes):
    pb2, _ = probe
    method = probe_channel.unary_unary(ECHO, request_serializer=None, response_deserializer=pb2.EchoResponse.FromString)
    return await method(payload)


async def expect_invalid(awaitable) -> dict[str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await awaitable
    code, violations, _ = rpc_error_details(caught.value)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    return violations


async def test_valid_request_round_trips(probe_stub, probe):
    pb2, _ = probe
    reply = await probe_stub.Echo(pb2.EchoRequest(name="Jeanne-Mance", inner=pb2.Inner(value="x"),
                                            labels={"arrondissement": "Plateau"}))
    assert reply.name == "Jeanne-Mance"


async def test_missing_required_field_is_named(probe_stub, probe):
    pb2, _ = probe
    violations = await expect_invalid(probe_stub.Echo(pb2.EchoRequest()))
    assert violations == {"name": "is required"}


async def test_missing_required_field_of_a_set_sub_message_is_named(probe_stub, probe):
    pb2, _ = probe
    request = pb2.EchoRequest(name="a", inner=pb2.Inner(n=3),
                              items=[pb2.Inner(value="ok"), pb2.Inner(n=1)])
    violations = await expect_invalid(probe_stub.Echo(request))
    assert violations == {"inner.value": "is required", "items[1].value": "is required"}


async def test_oversize_string_is_named(probe_stub, probe):
    pb2, _ = probe
    violations = await expect_invalid(probe_stub.Echo(pb2.EchoRequest(name="é" * 1025)))
    assert list(violations) == ["name"]
    assert "1024" in violations["name"]


async def test_string_limit_can_be_raised_per_field(probe_stub, probe):
    pb2, _ = probe
    assert (await probe_stub.Echo(pb2.EchoRequest(name="a", note="n" * 4096))).name == "a"
    violations = await expect_invalid(probe_stub.Echo(pb2.EchoRequest(name="a", note="n" * 4097)))
    assert list(violations) == ["note"]


async def test_too_many_repeated_items_is_named(probe_stub, probe):
    pb2, _ = probe
    violations = await expect_invalid(probe_stub.Echo(pb2.EchoRequest(name="a", tags=["t"] * 1001)))
    assert list(violations) == ["tags"]


async def test_wrong_wire_type_is_named(probe_channel, probe):
    # field 1 (name, a string) sent as a varint
    violations = await expect_invalid(call_raw(probe_channel, probe, bytes([0x08, 0x01])))
    assert list(violations) == ["name"]
    assert "wire type" in violations["name"]


async def test_wrong_wire_type_in_a_nested_message_is_named(probe_channel, probe):
    # inner (field 2) { n (field 2, int64) sent length-delimited }
    nested = bytes([0x12, 0x01, 0x41])
    violations = await expect_invalid(call_raw(probe_channel, probe, bytes([0x12, len(nested)]) + nested))
    assert list(violations) == ["inner.n"]


async def test_invalid_utf8_is_named(probe_channel, probe):
    violations = await expect_invalid(call_raw(probe_channel, probe, bytes([0x0A, 0x02, 0xFF, 0xFE])))
    assert violations == {"name": "not valid UTF-8"}


async def test_truncated_string_is_named(probe_channel, probe):
    violations = await expect_invalid(call_raw(probe_channel, probe, bytes([0x0A, 0x05]) + b"ab"))
    assert list(violations) == ["name"]
    assert "truncated" in violations["name"]


async def test_unknown_fields_are_accepted(probe_channel, probe):
    pb2, _ = probe
    payload = pb2.EchoRequest(name="a").SerializeToString() + bytes([0xF8, 0x06, 0x07])  # field 111 varint
    assert (await call_raw(probe_channel, probe, payload)).name == "a"


async def test_server_streaming_requests_are_validated_too(probe_stub, probe):
    pb2, _ = probe
    violations = await expect_invalid(probe_stub.Count(pb2.CountRequest()).read())
    assert violations == {"count": "is required"}
    assert [r.n async for r in probe_stub.Count(pb2.CountRequest(count=3))] == [0, 1, 2]
