"""The token and introspection endpoints' form parser (``http/direct.py``) reads every body
exactly as ``urllib.parse.parse_qs`` with blank values kept, the parser it replaced."""

import random
from urllib.parse import parse_qs, quote

import pytest

from services.identity.http.convert import MAX_FORM_FIELDS
from services.identity.http.direct import parse_form

SAMPLES = [
    "", "grant_type=client_credentials&scope=accounts%3Arelease&resource=urn%3Amtlid%3Aaccounts",
    "scope=a+b&scope=c", "a", "a=", "=b", "&&a=1&&", "a=1=2", "%E9t%C3%A9=%C3%A9t%C3%A9+ok", "x=%zz%4", "+=+",
    "a=%2B%26%3D", "name=%00", "k=v;w", "a=1&A=2",
]


@pytest.mark.parametrize("encoded", SAMPLES)
def test_every_sample_parses_as_parse_qs_does(encoded):
    assert parse_form(encoded) == parse_qs(encoded, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)


def test_random_forms_parse_as_parse_qs_does():
    rng = random.Random(20)
    alphabet = "ab=&+%2BE9é_~-."
    for _ in range(5_000):
        encoded = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        encoded = encoded if rng.random() < 0.5 else quote(encoded, safe="=&+%")
        expected = parse_qs(encoded, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
        assert parse_form(encoded) == expected, encoded


def test_past_the_field_limit_it_refuses_as_parse_qs_does():
    at_limit = "&".join(f"f{n}=1" for n in range(MAX_FORM_FIELDS))
    assert len(parse_form(at_limit)) == MAX_FORM_FIELDS
    with pytest.raises(ValueError):
        parse_form(at_limit + "&one=more")
    with pytest.raises(ValueError):
        parse_qs(at_limit + "&one=more", max_num_fields=MAX_FORM_FIELDS)
