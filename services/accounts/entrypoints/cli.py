"""``mtlid service …``: the service catalogue from the command line, for operators and scripts.

    mtlid service create --id plateau-mont-royal-permits --kind borough \
        --borough "Le Plateau-Mont-Royal" --name-fr "Permis" --name-en "Permits" \
        --owner "Arrondissement du Plateau-Mont-Royal" --client-id plateau-permits \
        --attribute given_name --attribute email --purpose service-provision
    mtlid service list [--kind borough] [--borough NAME]
    mtlid service seed          # the starting catalogue (idempotent)

Every command prints JSON on stdout; errors print JSON on stderr with exit status 1 (bad
input) or 2 (configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from services.common.errors import ServiceError

from ..domain.catalogue import CatalogueService, ServiceKind


def register(subparsers) -> None:
    service = subparsers.add_parser("service", help="the accounts service catalogue")
    sub = service.add_subparsers(dest="service_command", required=True, metavar="ACTION")

    create = sub.add_parser("create", help="register a municipal, borough or partner service")
    create.add_argument("--id", dest="service_id", required=True)
    create.add_argument("--kind", required=True, choices=[k.value for k in ServiceKind])
    create.add_argument("--name-fr", required=True)
    create.add_argument("--name-en", required=True)
    create.add_argument("--owner", required=True)
    create.add_argument("--client-id", required=True)
    create.add_argument("--borough", default=None)
    create.add_argument("--attribute", action="append", default=[], help="repeat for each attribute")
    create.add_argument("--purpose", action="append", default=[], help="repeat for each purpose")
    create.set_defaults(func=_run(_create))

    listing = sub.add_parser("list", help="list the catalogue")
    listing.add_argument("--kind", choices=[k.value for k in ServiceKind], default=None)
    listing.add_argument("--borough", default=None)
    listing.set_defaults(func=_run(_list))

    seed = sub.add_parser("seed", help="add the starting catalogue (city services, 19 boroughs, a partner)")
    seed.set_defaults(func=_run(_seed))


def service_json(s: CatalogueService) -> dict:
    return {"service_id": s.service_id, "name_fr": s.name_fr, "name_en": s.name_en, "kind": s.kind.value,
            "owner": s.owner, "borough": s.borough, "client_id": s.client_id, "attributes": list(s.attributes),
            "purposes": list(s.purposes), "state": s.state.value,
            "create_time": s.created_at.isoformat(), "update_time": s.updated_at.isoformat()}


def _run(action):
    def run(args: argparse.Namespace) -> int:
        from services.common.config import Settings

        settings = Settings.from_env(os.environ)
        try:
            result = asyncio.run(_with_database(settings, action, args))
        except ServiceError as error:
            violations = getattr(error, "violations", None)
            body = {"error": type(error).__name__, "message": error.message}
            if violations:
                body["field_violations"] = [{"field": f, "description": d} for f, d in violations]
            if getattr(error, "reason", None):
                body["reason"] = error.reason
            print(json.dumps(body, ensure_ascii=False), file=sys.stderr)
            return 1
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    return run


async def _with_database(settings, action, args):
    from services.common.db import create_engine, is_sqlite, session_factory
    from services.common.migrations import migrate_async

    from ..adapters.uow import AccountsUnitOfWork

    url = settings.database_url("accounts")
    if is_sqlite(url):
        await migrate_async("accounts", url)  # the embedded default migrates itself
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        return await action(lambda: AccountsUnitOfWork(sessions), args)
    finally:
        await engine.dispose()


async def _create(uow_factory, args):
    from ..service_layer.commands import RegisterService
    from ..service_layer.handlers import register_service

    service = await register_service(RegisterService(
        service_id=args.service_id, name_fr=args.name_fr, name_en=args.name_en, kind=ServiceKind(args.kind),
        owner=args.owner, client_id=args.client_id, borough=args.borough, attributes=tuple(args.attribute),
        purposes=tuple(args.purpose)), uow_factory())
    return service_json(service)


async def _list(uow_factory, args):
    from ..service_layer.commands import ListServices
    from ..service_layer.handlers import list_services

    out, token = [], ""
    while True:
        page = await list_services(ListServices(kind=ServiceKind(args.kind) if args.kind else None,
                                                borough=args.borough, page_size=200, page_token=token), uow_factory())
        out += [service_json(s) for s in page.items]
        token = page.next_page_token
        if not token:
            return out


async def _seed(uow_factory, args):
    from ..service_layer.seed import seed_catalogue

    return {"added": await seed_catalogue(uow_factory)}
