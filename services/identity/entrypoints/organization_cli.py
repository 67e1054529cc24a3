"""``mtlid organization …`` (issue 22; docs/mandates.md "Organizations"), JSON on stdout:

    mtlid organization create --name … --kind business|non_profit|condo_association [--neq …]
    mtlid organization show --number ORG…

For operators (a batch of condo associations a borough already knows, a demo). At the counter
an agent registers an organization on the register's statement checked on paper
(``/counter/organization``); both write the same record and ``organization_registered``.
Its representatives are named at the counter only, on the statement that names them.
"""

from __future__ import annotations

import argparse

from services.identity.entrypoints.cli import _run


def _shown(organization) -> dict:
    return {"organization_id": organization.organization_id, "organization_number": organization.number.human,
            "name": organization.name, "kind": organization.kind.value, "neq": organization.neq,
            "registered_by": organization.registered_by, "registered_at": organization.registered_at.isoformat()}


def cmd_organization_create(args: argparse.Namespace) -> int:
    from services.identity.service_layer.organizations import RegisterOrganization, register_organization

    async def work(_settings, uow_factory):
        return _shown(await register_organization(
            RegisterOrganization(name=args.name, kind=args.kind, neq=args.neq, registered_by="operator"),
            uow_factory()))

    return _run(work)


def cmd_organization_show(args: argparse.Namespace) -> int:
    from services.identity.service_layer.organizations import find_organization

    async def work(_settings, uow_factory):
        return _shown(await find_organization(args.number, uow_factory()))

    return _run(work)


def register(subparsers) -> None:
    organization = subparsers.add_parser("organization", help="organizations registered with the city (issue 22)")
    sub = organization.add_subparsers(dest="organization_command", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="register an organization (operators; the counter does it on paper)")
    create.add_argument("--name", required=True, help="the name on the enterprise register's statement")
    create.add_argument("--kind", required=True, help="business, non_profit or condo_association")
    create.add_argument("--neq", help="the Québec enterprise number (ten digits): an external reference only")
    create.set_defaults(func=cmd_organization_create)
    show = sub.add_parser("show", help="an organization, by its number")
    show.add_argument("--number", required=True, help="ORG XXXX-XXXX-XXXX or the canonical form")
    show.set_defaults(func=cmd_organization_show)
