"""`mtlid export verify` on a file a changed byte made unreadable: a refusal in the report,
never an exception (issue 18: "verify passes, then fails on a flipped byte")."""

import pytest

from services.consent.domain.export_check import verify_export


@pytest.mark.parametrize("document", [
    {"consent": {"tree_head": {"jws": 7}}},                                # a number where a JWS was
    {"consent": {"tree_head": None}},                                      # a member turned null
    {"consent": {"tree_head": {"jws": "e30.e30.AAAA"}, "log_keys": {"keys": "x"}}},
    {"consent": "not an object", "signature": {"alg": "ES256"}},
], ids=["number", "null", "bad-keys", "not-an-object"])
def test_an_unreadable_file_is_refused_in_the_report(document):
    report = verify_export(document)
    assert report["ok"] is False and report["problems"], report


def test_a_consistency_proof_that_no_longer_decodes_is_a_problem_not_a_crash():
    import base64

    from services.consent.domain import export_check
    from services.consent.domain.witness import Checkpoint, WitnessKey, signed_note

    problems: list[str] = []
    root = b"\x01" * 32

    class Head:
        tree_size, root_hash = 4, b"\x00" * 32

    checkpoint = Checkpoint("id.montreal.ca/ledger", 2, root)
    note = signed_note(checkpoint, [WitnessKey.generate("auditor.example").cosign(checkpoint, 1_765_000_000)])
    consent = {"witnessed_head": {"tree_size": 2, "root_hash": base64.urlsafe_b64encode(root).decode().rstrip("="),
                                  "note": note},
               "witnessed_consistency_proof": ["AAAAA"]}   # a flipped bit: 5 characters, no longer base64
    try:
        ok, _ = export_check._witnessed(consent, Head(), [], problems)
    except Exception as error:  # noqa: BLE001 - the point of the test
        pytest.fail(f"raised {error!r}")
    assert ok is False and any("consistency proof" in p for p in problems), problems
