"""``mtlid wallet`` (the reference wallet, development only) and ``mtlid card`` (the verifier).

    mtlid wallet accept "openid-credential-offer://?credential_offer=..." --tx-code 123456
    mtlid wallet renew                                            (the refresh token: a new card)
    mtlid wallet present --claim age_over_18 --audience comptoir-ahuntsic --nonce 7f3a [--qr]
    mtlid wallet present --openid4vp "openid4vp://?client_id=…&request_uri=…"   (a borough system, online)

Every wallet command asks the holder's PIN on the terminal (getpass; the first ``accept`` asks
the holder to choose it, twice), or reads it as one line from stdin with ``--pin-stdin`` (for
scripts and tests). There is no option taking the PIN itself: it would show in ``ps`` and in
the shell's history.
    mtlid card refresh --issuer https://id.montreal.ca            (online: keys + status list)
    mtlid card verify PRESENTATION --audience comptoir-ahuntsic --nonce 7f3a   (offline)

Exit codes of ``card verify``: 0 accepted (the disclosed claims printed as JSON), 1 refused
(the reason printed), 2 usage.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

DEFAULT_WALLET = Path("var/wallet.json")
DEFAULT_CACHE = Path("var/card-verifier-cache.json")


class _NoPin(Exception):
    pass


def _read_pin(args, *, new: bool) -> str:
    """The holder's PIN: one line of stdin with ``--pin-stdin``, else asked on the terminal
    without echo. A new PIN is checked (6+ digits) and, on a terminal, typed twice."""
    from services.identity.card.wallet import WalletError, check_new_pin

    if args.pin_stdin:
        pin = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        pin = getpass.getpass("Choose the wallet's PIN (at least 6 digits): " if new else "Wallet PIN: ")
        if new and getpass.getpass("The same PIN again: ") != pin:
            raise _NoPin("the two PINs differ")
    if new:
        try:
            check_new_pin(pin)
        except WalletError as error:
            raise _NoPin(error.description) from None
    elif not pin:
        raise _NoPin("no PIN given")
    return pin


def _open_wallet(args, *, may_create: bool = False):
    """The wallet and its holder's PIN, or an exit code after saying why not."""
    from services.identity.card.wallet import ReferenceWallet, WalletError

    store = Path(args.store)
    new = may_create and not store.exists()
    if not new and not store.exists():
        print(f"mtlid wallet: no wallet in {store}; `mtlid wallet accept` sets one up", file=sys.stderr)
        return None, None, 2
    try:
        if not new:
            wallet = ReferenceWallet.open(store)
            if wallet.locked:
                print(f"mtlid wallet: {_locked_sentence()}", file=sys.stderr)
                return None, None, 1
        pin = _read_pin(args, new=new)
        if new:
            wallet = ReferenceWallet.open(store, pin)
    except _NoPin as error:
        print(f"mtlid wallet: {error}", file=sys.stderr)
        return None, None, 2
    except WalletError as error:
        print(f"mtlid wallet: {error.description}", file=sys.stderr)
        return None, None, 2
    return wallet, pin, 0


def _locked_sentence() -> str:
    from services.identity.card.wallet import _locked_error

    return _locked_error().description


def _refused(error) -> str:
    if error.step == "pin":  # wrong PIN or locked: the sentence says it all
        return f"mtlid wallet: {error.description}"
    return f"mtlid wallet: refused at {error.step}: {error.error} {error.description}".rstrip()


def cmd_wallet_accept(args) -> int:
    import httpx

    from services.identity.card.wallet import WalletError

    if os.environ.get("MTLID_ENV", "development") != "development":
        print("mtlid wallet: the reference wallet runs in development only", file=sys.stderr)
        return 2
    wallet, pin, code = _open_wallet(args, may_create=True)
    if wallet is None:
        return code

    async def accept() -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            return await wallet.accept_offer(http, args.offer, args.tx_code, pin=pin)

    try:
        card = asyncio.run(accept())
    except WalletError as error:
        print(_refused(error), file=sys.stderr)
        return 1
    from services.identity.card import sd_jwt

    print(json.dumps({"stored": str(args.store), "claims": sorted(sd_jwt.disclosed_names(card))}))
    return 0


def cmd_wallet_renew(args) -> int:
    import httpx

    from services.identity.card.wallet import WalletError

    if os.environ.get("MTLID_ENV", "development") != "development":
        print("mtlid wallet: the reference wallet runs in development only", file=sys.stderr)
        return 2
    wallet, pin, code = _open_wallet(args)
    if wallet is None:
        return code

    async def renew() -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            return await wallet.renew(http, pin=pin)

    try:
        asyncio.run(renew())
    except WalletError as error:
        print(_refused(error), file=sys.stderr)
        return 1
    print(json.dumps({"stored": str(args.store), "cards": len(wallet.cards)}))
    return 0


def cmd_wallet_present(args) -> int:
    from services.identity.card.wallet import WalletError

    if os.environ.get("MTLID_ENV", "development") != "development":
        print("mtlid wallet: the reference wallet runs in development only", file=sys.stderr)
        return 2
    if args.openid4vp:
        return _answer_openid4vp(args)
    if not args.claim or not args.audience or not args.nonce:
        print("mtlid wallet: --claim, --audience and --nonce are required without --openid4vp", file=sys.stderr)
        return 2
    wallet, pin, code = _open_wallet(args)
    if wallet is None:
        return code
    try:
        presentation = wallet.present(args.claim, audience=args.audience, nonce=args.nonce, pin=pin)
    except WalletError as error:
        print(_refused(error), file=sys.stderr)
        return 1
    if args.qr:
        import segno

        segno.make(presentation, error="l").terminal(compact=True)
    else:
        print(presentation)
    return 0


def _answer_openid4vp(args) -> int:
    """The wallet answers a borough system's OpenID4VP request over HTTP; exit 0 when the
    verifier accepted the presentation, 1 when it refused (its reason printed)."""
    import httpx

    from services.identity.card.wallet import WalletError

    wallet, pin, code = _open_wallet(args)
    if wallet is None:
        return code

    async def answer() -> dict:
        async with httpx.AsyncClient(timeout=10) as http:
            return await wallet.answer_openid4vp(http, args.openid4vp, args.claim or None, pin=pin)

    try:
        outcome = asyncio.run(answer())
    except WalletError as error:
        print(_refused(error), file=sys.stderr)
        return 1
    except (httpx.HTTPError, ValueError, KeyError) as error:
        print(f"mtlid wallet: {getattr(error, 'description', '') or type(error).__name__}", file=sys.stderr)
        return 1
    print(json.dumps(outcome, ensure_ascii=False))
    return 0 if outcome["status"] == 200 else 1


def cmd_card_refresh(args) -> int:
    import httpx

    from services.identity.card import verifier

    cache_path = Path(args.cache)
    try:
        previous = verifier.VerifierCache.load(cache_path) if cache_path.exists() else None
    except (ValueError, TypeError):
        previous = None  # an unreadable cache is replaced by the fresh one

    def fetch(url: str) -> str:
        response = httpx.get(url, timeout=10)
        response.raise_for_status()
        return response.text

    try:
        cache = verifier.refresh(args.issuer.rstrip("/"), fetch, previous=previous)
    except (httpx.HTTPError, ValueError, KeyError) as error:
        print(f"mtlid card: could not refresh from {args.issuer}: {type(error).__name__}", file=sys.stderr)
        return 1
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache.save(cache_path)
    print(json.dumps({"issuer": cache.issuer, "keys": len(cache.jwks.get("keys", [])),
                      "status_lists": len(cache.status_lists), "fetched_at": cache.fetched_at}))
    return 0


def cmd_card_verify(args) -> int:
    from services.identity.card import verifier
    from services.identity.card.sd_jwt import PresentationRefused

    cache_path = Path(args.cache)
    if not cache_path.exists():
        print("mtlid card: no cache; run `mtlid card refresh --issuer URL` while online", file=sys.stderr)
        return 2
    presentation = sys.stdin.read().strip() if args.presentation == "-" else args.presentation
    from joserfc.errors import JoseError

    try:
        check = verifier.OfflineVerifier(verifier.VerifierCache.load(cache_path), max_age=int(args.max_age))
    except (ValueError, TypeError, KeyError, AttributeError, JoseError):
        # a truncated or hand-edited file: say what to do rather than print a traceback
        print(f"mtlid card: the cache {cache_path} is unreadable; run `mtlid card refresh --issuer URL` while online",
              file=sys.stderr)
        return 2
    try:
        result = check.verify(presentation, audience=args.audience, nonce=args.nonce)
    except PresentationRefused as refused:
        print(json.dumps({"accepted": False, "reason": refused.reason, "detail": refused.detail},
                         ensure_ascii=False))
        return 1
    print(json.dumps({"accepted": True, "issuer": result.issuer, "disclosed": result.disclosed},
                     ensure_ascii=False))
    return 0


PIN_STDIN_HELP = ("read the wallet's PIN as one line from stdin instead of asking on the terminal "
                  "(never give the PIN as an argument: ps and shell history would keep it)")


def register(subparsers) -> None:
    wallet = subparsers.add_parser("wallet", help="the reference wallet for the carte citoyenne (development only)")
    wallet_sub = wallet.add_subparsers(dest="wallet_command", required=True, metavar="WALLET_COMMAND")
    # allow_abbrev=False: a mistyped `--pin 123456` must be refused, not taken for --pin-stdin
    accept = wallet_sub.add_parser("accept", allow_abbrev=False,
                                   help="receive a card from a credential offer (OpenID4VCI); the first sets the PIN")
    accept.add_argument("offer", help="the openid-credential-offer:// link Mon compte shows")
    accept.add_argument("--tx-code", required=True, help="the 6-digit code shown beside the QR code")
    accept.add_argument("--store", default=str(DEFAULT_WALLET))
    accept.add_argument("--pin-stdin", action="store_true", help=PIN_STDIN_HELP)
    accept.set_defaults(func=cmd_wallet_accept)
    renew = wallet_sub.add_parser("renew", allow_abbrev=False,
                                  help="renew the card (refresh token, no new offer), as a wallet does before exp")
    renew.add_argument("--store", default=str(DEFAULT_WALLET))
    renew.add_argument("--pin-stdin", action="store_true", help=PIN_STDIN_HELP)
    renew.set_defaults(func=cmd_wallet_renew)
    present = wallet_sub.add_parser("present", allow_abbrev=False,
                                    help="present chosen claims of the card (SD-JWT + key binding)")
    present.add_argument("--claim", action="append", help="a claim to disclose (repeatable; with --openid4vp: "
                                                          "instead of what the request asks)")
    present.add_argument("--audience", help="the verifier's identifier")
    present.add_argument("--nonce", help="the verifier's nonce")
    present.add_argument("--openid4vp", metavar="REQUEST_URL",
                         help="answer a borough system's openid4vp:// request over HTTP (direct_post)")
    present.add_argument("--qr", action="store_true", help="print a QR code instead of the text")
    present.add_argument("--store", default=str(DEFAULT_WALLET))
    present.add_argument("--pin-stdin", action="store_true", help=PIN_STDIN_HELP)
    present.set_defaults(func=cmd_wallet_present)

    card = subparsers.add_parser("card", help="verify cartes citoyennes offline")
    card_sub = card.add_subparsers(dest="card_command", required=True, metavar="CARD_COMMAND")
    refresh = card_sub.add_parser("refresh", help="(online) cache the issuer's card keys and status list")
    refresh.add_argument("--issuer", required=True)
    refresh.add_argument("--cache", default=str(DEFAULT_CACHE))
    refresh.set_defaults(func=cmd_card_refresh)
    verify = card_sub.add_parser("verify", help="(offline) check a presentation against the cache")
    verify.add_argument("presentation", help="the SD-JWT presentation, or - to read it from stdin")
    verify.add_argument("--audience", required=True)
    verify.add_argument("--nonce", required=True)
    verify.add_argument("--cache", default=str(DEFAULT_CACHE))
    verify.add_argument("--max-age", default="86400", help="seconds after which the cache is too old (default a day)")
    verify.set_defaults(func=cmd_card_verify)
