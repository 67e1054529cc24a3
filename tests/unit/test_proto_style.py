"""The public APIs follow the Google API rules DESIGN.md asks for (AIP-131..158 subset):
one request and one response message per RPC, named after it; snake_case fields; enums whose
zero value is ``<ENUM>_UNSPECIFIED``; list methods paginated with page_size/page_token."""

from __future__ import annotations

import re

import pytest

from montreal.accounts.v1 import accounts_pb2
from montreal.consent.v1 import consent_pb2
from montreal.identity.v1 import identity_pb2

FILES = [identity_pb2.DESCRIPTOR, accounts_pb2.DESCRIPTOR, consent_pb2.DESCRIPTOR]
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# Catalogue lists return a small set bounded by the catalogue itself (a few dozen purposes,
# categories, recipients): they need no pages. Everything that grows with residents does.
UNPAGED_LISTS = {"ListPurposes", "ListDataCategories", "ListRecipients"}


def _methods():
    for file in FILES:
        for service in file.services_by_name.values():
            for method in service.methods:
                yield pytest.param(method, id=f"{service.name}.{method.name}")


def _messages(descriptor):
    for message in descriptor.message_types_by_name.values():
        yield message
        yield from _nested(message)


def _nested(message):
    for nested in message.nested_types:
        if not nested.GetOptions().map_entry:
            yield nested
            yield from _nested(nested)


@pytest.mark.parametrize("method", list(_methods()))
def test_each_rpc_has_its_own_request_and_response(method):
    assert method.input_type.name == f"{method.name}Request"
    assert method.output_type.name == f"{method.name}Response"


@pytest.mark.parametrize("method", [m for m in _methods()
                                    if (m.values[0].name.startswith("List") and m.values[0].name not in UNPAGED_LISTS)
                                    or m.values[0].name in ("History", "AccessLog")])
def test_list_methods_are_paginated(method):
    fields = method.input_type.fields_by_name
    assert "page_size" in fields and "page_token" in fields
    assert "next_page_token" in method.output_type.fields_by_name


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.package)
def test_field_names_are_snake_case_and_enums_start_unspecified(file):
    bad_fields = [f"{m.full_name}.{f.name}" for m in _messages(file) for f in m.fields if not SNAKE.match(f.name)]
    assert not bad_fields
    enums = list(file.enum_types_by_name.values()) + [e for m in _messages(file) for e in m.enum_types]
    assert enums, "expected enums (states, bases, provenance) in every API"
    for enum in enums:
        zero = enum.values_by_number[0].name
        prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper()
        assert zero == f"{prefix}_UNSPECIFIED", f"{enum.full_name}: zero value {zero}"
