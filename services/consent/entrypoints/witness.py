"""``mtlid ledger witness``: an independent witness of the consent ledger.

Run by someone other than the city's operator (the city's auditor, the Commission d'accès à
l'information, a university), on their own machine, with their own key. It needs nothing
from mtlid but HTTP:

1. ``GET <issuer>/ledger/tree-head``: the log's signed tree head (RFC 9162 s. 4.10 role; a
   JWS verified against the log keys pinned at first contact, ``GET <issuer>/ledger/keys``)
   and its origin (pinned too). A head signed by a key not pinned is accepted only if a
   pinned key announced that key (``rotations`` in ``/ledger/keys``, LEDGER.md "Key
   rotation"); the witness then pins it too. Its last cosigned head is kept across the
   rotation, so the consistency check below still refuses a fork;
2. from the last head this witness cosigned (size m, root r_m, kept in its state file) to the
   new one (n, r_n): n >= m, and ``GET <issuer>/ledger/consistency?first=m&second=n`` verifies
   (RFC 9162 s. 2.1.4.2) — else the head is refused and an alarm raised (a split view or a
   rewrite: the log showed this witness one history, and now another);
3. cosigns the checkpoint ``(origin, n, r_n)`` (C2SP cosignature/v1, ``domain/witness.py``),
   records it in its state file *before* publishing it, and ``POST``s the signed note to
   ``<issuer>/ledger/cosignatures``;
4. so that witnesses polling at different moments converge on one head, it also cosigns the
   head the log publishes as witnessed when that head is a prefix of n (proven by a
   consistency proof to n).

On a refusal the witness writes one JSON line on stderr (``"alarm": "witness_disagreement"``),
keeps the alarm in its state file, re-submits its last cosigned note (so the log's own
``witness_disagreement`` alarm fires if the log rewrote that head) and never cosigns a head
inconsistent with its last one again. ``--once`` does one round: exit 0 cosigned, 3 refused,
1 could not reach the log or read its answer.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import pathlib
import sys
import time

logger = logging.getLogger("mtlid.witness")

EXIT_REFUSED = 3


class Unreachable(Exception):
    """The log did not answer, or not in the documented shape: nothing to judge yet."""


class Refused(Exception):
    """The head is inconsistent with the one this witness cosigned."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Witness:
    def __init__(self, issuer: str, key, state_path: pathlib.Path, *, http=None) -> None:
        import httpx

        self.issuer = issuer.rstrip("/")
        self.key = key
        self.state_path = state_path
        self.http = http or httpx.Client(timeout=10)
        self.state = json.loads(state_path.read_text()) if state_path.exists() else {}

    # --- state ---------------------------------------------------------------------------
    def _save(self) -> None:
        temporary = self.state_path.with_suffix(self.state_path.suffix + ".tmp")
        temporary.write_text(json.dumps(self.state, indent=2))
        os.replace(temporary, self.state_path)

    def _get(self, path: str, **params) -> dict:
        import httpx

        try:
            reply = self.http.get(self.issuer + path, params=params or None)
        except httpx.HTTPError as error:
            raise Unreachable(f"{path}: {error}") from None
        if reply.status_code != 200:
            raise Unreachable(f"{path}: HTTP {reply.status_code}")
        try:
            return reply.json()
        except ValueError:
            raise Unreachable(f"{path}: not JSON") from None

    # --- one round -----------------------------------------------------------------------
    def round(self, now: dt.datetime | None = None) -> dict:
        """Fetch, verify and cosign the log's current head; raises Refused or Unreachable."""
        from services.consent.domain.signing import SignatureInvalid, b64url_decode
        from services.consent.domain.witness import Checkpoint

        now = now or dt.datetime.now(dt.timezone.utc)
        if self.state.get("alarm"):
            raise Refused(self.state["alarm"]["reason"])
        published = self._get("/ledger/tree-head")
        if "log_keys" not in self.state:  # trust on first use, then pinned
            self.state["log_keys"] = self._get("/ledger/keys")
        try:
            head = self._verified_head(published)
            origin = published["origin"]
        except (SignatureInvalid, KeyError, TypeError) as error:
            return self._refuse(f"the tree head does not verify against the pinned log keys ({error})",
                                published.get("tree_size"))
        self.state.setdefault("origin", origin)
        if origin != self.state["origin"]:
            return self._refuse(f"the log's origin changed from {self.state['origin']} to {origin}", head.tree_size)
        last_size = self.state.get("tree_size", 0)
        last_root = base64.b64decode(self.state["root_hash"]) if last_size else b""
        if head.tree_size < last_size:
            return self._refuse(f"the log shrank from {last_size} to {head.tree_size} entries", head.tree_size)
        if last_size and not self._consistent(last_size, last_root, head.tree_size, head.root_hash):
            return self._refuse(f"the head of size {head.tree_size} is not consistent with the head of size "
                                f"{last_size} this witness cosigned (split view or rewrite)", head.tree_size)
        cosigned = []
        if head.tree_size and head.tree_size != last_size:
            checkpoint = Checkpoint(origin, head.tree_size, head.root_hash)
            note = self._cosign(checkpoint, now)
            self.state.update(tree_size=head.tree_size, root_hash=_b64(head.root_hash), note=note,
                              cosigned_at=now.isoformat())
            self._save()
            cosigned.append(self._submit(note))
            # Converge with the other witnesses on the head the log publishes as witnessed.
            witnessed = published.get("witnesses") or {}
            size = witnessed.get("cosigned_tree_size") or 0
            if 0 < size < head.tree_size and self.key.name not in [
                    c.get("witness") for c in witnessed.get("cosignatures", [])]:
                root = b64url_decode(witnessed.get("cosigned_root_hash", ""))
                if self._consistent(size, root, head.tree_size, head.root_hash):
                    cosigned.append(self._submit(self._cosign(Checkpoint(origin, size, root), now)))
        self._save()
        return {"tree_size": head.tree_size, "cosigned": cosigned}

    def _verified_head(self, published: dict):
        """The head, verified with the pinned log keys — or, when a key the witness has not
        pinned signed it, with a key that a pinned key announced (the log's key rotation,
        ``signing.follow_rotations``): the announcement is verified, never the keys as served."""
        from services.consent.domain.signing import SignatureInvalid, follow_rotations, verify_tree_head

        try:
            return verify_tree_head(published["jws"], self.state["log_keys"])
        except SignatureInvalid:
            served = self._get("/ledger/keys")
            keys, followed = follow_rotations(self.state["log_keys"], served.get("rotations") or [])
            if not followed:
                raise
            head = verify_tree_head(published["jws"], keys)
            self.state["log_keys"] = keys
            self.state.setdefault("rotations_followed", []).extend(followed)
            logger.info("followed the log's key rotation", extra={"rotations": followed})
            return head

    def _consistent(self, first: int, first_root: bytes, second: int, second_root: bytes) -> bool:
        from services.consent.domain import merkle

        if first == second:
            return first_root == second_root
        answer = self._get("/ledger/consistency", first=first, second=second)
        try:
            proof = [base64.b64decode(node) for node in answer["proof"]]
        except (KeyError, TypeError, ValueError):
            return False
        return merkle.verify_consistency(first, second, first_root, second_root, proof)

    def _cosign(self, checkpoint, now: dt.datetime) -> str:
        from services.consent.domain.witness import signed_note

        return signed_note(checkpoint, [self.key.cosign(checkpoint, int(now.timestamp()))])

    def _submit(self, note: str) -> dict:
        import httpx

        try:
            reply = self.http.post(self.issuer + "/ledger/cosignatures", content=note.encode(),
                                   headers={"Content-Type": "text/plain; charset=utf-8"})
        except httpx.HTTPError as error:
            return {"submitted": False, "error": str(error)}
        return {"submitted": reply.status_code == 200, "status": reply.status_code}

    def _refuse(self, reason: str, offered_size) -> dict:
        alarm = {"alarm": "witness_disagreement", "witness": self.key.name, "issuer": self.issuer,
                 "cosigned_tree_size": self.state.get("tree_size", 0), "offered_tree_size": offered_size,
                 "reason": reason, "time": dt.datetime.now(dt.timezone.utc).isoformat()}
        self.state["alarm"] = alarm
        self._save()
        sys.stderr.write(json.dumps(alarm) + "\n")
        sys.stderr.flush()
        if self.state.get("note"):  # tell the log what this witness cosigned: its own alarm fires if it rewrote it
            self._submit(self.state["note"])
        raise Refused(reason)


def register(sub) -> None:
    witness = sub.add_parser("witness", help="witness the ledger: verify each new head's consistency and cosign it")
    witness.add_argument("--issuer", required=True, help="the platform's issuer URL, e.g. https://id.montreal.ca")
    witness.add_argument("--key", required=True, type=pathlib.Path, help="this witness's key file (ledger witness-key)")
    witness.add_argument("--state", type=pathlib.Path, default=None,
                         help="where the last cosigned head is kept (default: <key file>.state.json)")
    witness.add_argument("--interval", type=float, default=60.0, help="seconds between polls (default 60)")
    witness.add_argument("--once", action="store_true", help="one round, then exit (0 cosigned, 3 refused)")
    witness.set_defaults(func=_run_witness)
    key = sub.add_parser("witness-key", help="create a witness key; prints its verifier key for the log's operator")
    key.add_argument("--name", required=True, help="the witness's public name, e.g. cai.gouv.qc.ca")
    key.add_argument("--out", required=True, type=pathlib.Path, help="the key file to create (kept secret)")
    key.set_defaults(func=_create_key)


def _load_key(path: pathlib.Path):
    from services.consent.domain.witness import WitnessFormatError, WitnessKey

    try:
        return WitnessKey.parse(path.read_text())
    except (OSError, WitnessFormatError) as error:
        raise SystemExit(f"--key: {error}") from None


def _create_key(args) -> int:
    from services.consent.domain.witness import WitnessFormatError, WitnessKey

    if args.out.exists():
        raise SystemExit(f"--out: {args.out} exists; not overwritten")
    try:
        key = WitnessKey.generate(args.name)
    except WitnessFormatError as error:
        raise SystemExit(f"--name: {error}") from None
    args.out.touch(mode=0o600)
    args.out.write_text(key.encode())
    print(json.dumps({"name": key.name, "verifier_key": key.verifier.encode()}))
    return 0


def _run_witness(args) -> int:
    key = _load_key(args.key)
    state = args.state or args.key.with_name(args.key.name + ".state.json")
    witness = Witness(args.issuer, key, state)
    while True:
        try:
            result = witness.round()
            print(json.dumps({"witness": key.name, **result}), flush=True)
            code = 0
        except Refused:
            code = EXIT_REFUSED
        except Unreachable as error:
            sys.stderr.write(json.dumps({"witness": key.name, "unreachable": str(error)}) + "\n")
            code = 1
        if args.once:
            return code
        time.sleep(args.interval)
