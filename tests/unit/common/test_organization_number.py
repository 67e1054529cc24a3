"""Organization numbers (issue 22): the citizen number's shape, a series of its own.

The two series never share a string, and within the organization series every single
mistyped character and every adjacent swap is caught — also when the typo would land on a
citizen number: a mistyped organization number is never taken for a resident's."""

from __future__ import annotations

import random

import pytest

from services.common import organization_number as org
from services.common.organization_number import (InvalidOrganizationNumber, OrganizationNumber,
                                                 is_organization_id)
from services.identity.domain import citizen_number as cn
from services.identity.domain.citizen_number import CitizenNumber


def test_same_alphabet_and_length_as_citizen_numbers():
    assert (org.ALPHABET, org.LENGTH) == (cn.ALPHABET, cn.LENGTH)


def test_the_two_series_are_disjoint():
    rng = random.Random(22)
    for _ in range(2000):
        number = OrganizationNumber.new()
        assert not CitizenNumber.is_valid(number.canonical) and is_organization_id(number.canonical)
        resident = CitizenNumber.new().canonical
        assert not OrganizationNumber.is_valid(resident) and not is_organization_id(resident)
    # Any 12-symbol string is in at most one series.
    for _ in range(2000):
        text = "".join(rng.choice(org.ALPHABET) for _ in range(12))
        assert not (CitizenNumber.is_valid(text) and OrganizationNumber.is_valid(text))


def test_every_substitution_and_adjacent_swap_is_caught():
    number = OrganizationNumber.new().canonical
    for i in range(org.LENGTH):
        for symbol in org.ALPHABET:
            if symbol != number[i]:
                typo = number[:i] + symbol + number[i + 1:]
                assert not OrganizationNumber.is_valid(typo), typo
    for i in range(org.LENGTH - 1):
        if number[i] != number[i + 1]:
            swapped = number[:i] + number[i + 1] + number[i] + number[i + 2:]
            assert not OrganizationNumber.is_valid(swapped), swapped


def test_human_form_round_trips_and_bad_text_says_why():
    number = OrganizationNumber.new()
    assert number.human.startswith("ORG ") and OrganizationNumber.parse(number.human) == number
    assert OrganizationNumber.parse(number.human.lower().replace("-", " ")) == number
    with pytest.raises(InvalidOrganizationNumber, match="never used"):
        OrganizationNumber.parse("ORG 0000-0000-0000")
    with pytest.raises(InvalidOrganizationNumber, match="12 characters"):
        OrganizationNumber.parse("ORG 2345")
    with pytest.raises(InvalidOrganizationNumber, match="citizen number"):
        OrganizationNumber.parse(CitizenNumber.new().canonical)
