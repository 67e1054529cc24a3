"""Mon compte: proofs a resident can check without trusting the city (issue 18).

For any entry of their history (a consent given or ended, an access to their data), the
resident downloads one JSON file: the entry's exact bytes, its RFC 9162 inclusion proof, the
ledger's signed tree head with the keys to check it, and the head the independent witnesses
cosigned (C2SP signed note). The proof is made for the witnessed tree size when the entry is
in it, so what it proves is the history the witnesses saw; otherwise for the current size,
and the file says the head is not yet witnessed. ``/account/ledger/how-to-check`` shows how to
check it with Python's hashlib and a JOSE library (``static/check_ledger_proof.py``).
"""

from __future__ import annotations

import base64
import json
import pathlib

from starlette.requests import Request
from starlette.responses import Response

from montreal.consent.v1 import consent_pb2 as cpb
from services.identity.http.account.backends import BackendError
from services.identity.http.account.web import client_for, page, signed_in, to_login, unavailable

# Served as /static/check_ledger_proof.py too: the page shows it, residents download it.
CHECKER = pathlib.Path(__file__).resolve().parent.parent / "static" / "check_ledger_proof.py"


def witnesses_view(reply: cpb.GetSignedTreeHeadResponse) -> dict:
    """How many witnesses cosigned the head the resident's proofs refer to, for the pages."""
    witnessed = reply.witnessed
    return {"tree_size": witnessed.tree_size, "count": len(witnessed.cosignatures), "quorum": reply.witness_quorum,
            "below_quorum": witnessed.below_quorum, "names": [c.witness for c in witnessed.cosignatures]}


async def ledger_proof(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    raw = request.path_params["index"]
    if not raw.isdigit() or len(raw) > 18:
        return page(request, "error.html", {"reason": "not_found"}, 404)
    index = int(raw)
    try:
        client = await client_for(request, who)
        head = await client.tree_head()
        witnessed = head.witnessed
        size = witnessed.tree_size if index < witnessed.tree_size else 0
        try:
            reply = await client.inclusion_proof(index, size)
        except BackendError as error:
            if error.unavailable:
                raise
            return page(request, "error.html", {"reason": "not_found"}, 404)  # not theirs, or no such entry
        keys = await client.log_keys()
    except BackendError as error:
        return unavailable(request, error)
    sth = reply.signed_tree_head
    same = reply.tree_size == witnessed.tree_size
    document = {
        "format": "mtlid-ledger-proof/1",
        "how_to_check": str(request.base_url).rstrip("/") + "/account/ledger/how-to-check",
        "leaf_index": reply.leaf_index, "tree_size": reply.tree_size,
        "leaf_data_base64": base64.b64encode(reply.entry.leaf_data).decode(),
        "leaf_hash_hex": reply.entry.leaf_hash.hex(),
        "entry": json.loads(reply.entry.leaf_data),
        "audit_path": [base64.b64encode(node).decode() for node in reply.audit_path],
        "signed_tree_head": {"tree_size": sth.tree_size, "jws": sth.jws, "key_id": sth.key_id,
                             "root_hash": base64.urlsafe_b64encode(sth.root_hash).rstrip(b"=").decode()},
        "log_keys": json.loads(keys or "{}"),
        "origin": head.origin,
        "witnesses": {**witnesses_view(head), "note": witnessed.note if same else "",
                      "cosignatures": [c.line for c in witnessed.cosignatures] if same else [],
                      "witnessed": same},
    }
    return Response(json.dumps(document, ensure_ascii=False, indent=2), media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="preuve-registre-{index}.json"', "Cache-Control": "no-store"})


async def how_to_check(request: Request) -> Response:
    """The short page explaining how anyone can check a downloaded proof."""
    return page(request, "account/how_to_check.html", {
        "nav": "consents", "script": CHECKER.read_text(), "script_url": "/static/check_ledger_proof.py",
        "command": "pip install joserfc\npython3 check_ledger_proof.py preuve-registre-123.json"})
