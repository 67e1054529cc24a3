"""Descriptor-driven validation: REQUIRED fields (AIP-203) and size limits."""

from __future__ import annotations

import pytest

from services.common.grpc import validation
from services.common.grpc.validation import register_limits, validate_message
from tests.protos.build import load_probe_protos


@pytest.fixture(scope="module")
def pb2():
    return load_probe_protos()[0]


@pytest.fixture
def own_limits(monkeypatch):
    """A private limits registry, so a test's overrides do not leak into others."""
    monkeypatch.setattr(validation, "_overrides", {})
    monkeypatch.setattr(validation, "_plans", {})


def test_a_complete_message_is_valid(pb2):
    assert validate_message(pb2.EchoRequest(name="a", inner=pb2.Inner(value="v"), tags=["t"] * 1000,
                                            note="n" * 1024)) == []


def test_required_fields_must_be_present(pb2):
    assert validate_message(pb2.EchoRequest()) == [("name", "is required")]
    assert validate_message(pb2.CountRequest(count=0)) == [("count", "is required")]


def test_required_fields_are_checked_in_set_sub_messages_only(pb2):
    # inner is not set: its required value is not asked for
    assert validate_message(pb2.EchoRequest(name="a")) == []
    request = pb2.EchoRequest(name="a", inner=pb2.Inner(n=1), items=[pb2.Inner(value="x"), pb2.Inner()])
    assert validate_message(request) == [("inner.value", "is required"), ("items[1].value", "is required")]


def test_strings_are_limited_in_characters_not_bytes(pb2):
    assert validate_message(pb2.EchoRequest(name="é" * 1024)) == []
    [(field, description)] = validate_message(pb2.EchoRequest(name="é" * 1025))
    assert field == "name" and "1024" in description


def test_each_element_of_a_repeated_string_is_limited(pb2):
    assert [f for f, _ in validate_message(pb2.EchoRequest(name="a", tags=["ok", "x" * 1025]))] == ["tags[1]"]


def test_repeated_fields_and_maps_are_limited_in_items(pb2):
    assert [f for f, _ in validate_message(pb2.EchoRequest(name="a", numbers=range(1001)))] == ["numbers"]
    labels = {str(i): "v" for i in range(1001)}
    assert [f for f, _ in validate_message(pb2.EchoRequest(name="a", labels=labels))] == ["labels"]


def test_map_values_are_limited(pb2):
    assert [f for f, _ in validate_message(pb2.EchoRequest(name="a", labels={"k": "v" * 1025}))] == ["labels[k]"]


def test_limits_can_be_set_per_field(pb2, own_limits):
    register_limits("mtlidtest.v1.EchoRequest.note", max_length=10)
    register_limits("mtlidtest.v1.EchoRequest.tags", max_items=2)
    assert sorted(f for f, _ in validate_message(pb2.EchoRequest(name="a", note="n" * 11, tags=["1", "2", "3"]))) == [
        "note", "tags"]
    assert validate_message(pb2.EchoRequest(name="a" * 1024, note="n" * 10, tags=["1", "2"])) == []
    register_limits("mtlidtest.v1.EchoRequest.note", max_length=20_000)
    assert validate_message(pb2.EchoRequest(name="a", note="n" * 20_000)) == []


def test_all_violations_are_reported_together(pb2):
    request = pb2.EchoRequest(name="", tags=["x" * 2000], inner=pb2.Inner())
    assert [f for f, _ in validate_message(request)] == ["name", "inner.value", "tags[0]"]


def test_the_quick_walk_passes_exactly_what_the_full_walk_passes(pb2, own_limits):
    """``validate_message`` first walks without naming fields (issue 24: batches of 1,000
    sub-messages); whatever it lets through, the naming walk finds nothing in, and whatever
    it stops, the naming walk names — deep in a batch's items too."""
    register_limits("mtlidtest.v1.EchoRequest.tags", max_items=3, max_length=4)
    good = dict(name="a", inner=pb2.Inner(value="v"), items=[pb2.Inner(value="x")] * 50, tags=["abcd"] * 3)
    cases = [pb2.EchoRequest(**good),
             pb2.EchoRequest(**{**good, "tags": ["abcde"]}),
             pb2.EchoRequest(**{**good, "tags": ["a"] * 4}),
             pb2.EchoRequest(**{**good, "items": [pb2.Inner(value="x")] * 49 + [pb2.Inner(value="x\x00")]}),
             pb2.EchoRequest(**{**good, "items": [pb2.Inner(value="x")] * 49 + [pb2.Inner()]}),
             pb2.EchoRequest(**{**good, "inner": pb2.Inner(value="v" * 1025)}),
             pb2.EchoRequest(**{**good, "note": "\x00"}),
             pb2.EchoRequest(**{**good, "numbers": range(1001)}),
             pb2.EchoRequest(inner=pb2.Inner(value="v"))]
    for request in cases:
        full: list = []
        validation._validate(request, "", full, 0)
        assert validation._clean(request, 0) == (full == [])
        assert validate_message(request) == full
    assert [validation._clean(r, 0) for r in cases] == [True] + [False] * 8
