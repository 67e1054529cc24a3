"""The complete file (issue 18, Law 25 access and portability): a resident who signed in, had
a service account linked, gave and withdrew consents and whose data a service received
downloads one file with every section — identity (number, level, sign-in history, relying
parties and their grants, agent actions), profile with provenance, service accounts,
consents with their signed receipts, the access log, every ledger entry with its proof and
the witnessed head — as JSON and as an HTML page to print. `mtlid export verify` (a real
process, offline) passes on it, and fails on one flipped byte of an entry or a receipt."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys

from tests.e2e.system import BOROUGH_SERVICE, Borough
from tests.integration.account_pages.conftest import hidden_fields
from tests.integration.account_pages.test_with_services import (PASSWORD, _give_communication_consent,  # noqa: F401
                                                                _resident, system)


def _verify(path) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "services.cli", "export", "verify", str(path)],
                          capture_output=True, text=True, timeout=60, env={**os.environ})
    return done.returncode, json.loads(done.stdout)


async def test_the_complete_file_has_every_section_and_verifies_offline(system, tmp_path):
    http, resident_id = await _resident(system, "dossier.complet@example.ca")
    borough = Borough(system, system.secret)
    borough.link(resident_id, "PMR-F")
    try:
        consent_id = await _give_communication_consent(http)
        assert borough.release_email(resident_id).access_id
        page = await http.get(f"/account/consents/{consent_id}/withdraw")
        await http.post(f"/account/consents/{consent_id}/withdraw", data=hidden_fields(page.text))
        await _give_communication_consent(http)

        form = await http.get("/account/export")
        reply = await http.post("/account/export", data={**hidden_fields(form.text), "current_password": PASSWORD})
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json"), reply.text[:3000]
        document = reply.json()
        assert document["resident"]["citizen_number"] == resident_id
        assert {"sign_in_history", "relying_parties", "agent_actions", "account_life", "linked_services", "accounts",
                "consent", "access_log"} <= set(document)
        assert document["sign_in_history"] and document["sign_in_history"][0]["methods"] == ["pwd"]
        assert not any("secret" in key for s in document["sign_in_history"] for key in s)
        assert [s["account_reference"] for s in document["linked_services"]] == ["PMR-F"]
        assert any(a["provenance"] for a in document["accounts"]["profile"]["attributes"])
        consent = document["consent"]
        assert len(consent["consents"]) == 2 and {c["state"] for c in consent["consents"]} == {"given", "withdrawn"}
        assert len(consent["receipts"]) == 2
        assert document["access_log"] and document["access_log"][0]["entry"]["recipient_id"] == BOROUGH_SERVICE
        assert set(consent["inclusion_proofs"]) == {str(e["index"]) for e in consent["ledger_entries"]}

        saved = tmp_path / "dossier.json"
        saved.write_text(reply.text)
        code, report = _verify(saved)
        assert code == 0 and report["ok"], report
        assert report["checks"] == {"tree_head": True, "entries": True, "receipts": True, "consents": True,
                                    "witnessed_head": True}
        assert report["entries"] == len(consent["ledger_entries"]) and report["receipts"] == 2

        # one flipped byte of an entry's proven bytes
        forged = json.loads(reply.text)
        index = str(forged["consent"]["ledger_entries"][0]["index"])
        data = bytearray(base64.b64decode(forged["consent"]["inclusion_proofs"][index]["leaf_data_base64"]))
        data[-3] ^= 0x01
        forged["consent"]["inclusion_proofs"][index]["leaf_data_base64"] = base64.b64encode(bytes(data)).decode()
        (tmp_path / "forged-entry.json").write_text(json.dumps(forged))
        code, report = _verify(tmp_path / "forged-entry.json")
        assert code == 1 and not report["checks"]["entries"]
        # one flipped byte in a receipt's signed payload
        forged = json.loads(reply.text)
        token = forged["consent"]["receipts"][0]["jws"]
        head, payload, signature = token.split(".")
        raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        raw[len(raw) // 2] ^= 0x01
        forged["consent"]["receipts"][0]["jws"] = ".".join(
            (head, base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode(), signature))
        (tmp_path / "forged-receipt.json").write_text(json.dumps(forged))
        code, report = _verify(tmp_path / "forged-receipt.json")
        assert code == 1 and not report["checks"]["receipts"]
        # one changed character of an entry as displayed (the proven bytes stay): caught too
        shown = reply.text.replace('"reason": "resident"', '"reason": "xesident"', 1)
        assert shown != reply.text
        (tmp_path / "forged-shown.json").write_text(shown)
        assert _verify(tmp_path / "forged-shown.json")[0] == 1

        # the same file, to read and print
        readable = await http.post("/account/export", data={**hidden_fields(form.text), "current_password": PASSWORD,
                                                            "format": "html"})
        assert readable.status_code == 200 and readable.headers["content-type"].startswith("text/html")
        assert re.search(r'attachment; filename="mon-dossier-montreal-[\d-]+\.html"',
                         readable.headers["content-disposition"])
        for words in ("Historique des connexions", "Profil et provenance", "Journal des accès", "PMR-F",
                      "Registre des consentements"):
            assert words in readable.text, words
    finally:
        await http.aclose()
