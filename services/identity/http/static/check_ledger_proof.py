"""Check a proof downloaded from Mon compte (« Télécharger la preuve ») with standard tools:
Python's hashlib and a JOSE library (joserfc here; any ES256 JWS library will do).

    python3 check_ledger_proof.py preuve-registre-123.json

1. the entry's exact bytes hash to its leaf (RFC 9162 s. 2.1.1: SHA-256(0x00 || bytes));
2. the inclusion proof leads from that leaf to a root (RFC 9162 s. 2.1.3.2);
3. the ledger signed that root for that tree size (a compact JWS, ES256, with its keys);
4. the witnesses' cosignatures in the file are over that same tree size and root.
"""
import base64
import hashlib
import json
import sys

from joserfc import jws
from joserfc.jwk import KeySet

proof = json.load(open(sys.argv[1], encoding="utf-8"))
leaf = base64.b64decode(proof["leaf_data_base64"])
node = hashlib.sha256(b"\x00" + leaf).digest()                      # 1. the leaf
index, size = proof["leaf_index"], proof["tree_size"]
fn, sn = index, size - 1                                            # 2. RFC 9162 s. 2.1.3.2
for sibling in (base64.b64decode(p) for p in proof["audit_path"]):
    if sn == 0:
        sys.exit("the path is too long")
    if fn % 2 == 1 or fn == sn:
        node = hashlib.sha256(b"\x01" + sibling + node).digest()
        while fn % 2 == 0 and fn != 0:
            fn, sn = fn >> 1, sn >> 1
    else:
        node = hashlib.sha256(b"\x01" + node + sibling).digest()
    fn, sn = fn >> 1, sn >> 1
if sn != 0:
    sys.exit("the path is too short")
head = jws.deserialize_compact(proof["signed_tree_head"]["jws"],   # 3. the ledger's signature
                               KeySet.import_key_set(proof["log_keys"]), algorithms=["ES256"])
signed = json.loads(head.payload)
root = base64.urlsafe_b64decode(signed["root_hash"] + "=" * (-len(signed["root_hash"]) % 4))
if signed["tree_size"] != size or root != node:
    sys.exit("the signed tree head does not match the proof")
witnessed = proof.get("witnesses") or {}                            # 4. the witnesses' checkpoint
if witnessed.get("note"):
    lines = witnessed["note"].split("\n")
    if lines[1] != str(size) or base64.b64decode(lines[2]) != root:
        sys.exit("the witnesses cosigned another head")
print(f"ok: entry {index} is in the ledger of {size} entries, root {root.hex()}, "
      f"cosigned by {witnessed.get('count', 0)} witness(es)")
