"""The citizen number: random, parseable back, and its check character catches every
single-character substitution and every adjacent transposition (issue 3, point 1)."""

import secrets

import pytest

from services.identity.domain import citizen_number as cn
from services.identity.domain.citizen_number import ALPHABET, CitizenNumber, InvalidCitizenNumber

SAMPLE = [CitizenNumber.new() for _ in range(200)]


def test_alphabet_is_prime_sized_and_unambiguous():
    assert len(ALPHABET) == 29 and len(set(ALPHABET)) == 29
    assert all(pow(2, 28, 29) == 1 for _ in [0])  # Fermat: 29 is prime
    for confusing in "01ILOUZ":
        assert confusing not in ALPHABET


def test_new_numbers_are_valid_and_round_trip_through_both_forms():
    for number in SAMPLE:
        assert len(number.canonical) == 12
        assert CitizenNumber.parse(number.canonical) == number
        assert CitizenNumber.parse(number.human) == number
        assert CitizenNumber.parse(number.human.lower().replace("-", " ")) == number
        assert number.human.startswith("MTL ") and number.human.count("-") == 2


def test_human_form_is_grouped():
    number = CitizenNumber.parse(CitizenNumber.new().canonical)
    c = number.canonical
    assert number.human == f"MTL {c[:4]}-{c[4:8]}-{c[8:]}"


def test_every_single_substitution_is_rejected():
    checked = 0
    for number in SAMPLE:
        text = number.canonical
        for position in range(len(text)):
            for symbol in ALPHABET:
                if symbol == text[position]:
                    continue
                typo = text[:position] + symbol + text[position + 1:]
                with pytest.raises(InvalidCitizenNumber, match="mistyped or two were swapped"):
                    CitizenNumber.parse(typo)
                checked += 1
    assert checked == len(SAMPLE) * 12 * 28


def test_every_adjacent_transposition_is_rejected():
    checked = 0
    for number in SAMPLE:
        text = number.canonical
        for position in range(len(text) - 1):
            a, b = text[position], text[position + 1]
            if a == b:
                continue  # swapping equal symbols changes nothing
            swapped = text[:position] + b + a + text[position + 2:]
            with pytest.raises(InvalidCitizenNumber, match="mistyped or two were swapped"):
                CitizenNumber.parse(swapped)
            checked += 1
    assert checked > len(SAMPLE) * 9


def test_transpositions_in_the_human_form_are_rejected_too():
    number = SAMPLE[0]
    human = number.human
    # swap the two characters around the first dash's neighbours: "ABCD-EFGH" -> "ABCE-DFGH"
    digits = number.canonical
    swapped = digits[:3] + digits[4] + digits[3] + digits[5:]
    if digits[3] != digits[4]:
        with pytest.raises(InvalidCitizenNumber):
            CitizenNumber.parse(f"MTL {swapped[:4]}-{swapped[4:8]}-{swapped[8:]}")
    assert CitizenNumber.parse(human) == number


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("MTL", "empty"),
    ("ABC", "12 characters"),
    ("MTL 2345-6789-ABCDE", "12 characters"),
    ("MTL 2345-6789-ABO0", "character 11 is O"),
    ("MTL 2345-6789-AB1C", "character 11 is 1 (one)"),
    ("MTL 2345-6789-AB#C", "not a digit 2-9"),
])
def test_wrong_input_gets_a_plain_explanation(text, message):
    with pytest.raises(InvalidCitizenNumber, match=message.replace("(", r"\(").replace(")", r"\)")):
        CitizenNumber.parse(text)


def test_parse_refuses_non_text():
    with pytest.raises(InvalidCitizenNumber):
        CitizenNumber.parse(None)  # type: ignore[arg-type]


def test_constructing_an_invalid_number_directly_fails():
    with pytest.raises(InvalidCitizenNumber):
        CitizenNumber("222222222223")


def test_numbers_come_from_secrets_not_from_anything_else(monkeypatch):
    calls = []
    real_choice = secrets.choice

    def spy(seq):
        calls.append(seq)
        return real_choice(seq)

    monkeypatch.setattr(cn.secrets, "choice", spy)
    CitizenNumber.new()
    assert len(calls) == 11 and all(seq == ALPHABET for seq in calls)


def test_no_collision_in_a_large_batch():
    # 53 bits of randomness: 20,000 draws collide with probability ~2e-8.
    batch = {CitizenNumber.new().canonical for _ in range(20_000)}
    assert len(batch) == 20_000
