"""Offline check of a resident's file (``mtlid export verify FILE``): everything in it that the
ledger signed or proves, with nothing but the file (and, optionally, the witnesses' keys).

Checks, each reported by name:
- ``tree_head``: the file's signed tree head verifies against the log keys in the file;
- ``entries``: every ledger entry's exact bytes (``inclusion_proofs``) are the canonical form
  of the entry shown, hash to its leaf hash (RFC 9162 s. 2.1.1), and its inclusion proof
  leads to the signed root (s. 2.1.3.2);
- ``receipts``: every consent receipt is a JWS of the log keys, and names the leaf of a
  ``consent_given`` entry proven above, for the same consent;
- ``consents``: every consent listed points at a proven ``consent_given`` entry of it;
- ``witnessed_head``: the head the witnesses cosigned is a prefix of the signed one
  (consistency proof, s. 2.1.4.2), its signed note is over that head, and — given their
  verifier keys — each cosignature verifies; fewer than the quorum is reported.

- ``file_signature`` (the resident's whole file, not the consent register's export alone):
  identity's JWS over a digest of every section verifies (with the keys in the file, or the
  keys published at ``<issuer>/jwks`` given as ``--identity-keys``) and each section still
  matches its digest; a changed, added or removed section is named
  (``services/common/file_signature.py``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from services.common.file_signature import verify_file_signature
from services.consent.domain import merkle
from services.consent.domain.canonical import canonical_json
from services.consent.domain.signing import SignatureInvalid, b64url_decode, verify_receipt, verify_tree_head
from services.consent.domain.witness import VerifierKey, WitnessFormatError, parse_note


def _consent_part(document: dict) -> dict:
    """The consent register's export, whether the file is the resident's whole file or it alone."""
    return document.get("consent") if isinstance(document.get("consent"), dict) else document


def verify_export(document: dict, witness_keys: Iterable[VerifierKey] = (),
                  identity_keys: dict | None = None) -> dict[str, Any]:
    """Check a resident's file offline; a file that is not what it should be gets a report
    saying so (``ok`` False), never an exception: a changed byte can leave any member
    unreadable (a base64 string that no longer decodes, a number turned into text)."""
    try:
        return _verify_export(document, witness_keys, identity_keys)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as error:   # binascii.Error is a ValueError
        return {"ok": False, "checks": {}, "problems": [f"unreadable: {type(error).__name__}: {error}"[:300]]}


def _verify_export(document: dict, witness_keys: Iterable[VerifierKey] = (),
                   identity_keys: dict | None = None) -> dict[str, Any]:
    problems: list[str] = []
    checks: dict[str, bool] = {}
    signature_report: dict = {}
    whole_file = isinstance(document.get("consent"), dict)
    if whole_file:
        # 0. every section as identity signed it (first: a changed section is named before
        # the ledger's own checks say what in it no longer holds)
        checks["file_signature"], signature_problems, signature_report = verify_file_signature(document, identity_keys)
        problems += signature_problems
    consent = _consent_part(document)
    keys = consent.get("log_keys") or {}
    # 1. the signed tree head
    try:
        head = verify_tree_head(consent["tree_head"]["jws"], keys)
        checks["tree_head"] = True
    except (SignatureInvalid, KeyError, TypeError) as error:
        return {"ok": False, "checks": {**checks, "tree_head": False}, "problems": [*problems, f"tree head: {error}"]}
    # 2. every entry, its bytes, its leaf, its path to the signed root
    proofs = consent.get("inclusion_proofs") or {}
    given: dict[str, tuple[int, str]] = {}  # consent id -> (index, leaf hash hex) of its consent_given
    bad_entries = 0
    for item in consent.get("ledger_entries") or []:
        index = item.get("index")
        proof = proofs.get(str(index))
        try:
            data = base64.b64decode(proof["leaf_data_base64"], validate=True)
            path = [base64.b64decode(p, validate=True) for p in proof["audit_path"]]
        except (KeyError, TypeError, ValueError):
            problems.append(f"entry {index}: no readable proof")
            bad_entries += 1
            continue
        leaf = merkle.leaf_hash(data)
        if canonical_json(item.get("entry")) != data:
            problems.append(f"entry {index}: the entry shown is not the one proven")
        elif leaf.hex() != item.get("leaf_hash"):
            problems.append(f"entry {index}: its leaf hash does not match its bytes")
        elif not merkle.verify_inclusion(leaf, index, head.tree_size, path, head.root_hash):
            problems.append(f"entry {index}: its inclusion proof does not lead to the signed root")
        else:
            entry = item["entry"]
            if entry.get("type") == "consent_given":
                given[entry.get("consent_id")] = (index, leaf.hex())
            continue
        bad_entries += 1
    checks["entries"] = bad_entries == 0
    # 3. receipts
    bad_receipts = 0
    for receipt in consent.get("receipts") or []:
        try:
            body = verify_receipt(receipt["jws"], keys)
        except (SignatureInvalid, KeyError, TypeError) as error:
            problems.append(f"receipt {receipt.get('consent_id')}: {error}")
            bad_receipts += 1
            continue
        ledger = body.get("ledger") or {}
        if body.get("record_id") != receipt.get("consent_id") or \
                given.get(body.get("record_id")) != (ledger.get("index"), ledger.get("leaf_hash")):
            problems.append(f"receipt {receipt.get('consent_id')}: does not name a proven consent_given entry")
            bad_receipts += 1
    checks["receipts"] = bad_receipts == 0
    # 4. consents listed
    stray = [c.get("consent_id") for c in consent.get("consents") or []
             if given.get(c.get("consent_id"), (None,))[0] != c.get("ledger_index")]
    for consent_id in stray:
        problems.append(f"consent {consent_id}: not backed by a proven consent_given entry")
    checks["consents"] = not stray
    # 5. the witnessed head
    checks["witnessed_head"], witnessed_report = _witnessed(consent, head, list(witness_keys), problems)
    return {"ok": not problems, "checks": checks, "problems": problems,
            "tree_head": {"tree_size": head.tree_size, "root_hash": head.root_hash.hex()},
            "entries": len(consent.get("ledger_entries") or []), "receipts": len(consent.get("receipts") or []),
            "witnessed": witnessed_report, **({"signature": signature_report} if whole_file else {})}


def _witnessed(consent: dict, head, keys: list[VerifierKey], problems: list[str]) -> tuple[bool, dict]:
    witnessed = consent.get("witnessed_head") or {}
    size = witnessed.get("tree_size") or 0
    if not size:
        return True, {"tree_size": 0, "cosignatures": 0, "verified": 0}
    before = len(problems)
    try:
        root = b64url_decode(witnessed["root_hash"])
        checkpoint, cosignatures = parse_note(witnessed["note"])
    except (KeyError, ValueError, WitnessFormatError) as error:
        problems.append(f"witnessed head: unreadable ({error})")
        return False, {}
    if (checkpoint.tree_size, checkpoint.root_hash) != (size, root):
        problems.append("witnessed head: the signed note is over another head")
    try:
        proof = [base64.b64decode(p, validate=True) for p in consent.get("witnessed_consistency_proof") or []]
    except (TypeError, ValueError) as error:
        problems.append(f"witnessed head: unreadable consistency proof ({error})")
        return False, {}
    consistent = (root == head.root_hash) if size == head.tree_size else (
        size < head.tree_size and merkle.verify_consistency(size, head.tree_size, root, head.root_hash, proof))
    if not consistent:
        problems.append(f"witnessed head: the head of size {size} is not a prefix of the signed one")
    by_name = {k.name: k for k in keys}
    verified = 0
    for cosignature in cosignatures:
        key = by_name.get(cosignature.witness)
        if key is None:
            continue
        if cosignature.verify(checkpoint, key):
            verified += 1
        else:
            problems.append(f"witnessed head: the cosignature of {cosignature.witness} does not verify")
    quorum = witnessed.get("quorum") or 0
    report = {"tree_size": size, "cosignatures": len(cosignatures), "verified": verified, "quorum": quorum,
              "below_quorum": len(cosignatures) < quorum}
    return len(problems) == before, report
