"""The resident file's one list of sections (issue 18): each section that has a heading has
its partial for the printable page and its heading in both catalogues, names are unique, and
the signature covers a section added to the list without any other change — so another
issue adds a section by adding one line and one partial."""

from __future__ import annotations

import json
import pathlib

from cryptography.hazmat.primitives.asymmetric import ec

from services.common.file_signature import section_digest, sign_file, verify_file_signature
from services.identity.service_layer.resident_file import SECTIONS

HTTP = pathlib.Path(__file__).resolve().parents[3] / "services" / "identity" / "http"


def test_every_section_has_its_partial_and_its_heading_in_french_and_english():
    names = [s.name for s in SECTIONS]
    assert len(names) == len(set(names)) and "signature" not in names
    catalogues = {lang: json.loads((HTTP / "i18n" / f"account.{lang}.json").read_text()) for lang in ("fr", "en")}
    for section in SECTIONS:
        if section.heading is None:
            continue
        assert (HTTP / "templates" / "account" / "file" / f"{section.name}.html").exists(), section.name
        for lang, catalogue in catalogues.items():
            assert catalogue.get(section.heading), (lang, section.heading)


def test_a_section_added_later_is_signed_and_a_change_in_it_is_named():
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()

    def b64(n: int) -> str:
        import base64
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    jwks = {"keys": [{"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y), "kid": "k1"}]}
    document = {"resident": {"citizen_number": "ABCDEFGHJKLM"}, "closures": [{"closed_at": "2026-12-05T00:00:00Z"}]}
    document["signature"] = sign_file(document, issuer="https://id.example", kid="k1", private_key=key, jwks=jwks)
    assert verify_file_signature(document)[0]
    document["closures"][0]["closed_at"] = "2026-12-06T00:00:00Z"
    ok, problems, _ = verify_file_signature(document)
    assert not ok and problems == ["section closures: changed since the file was signed"]
    assert section_digest({"b": 1, "a": "é"}) == section_digest({"a": "é", "b": 1})  # key order does not matter
