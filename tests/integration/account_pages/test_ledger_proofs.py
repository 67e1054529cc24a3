"""Proofs for residents (issue 18): from Mon compte, a resident downloads, for an entry of their
history, its exact bytes, its inclusion proof and the signed (and witnessed) head, and checks
it with the short program the how-to page shows — Python's hashlib and joserfc, nothing of
mtlid's. A flipped byte fails it. Another resident's entry is not theirs to download. The
consents page says how many witnesses cosigned the head proofs refer to."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.integration.account_pages.test_with_services import (_give_communication_consent, _resident,  # noqa: F401
                                                                system)


async def test_a_resident_downloads_a_proof_and_checks_it_with_standard_tools(system, tmp_path):
    alice, _ = await _resident(system, "preuve.alice@example.ca")
    bob, _ = await _resident(system, "preuve.bob@example.ca")
    try:
        await _give_communication_consent(alice)
        listing = (await alice.get("/account/consents")).text
        assert "Le registre des consentements" in listing
        assert "Aucun témoin indépendant" in listing   # no witness configured in this system: said plainly
        index = int(re.search(r'/account/ledger/(\d+)/proof', listing).group(1))

        reply = await alice.get(f"/account/ledger/{index}/proof")
        assert reply.status_code == 200 and "attachment" in reply.headers["content-disposition"]
        proof = reply.json()
        assert proof["leaf_index"] == index and proof["entry"]["type"] == "consent_given"
        assert proof["how_to_check"].endswith("/account/ledger/how-to-check")
        saved = tmp_path / "preuve.json"
        saved.write_text(reply.text)

        howto = await alice.get("/account/ledger/how-to-check")
        assert howto.status_code == 200 and "hashlib" in howto.text
        script = await alice.get("/static/check_ledger_proof.py")
        assert script.status_code == 200
        checker = tmp_path / "check_ledger_proof.py"
        checker.write_text(script.text)
        checked = subprocess.run([sys.executable, str(checker), str(saved)], capture_output=True, text=True,
                                 timeout=60, cwd=tmp_path)
        assert checked.returncode == 0 and checked.stdout.startswith("ok:"), checked.stdout + checked.stderr

        # one flipped byte of the entry, and the same program refuses it
        forged = json.loads(reply.text)
        import base64
        data = bytearray(base64.b64decode(forged["leaf_data_base64"]))
        data[10] ^= 0x01
        forged["leaf_data_base64"] = base64.b64encode(bytes(data)).decode()
        bad = tmp_path / "forged.json"
        bad.write_text(json.dumps(forged))
        refused = subprocess.run([sys.executable, str(checker), str(bad)], capture_output=True, text=True,
                                 timeout=60, cwd=tmp_path)
        assert refused.returncode != 0

        # Bob cannot download Alice's entry; nonsense indices are a plain 404
        assert (await bob.get(f"/account/ledger/{index}/proof")).status_code == 404
        assert (await alice.get("/account/ledger/abc/proof")).status_code == 404
    finally:
        await alice.aclose()
        await bob.aclose()
