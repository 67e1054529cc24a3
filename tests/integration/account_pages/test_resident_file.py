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
import pathlib
import re
import subprocess
import sys

from tests.e2e.system import BOROUGH_SERVICE, Borough
from tests.integration.account_pages.conftest import hidden_fields
from tests.integration.account_pages.test_with_services import (PASSWORD, _give_communication_consent,  # noqa: F401
                                                                _resident, system)


def _verify(path, *options) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "services.cli", "export", "verify", str(path), *map(str, options)],
                          capture_output=True, text=True, timeout=60, env={**os.environ})
    return done.returncode, json.loads(done.stdout)


def _documented_check() -> str:
    doc = (pathlib.Path(__file__).resolve().parents[3] / "docs" / "resident-file.md").read_text()
    return doc.split("```python\n", 1)[1].split("```", 1)[0]


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=60)


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
        # one section per kind of thing: signing in (attempts and the sessions they opened), and
        # what agents did (one journal) — no section repeated under another name
        assert {"sign_ins", "relying_parties", "agent_actions", "account_life", "linked_services", "accounts",
                "consent", "access_log", "signature"} <= set(document)
        assert not {"sign_in_history", "counter_actions"} & set(document)
        assert set(document["sign_ins"]) == {"kept_days", "attempts", "sessions"}
        assert document["sign_ins"]["sessions"][0]["methods"] == ["pwd"]
        assert ("succeeded", ["pwd"]) in [(a["outcome"], a["methods"]) for a in document["sign_ins"]["attempts"]]
        assert not any("secret" in key for s in document["sign_ins"]["sessions"] for key in s)
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
        assert report["checks"] == {"file_signature": True, "tree_head": True, "entries": True, "receipts": True,
                                    "consents": True, "witnessed_head": True}
        assert report["signature"]["sections"] == len(document) - 1
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
        assert "section consent: changed since the file was signed" in report["problems"]
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
        assert "section consent: changed since the file was signed" in report["problems"]
        # identity's and accounts' sections are signed too: one flipped byte in any of them is
        # caught, and the changed section named
        for section, path in (("resident", ("resident", "email")), ("sign_ins", ("sign_ins", "attempts", 0, "time")),
                              ("agent_actions", None), ("accounts", ("accounts", "profile", "attributes", 0, "value")),
                              ("linked_services", ("linked_services", 0, "account_reference"))):
            forged = json.loads(reply.text)
            if path is None:
                forged[section].append({"at": "2026-01-01T00:00:00Z", "action": "find_resident", "office": "",
                                        "agent": "AG0000000", "client_id": "", "details": {}})
            else:
                holder = forged
                for step in path[:-1]:
                    holder = holder[step]
                value = holder[path[-1]].encode()
                holder[path[-1]] = (value[:-1] + bytes([value[-1] ^ 0x01])).decode()
            (tmp_path / f"forged-{section}.json").write_text(json.dumps(forged, ensure_ascii=False))
            code, report = _verify(tmp_path / f"forged-{section}.json")
            assert code == 1 and not report["checks"]["file_signature"], section
            assert report["problems"] == [f"section {section}: changed since the file was signed"], report
        # a section added or removed after signing, and the signature itself altered
        forged = json.loads(reply.text)
        forged["notes"] = "added"
        del forged["relying_parties"]
        (tmp_path / "forged-sections.json").write_text(json.dumps(forged))
        assert set(_verify(tmp_path / "forged-sections.json")[1]["problems"]) == {
            "section notes: not signed (added after the file was signed)",
            "section relying_parties: signed but missing from the file"}
        forged = json.loads(reply.text)
        forged["signature"]["jws"] = forged["signature"]["jws"][:-2] + ("AA" if forged["signature"]["jws"][-2:] != "AA" else "BB")
        (tmp_path / "forged-signature.json").write_text(json.dumps(forged))
        code, report = _verify(tmp_path / "forged-signature.json")
        assert code == 1 and report["problems"][0].startswith("signature: does not verify")
        # against identity's published keys (what a verifier who does not trust the file uses)
        published = await http.get("/jwks")
        (tmp_path / "jwks.json").write_text(published.text)
        assert _verify(saved, "--identity-keys", tmp_path / "jwks.json")[0] == 0
        (tmp_path / "other.json").write_text(json.dumps({"keys": [k for k in published.json()["keys"]
                                                                  if k["kid"] != document["signature"]["kid"]]}))
        code, report = _verify(saved, "--identity-keys", tmp_path / "other.json")
        assert code == 1 and report["problems"] == [
            f"signature: key {document['signature']['kid']} is not among the keys given"]

        # the documented procedure with standard tools (docs/resident-file.md) agrees
        script = tmp_path / "check_file.py"
        script.write_text(_documented_check())
        assert _run(script, saved).stdout.strip() == "ok: every section as signed"
        assert _run(script, saved, tmp_path / "jwks.json").returncode == 0
        checked = _run(script, tmp_path / "forged-accounts.json")
        assert checked.returncode == 1 and checked.stdout.strip() == "changed: accounts"

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
        for words in ("Historique des connexions", "Tentatives de connexion", "Sessions ouvertes",
                      "Profil et provenance", "Journal des accès", "PMR-F", "Registre des consentements",
                      "La Ville a signé chaque section"):
            assert words in readable.text, words
        english = await http.post("/account/export?lang=en", data={
            **hidden_fields(form.text), "current_password": PASSWORD, "format": "html"})
        assert english.status_code == 200 and '<html lang="en">' in english.text
        for words in ("Sign-in attempts", "Sessions opened", "Agents' actions on your file",
                      "The City signed every section"):
            assert words in english.text.replace("&#39;", "'"), words
    finally:
        await http.aclose()


async def test_the_readable_file_gives_every_time_in_montreal_time(system):
    """Issue 21, "dates in Montréal's time zone and Québec conventions everywhere": the page
    to read and print words each instant as Mon compte does ("6 décembre 2026 à 4 h 47"),
    never as the JSON's RFC 3339 UTC ("2026-12-06T09:47:00Z"), in French and in English."""
    import datetime as dt

    from services.identity.http.account.web import local_time
    from services.identity.http.i18n import Translator

    http, _ = await _resident(system, "dossier.dates@example.ca")
    try:
        await _give_communication_consent(http)
        form = await http.get("/account/export")
        document = (await http.post("/account/export", data={**hidden_fields(form.text),
                                                              "current_password": PASSWORD})).json()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", document["generated_at"])     # machines: UTC
        signed_in = document["sign_ins"]["sessions"][0]["signed_in_at"]
        for lang in ("fr", "en"):
            readable = (await http.post(f"/account/export?lang={lang}", data={
                **hidden_fields(form.text), "current_password": PASSWORD, "format": "html"})).text
            shown = re.sub(r"<style>.*?</style>", "", readable, flags=re.S)
            assert not re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d", shown), lang
            instant = dt.datetime.fromisoformat(signed_in.replace("Z", "+00:00"))
            assert local_time(instant, Translator(lang))["text"] in shown, lang
        assert re.search(r"\d{1,2}(er)? \w+ \d{4} à \d{1,2} h \d\d", readable) is None      # the last was English
    finally:
        await http.aclose()
