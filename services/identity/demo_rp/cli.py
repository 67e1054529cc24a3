"""``mtlid demo-rp``: the demo montreal.ca relying party alone (what ``mtlid up`` starts).

The lead adds ``services.identity.demo_rp.cli`` to ``SERVICE_CLIS`` in services/cli.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal


def cmd_demo_rp(args: argparse.Namespace) -> int:
    from services.common.config import Settings
    from services.common.logging import configure
    from services.identity.demo_rp.app import run_demo_rp

    settings = Settings.from_env()
    configure("demo-rp", settings.log_level, console_level=args.console_level, log_file=args.log_file)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if not args.quiet:  # `mtlid up` prints its own summary
            print(json.dumps({"demo_rp": f"http://127.0.0.1:{settings.demo_rp_port}/", "issuer": settings.issuer}),
                  flush=True)
        await run_demo_rp(settings, stop)

    asyncio.run(main())
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo-rp", help="run the demo montreal.ca relying party (development)")
    parser.add_argument("--quiet", action="store_true", help="do not print the address line")
    parser.add_argument("--log-file", help="also write JSON log lines to this file")
    parser.add_argument("--console-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="what reaches stderr (default MTLID_LOG_LEVEL)")
    parser.set_defaults(func=cmd_demo_rp)
