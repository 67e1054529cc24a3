"""``mtlid ledger …`` and ``mtlid consent …``: the consent register for operators and auditors.

    mtlid ledger verify [--tree-head FILE]   # re-check the whole log, its tables (and a saved tree head)
    mtlid ledger tree-head > sth.json        # the current signed tree head, to keep
    mtlid ledger witness-key --name N --out F   # a witness's key; prints its verifier key
    mtlid ledger witness --issuer URL --key F   # witness the ledger (entrypoints/witness.py)
    mtlid ledger rotate-key                 # a new signing key, announced by the current one
    mtlid export verify FILE [--witness-key VKEY] [--identity-keys JWKS]  # check a resident's file offline
    mtlid consent expire                     # record consent_expired for consents past expiry
    mtlid consent purposes                   # the purpose catalogue

Every command prints JSON on stdout; exit status 1 when a check fails or the input is bad.
"""

from __future__ import annotations

import asyncio
import json
import pathlib


def register(subparsers) -> None:
    ledger = subparsers.add_parser("ledger", help="the consent ledger (RFC 9162 Merkle log)")
    sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    verify = sub.add_parser("verify", help="re-check every entry, the stored tree and a saved tree head")
    verify.add_argument("--tree-head", type=pathlib.Path, default=None,
                        help="a saved signed tree head: the JWS, or the JSON `mtlid ledger tree-head` printed")
    verify.set_defaults(func=lambda args: _run(_verify(args)))
    head = sub.add_parser("tree-head", help="print the current signed tree head (JSON)")
    head.set_defaults(func=lambda args: _run(_tree_head(args)))
    rotate = sub.add_parser("rotate-key", help="a new signing key for the ledger, announced by the current one; "
                                               "then restart the consent service")
    rotate.set_defaults(func=lambda args: _run(_rotate_key(args)))
    from services.consent.entrypoints import witness
    witness.register(sub)

    export = subparsers.add_parser("export", help="a resident's file (Mon compte's download)")
    esub = export.add_subparsers(dest="export_command", required=True, metavar="ACTION")
    check = esub.add_parser("verify", help="check every receipt and proof in a resident's file, offline")
    check.add_argument("file", type=pathlib.Path, help="the JSON file downloaded from Mon compte")
    check.add_argument("--witness-key", action="append", default=[], metavar="VKEY",
                       help="a witness's verifier key (name+id+key), to check its cosignature; repeatable")
    check.add_argument("--identity-keys", type=pathlib.Path, metavar="JWKS",
                       help="identity's published keys (<issuer>/jwks, saved): the file's signature must "
                            "verify with one of them rather than with the keys the file carries")
    check.set_defaults(func=_export_verify)

    consent = subparsers.add_parser("consent", help="the consent register")
    csub = consent.add_subparsers(dest="consent_command", required=True, metavar="ACTION")
    expire = csub.add_parser("expire", help="record consent_expired for consents past their expiry")
    expire.set_defaults(func=lambda args: _run(_expire(args)))
    purposes = csub.add_parser("purposes", help="list the purpose catalogue")
    purposes.add_argument("--all-versions", action="store_true")
    purposes.set_defaults(func=lambda args: _run(_purposes(args)))


def _run(coroutine) -> int:
    result, ok = asyncio.run(coroutine)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if ok else 1


async def _with_store(work):
    from services.common.config import Settings
    from services.common.db import create_engine, session_factory
    from services.consent.adapters.repositories import LedgerStore
    from services.consent.adapters.uow import ConsentUnitOfWork

    settings = Settings.from_env()
    engine = create_engine(settings.database_url("consent"))
    store = LedgerStore(session_factory(engine), settings.key_encryption_key)
    try:
        return await work(lambda: ConsentUnitOfWork(store))
    finally:
        await store.aclose()
        await engine.dispose()


def _read_tree_head(path: pathlib.Path) -> str:
    text = path.read_text().strip()
    if text.startswith("{"):
        return json.loads(text)["jws"]
    return text


async def _verify(args):
    from services.common.progress import Progress
    from services.consent.service_layer.verification import verify_log

    try:
        jws = _read_tree_head(args.tree_head) if args.tree_head else None
    except (OSError, ValueError, KeyError) as error:
        return {"ok": False, "problems": [f"--tree-head: {error}"]}, False
    progress = Progress("mtlid ledger verify")  # on a terminal only; scripts see the JSON alone
    try:
        report = await _with_store(lambda uow: verify_log(uow, tree_head_jws=jws, progress=progress))
    finally:
        progress.finish()
    return report, report["ok"]


async def _rotate_key(_args):
    """LEDGER.md "Key rotation": the current key signs the announcement of the next one."""
    import datetime as dt

    from services.consent.adapters.repositories import rotate_log_key

    async def work(uow):
        async with uow() as u:
            size = await u.reads.tree_size()
            return await rotate_log_key(u.store, size, dt.datetime.now(dt.timezone.utc))

    report = await _with_store(work)
    report["next_step"] = "restart every consent replica: each signs with the key it read at start"
    return report, True


async def _tree_head(_args):
    from services.consent.service_layer import handlers

    head = await _with_store(lambda uow: handlers.signed_tree_head(0, uow()))
    return head.to_json(), True


async def _expire(_args):
    from services.consent.service_layer import handlers

    count = await _with_store(lambda uow: handlers.expire_due(uow()))
    return {"expired": count}, True


async def _purposes(args):
    async def work(uow):
        async with uow() as u:
            return [{**p.wording(), "text_sha256": p.text_sha256}
                    for p in await u.catalogue.purposes(all_versions=args.all_versions)]
    return await _with_store(work), True


def _export_verify(args) -> int:
    """Offline: no database, no network — only the file (domain/export_check.py)."""
    from services.consent.domain.export_check import verify_export
    from services.consent.domain.witness import VerifierKey, WitnessFormatError

    try:
        document = json.loads(args.file.read_text(encoding="utf-8"))
        keys = [VerifierKey.parse(k) for k in args.witness_key]
        identity_keys = json.loads(args.identity_keys.read_text(encoding="utf-8")) if args.identity_keys else None
        if identity_keys is not None and not isinstance(identity_keys.get("keys") if isinstance(identity_keys, dict)
                                                        else None, list):
            raise ValueError("--identity-keys: not a JWK Set (RFC 7517 s. 5)")
    except (OSError, ValueError, WitnessFormatError) as error:
        print(json.dumps({"ok": False, "problems": [f"{args.file}: {error}"]}, ensure_ascii=False, indent=2))
        return 1
    if not isinstance(document, dict):
        print(json.dumps({"ok": False, "problems": ["not a resident's file"]}, indent=2))
        return 1
    report = verify_export(document, keys, identity_keys)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["ok"] else 1
