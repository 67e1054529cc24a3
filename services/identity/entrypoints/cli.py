"""Identity's admin commands for ``mtlid`` (each prints JSON on stdout):

    mtlid client create --name … --redirect-uri … --grant-type … --scope … [--subject-type
          public|pairwise] [--city] [--alg RS256] [--audience …] [--purpose …] [--public]
    mtlid client list
    mtlid resident create --email … [--password …] [--verified] [--language fr|en]
    mtlid resident disable --citizen-number …
    mtlid agent create --email … --name … --office … [--role agent|supervisor] [--password …]
    mtlid agent disable --agent-id …
    mtlid agent list
    mtlid agent actions --from YYYY-MM-DD [--to YYYY-MM-DD] [--agent-id AG…|client:sub] [--office …]
    mtlid keys rotate [--force]
    mtlid keys list
    mtlid mailbox [--follow]     the development mailbox: the mails the mailer delivered to
                                 var/mailbox (--nats-url: the mail events themselves: codes to confirm,
                                 to reset, to change the address; notices)

A client's secret is printed once, by ``client create``; identity keeps only its hash. An
agent's password (when generated) and TOTP secret are printed once, by ``agent create``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import unicodedata

from services.common.config import ConfigError, Settings
from services.common.errors import ServiceError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as error:
        print(f"mtlid: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


async def _with_uow(settings: Settings, work):
    from services.common.db import create_engine, session_factory
    from services.common.migrations import migrate_async
    from services.identity.adapters.uow import IdentityUnitOfWork

    url = settings.database_url("identity")
    if not settings.production:
        await migrate_async("identity", url)  # as `mtlid serve` does in development
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        return await work(lambda: IdentityUnitOfWork(sessions, kek=settings.key_encryption_key))
    finally:
        await engine.dispose()


def _run(coro_factory) -> int:
    settings = _settings()
    try:
        result = asyncio.run(_with_uow(settings, lambda uow_factory: coro_factory(settings, uow_factory)))
    except ServiceError as error:
        body = {"error": type(error).__name__, "message": error.message}
        if getattr(error, "violations", None):
            body["violations"] = [{"field": f, "description": d} for f, d in error.violations]
        if getattr(error, "reason", None):
            body["reason"] = error.reason
        print(json.dumps(body, ensure_ascii=False), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return 0


def _slug(name: str) -> str:
    """"Bibliothèques de Montréal" → "bibliotheques-de-montreal" (lower-kebab ids)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64] or "client"


def _jwks_file(path: str | None) -> dict | None:
    """The JWK Set in ``path``; a file that is not JSON is reported by the registry's checks."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = json.load(handle)
    except (OSError, ValueError):
        return {"keys": "unreadable"}
    return loaded if isinstance(loaded, dict) else {"keys": "not a JWK Set"}


def cmd_client_create(args: argparse.Namespace) -> int:
    from services.identity.domain.clients import OAuthClient
    from services.identity.service_layer.clients import RegisterClient, register_client

    async def work(settings, uow_factory):
        grant_types = tuple(args.grant_type or ("authorization_code", "refresh_token"))
        subject_type = args.subject_type or ("public" if args.city else "pairwise")
        client = OAuthClient(
            client_id=args.client_id or _slug(args.name), name=args.name, secret_hash=None,
            redirect_uris=tuple(args.redirect_uri or ()),
            post_logout_redirect_uris=tuple(args.post_logout_redirect_uri or ()),
            grant_types=grant_types, scopes=tuple(args.scope or ("openid",)),
            audiences=tuple(args.audience or ()), subject_type=subject_type,
            sector_identifier=args.sector_identifier or "", id_token_signed_response_alg=args.alg,
            token_endpoint_auth_method="none" if args.public else args.auth_method,
            is_city_client=args.city, purposes=tuple(args.purpose or ()),
            backchannel_logout_uri=args.backchannel_logout_uri or "",
            frontchannel_logout_uri=args.frontchannel_logout_uri or "",
            jwks=_jwks_file(args.jwks_file), jwks_uri=args.jwks_uri or "",
            require_pushed_authorization_requests=args.require_par, accepts_mandates=args.accepts_mandates,
            staff_directory_issuer=args.staff_directory_issuer or "",
            staff_directory_jwks=_jwks_file(args.staff_directory_jwks_file),
            staff_directory_jwks_uri=args.staff_directory_jwks_uri or "",
            dpop_bound_access_tokens=args.require_dpop)
        created, secret = await register_client(
            RegisterClient(client, allow_http_loopback=not settings.production), uow_factory())
        return {**created.to_public_dict(), "client_secret": secret,
                "note": "the client_secret is shown once; identity stores only its hash" if secret else
                        "public client: PKCE only, no secret"}

    return _run(work)


def cmd_client_require_private_key_jwt(args: argparse.Namespace) -> int:
    from services.identity.service_layer.clients import RequirePrivateKeyJwt, require_private_key_jwt

    async def work(settings, uow_factory):
        changed = await require_private_key_jwt(RequirePrivateKeyJwt(
            client_id=args.client_id, jwks=_jwks_file(args.jwks_file), jwks_uri=args.jwks_uri or "",
            allow_http_loopback=not settings.production), uow_factory())
        return {**changed.to_public_dict(),
                "note": "the client's secret is forgotten: it authenticates only with private_key_jwt now"}

    return _run(work)


#: ``mtlid client update`` options → the registry's fields (lists replace the registered ones)
_UPDATE_OPTIONS = {"name": "name", "redirect_uri": "redirect_uris", "post_logout_redirect_uri": "post_logout_redirect_uris",
                   "scope": "scopes", "audience": "audiences", "purpose": "purposes",
                   "backchannel_logout_uri": "backchannel_logout_uri",
                   "frontchannel_logout_uri": "frontchannel_logout_uri", "jwks_uri": "jwks_uri",
                   "require_par": "require_pushed_authorization_requests", "require_dpop": "dpop_bound_access_tokens",
                   "disabled": "disabled"}


def cmd_client_update(args: argparse.Namespace) -> int:
    from services.identity.service_layer.clients import UpdateClient, update_client

    changes = {}
    for option, field in _UPDATE_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            changes[field] = tuple(value) if isinstance(value, list) else value
    if args.jwks_file:
        changes["jwks"] = _jwks_file(args.jwks_file)

    async def work(settings, uow_factory):
        changed = await update_client(UpdateClient(args.client_id, changes,
                                                   allow_http_loopback=not settings.production), uow_factory())
        return changed.to_public_dict()

    return _run(work)


def cmd_client_list(_args: argparse.Namespace) -> int:
    from services.identity.service_layer.clients import list_clients

    async def work(_settings, uow_factory):
        result, token = [], ""
        while True:
            page, token = await list_clients(uow_factory(), page_size=100, page_token=token)
            result += [c.to_public_dict() for c in page]
            if not token:
                return {"clients": result}

    return _run(work)


def cmd_resident_create(args: argparse.Namespace) -> int:
    from services.common.errors import InvalidArgument
    from services.identity.domain import passwords
    from services.identity.service_layer import hashing
    from services.identity.domain.citizen_number import CitizenNumber
    from services.identity.domain.events import EmailVerificationRequested, ResidentRegistered
    from services.identity.service_layer.authentication import (_new_email_code, _rfc3339, add_new_resident,
                                                                registration_problems, utcnow)

    async def work(_settings, uow_factory):
        problems = registration_problems(args.email, args.password, args.language)
        if problems:
            raise InvalidArgument.many(problems)
        password_hash = await hashing.run(passwords.hash_password, args.password) if args.password else None
        async with uow_factory() as uow:
            now = utcnow()
            resident = await add_new_resident(uow, email=args.email, password_hash=password_hash,
                                              preferred_language=args.language, now=now,
                                              email_verified=args.verified, registered_by="self")
            uow.add_event(ResidentRegistered(resident_id=resident.resident_id,
                                             preferred_language=resident.preferred_language,
                                             email_verified=resident.email_verified))
            if not resident.email_verified:
                code = _new_email_code(resident, now)
                await uow.residents.save(resident)
                uow.add_event(EmailVerificationRequested(
                    resident_id=resident.resident_id, email=resident.email, code=code,
                    expires_at=_rfc3339(resident.email_code_expires_at), language=resident.preferred_language))
            await uow.commit()
        number = CitizenNumber(resident.resident_id)
        return {"resident_id": number.canonical, "citizen_number": number.human, "email": resident.email,
                "email_verified": resident.email_verified, "level": resident.level.acr,
                "preferred_language": resident.preferred_language, "has_password": password_hash is not None}

    return _run(work)


def cmd_resident_disable(args: argparse.Namespace) -> int:
    from services.identity.service_layer.authentication import DisableResident, disable_resident

    async def work(_settings, uow_factory):
        return {"resident_id": await disable_resident(DisableResident(args.citizen_number), uow_factory()),
                "disabled": True}

    return _run(work)


def cmd_resident_purge_closed(args: argparse.Namespace) -> int:
    """Run the closed-account purge now (issue 21; the identity service also runs it every
    hour): counts only, never who."""
    from services.identity.service_layer.maintenance import purge_closed

    async def work(settings, uow_factory):
        days = args.retention_days or settings.closed_account_retention_days
        return {**await purge_closed(uow_factory, days), "retention_days": days}

    return _run(work)


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from services.identity.service_layer.keys import SigningKeys, rotate_keys

    async def work(settings, uow_factory):
        await SigningKeys.load(uow_factory(), settings.key_encryption_key)  # first start: create them
        return {"rotated": await rotate_keys(uow_factory(), settings.key_encryption_key, force=args.force)}

    return _run(work)


def cmd_keys_list(_args: argparse.Namespace) -> int:
    from services.identity.service_layer.keys import SigningKeys

    async def work(settings, uow_factory):
        keys = await SigningKeys.load(uow_factory(), settings.key_encryption_key)
        return {"keys": keys.states()}

    return _run(work)


def cmd_mailbox(args: argparse.Namespace) -> int:
    """Print the mails the development mailer delivered to ``var/mailbox`` (a Maildir), or,
    with ``--nats-url``, the mail events themselves (development only: it prints codes)."""
    settings = _settings()
    if settings.production:
        print("mtlid mailbox: development only (it prints verification codes)", file=sys.stderr)
        return 2
    if args.nats_url:
        return asyncio.run(_mailbox(args.nats_url, follow=args.follow, idle=args.idle))
    return _maildir(settings.var_dir / "mailbox", follow=args.follow, idle=args.idle)


def _maildir(directory, *, follow: bool, idle: float) -> int:
    """One JSON line per mail in the Maildir, oldest first; ``--follow`` keeps watching."""
    import mailbox
    import re
    import time
    from email import policy
    from email.parser import BytesParser

    shown: set[str] = set()
    quiet_since = time.monotonic()
    while True:
        found = False
        if (directory / "new").is_dir() or (directory / "cur").is_dir():
            box = mailbox.Maildir(directory, factory=None, create=False)
            for key in sorted(box.keys()):  # Maildir names start with the delivery time
                if key in shown:
                    continue
                shown.add(key)
                found = True
                with box.get_file(key) as handle:
                    mail = BytesParser(policy=policy.default).parse(handle)
                text = mail.get_body(preferencelist=("plain",)).get_content()
                code = re.search(r"^\s+(\d{6,})\s*$", text, re.MULTILINE)
                print(json.dumps({"time": mail["Date"], "to": mail["To"], "purpose": mail["X-Mtlid-Mail"],
                                  "language": mail["Content-Language"], "subject": mail["Subject"],
                                  "code": code.group(1) if code else None}, ensure_ascii=False), flush=True)
        if found:
            quiet_since = time.monotonic()
        elif not follow and time.monotonic() - quiet_since >= idle:
            return 0
        time.sleep(0.2)


# The events that are mail, and what each is for: the mailer's registry (services/mailer/mails.py),
# so a mail event added there is shown here too (a hand list here missed issue 22's notice).
def _mail_subjects() -> dict[str, str]:
    from services.mailer.messages import PURPOSES

    return {f"montreal.identity.v1.{event}": purpose for event, purpose in PURPOSES.items()}


async def _mailbox(url: str, *, follow: bool, idle: float) -> int:
    import nats
    from nats.js.api import DeliverPolicy

    subjects = _mail_subjects()
    connection = await nats.connect(url, name="mtlid-mailbox", connect_timeout=3, max_reconnect_attempts=2)
    try:
        js = connection.jetstream()
        # Every identity event, keeping the two that are mail: one ordered consumer (a filter
        # on two subjects needs nats-server 2.10+).
        subscription = await js.subscribe("montreal.identity.v1.*", ordered_consumer=True,
                                          deliver_policy=DeliverPolicy.ALL)
        while True:
            try:
                message = await subscription.next_msg(timeout=None if follow else idle)
            except (asyncio.TimeoutError, nats.errors.TimeoutError):
                return 0
            purpose = subjects.get(message.subject)
            if purpose is None:
                continue
            envelope = json.loads(message.data)
            data = envelope.get("data", {})
            print(json.dumps({"time": envelope.get("time"), "to": data.get("email"), "purpose": purpose,
                              "resident_id": data.get("resident_id"), "code": data.get("code"),
                              "expires_at": data.get("expires_at")}, ensure_ascii=False), flush=True)
    finally:
        await connection.close()


def cmd_agent_create(args: argparse.Namespace) -> int:
    from services.identity.service_layer.staff import CreateAgent, create_agent

    async def work(_settings, uow_factory):
        created = await create_agent(CreateAgent(email=args.email, name=args.name, office=args.office,
                                                 role=args.role, password=args.password), uow_factory())
        body = {**created.agent.public_dict(), "totp_secret": created.totp_secret, "totp_uri": created.totp_uri,
                "note": "the TOTP secret (and a generated password) are shown once: hand them to the agent"}
        if created.password is not None:
            body["password"] = created.password
        return body

    return _run(work)


def cmd_agent_disable(args: argparse.Namespace) -> int:
    from services.identity.service_layer.staff import disable_agent

    async def work(_settings, uow_factory):
        return (await disable_agent(args.agent_id, uow_factory())).public_dict()

    return _run(work)


def cmd_agent_list(_args: argparse.Namespace) -> int:
    from services.identity.service_layer.staff import list_agents

    async def work(_settings, uow_factory):
        return {"agents": [a.public_dict() for a in await list_agents(uow_factory())]}

    return _run(work)


def cmd_agent_actions(args: argparse.Namespace) -> int:
    from services.identity.service_layer.counter_journal import parse_period, supervision

    async def work(_settings, uow_factory):
        start, end = parse_period(args.start, args.end or args.start, args.agent_id or "", args.office or "")
        return await supervision(uow_factory(), start, end, agent_id=args.agent_id, office=args.office)

    return _run(work)


def register(subparsers) -> None:
    client = subparsers.add_parser("client", help="the OAuth client registry").add_subparsers(
        dest="client_command", required=True, metavar="ACTION")
    create = client.add_parser("create", help="register a client (prints its secret once)")
    create.add_argument("--name", required=True)
    create.add_argument("--client-id", help="lower-kebab id (default: from the name)")
    create.add_argument("--redirect-uri", action="append")
    create.add_argument("--post-logout-redirect-uri", action="append")
    create.add_argument("--grant-type", action="append",
                        choices=("authorization_code", "refresh_token", "client_credentials",
                                 "urn:ietf:params:oauth:grant-type:token-exchange"))
    create.add_argument("--scope", action="append")
    create.add_argument("--audience", action="append")
    create.add_argument("--purpose", action="append")
    create.add_argument("--subject-type", choices=("public", "pairwise"))
    create.add_argument("--sector-identifier")
    create.add_argument("--city", action="store_true", help="one of the city's own clients")
    create.add_argument("--alg", choices=("ES256", "RS256"), default="ES256")
    create.add_argument("--auth-method", choices=("client_secret_basic", "client_secret_post", "private_key_jwt"),
                        default="client_secret_basic",
                        help="private_key_jwt (RFC 7523): no secret; the client signs assertions with its key "
                             "(give --jwks-uri or --jwks-file); the only method it may then use")
    create.add_argument("--jwks-uri", help="private_key_jwt: where the client publishes its public keys (https)")
    create.add_argument("--jwks-file", help="private_key_jwt: a file holding the client's public JWK Set")
    create.add_argument("--require-par", action="store_true",
                        help="authorization requests only through POST /par (RFC 9126 s. 6)")
    create.add_argument("--require-dpop", action="store_true",
                        help="token requests only with a DPoP proof: sender-constrained tokens (RFC 9449 s. 5.2)")
    create.add_argument("--accepts-mandates", action="store_true",
                        help="residents may sign in on someone's behalf under a mandate (tokens with act; "
                             "docs/mandates.md)")
    create.add_argument("--public", action="store_true", help="a public client (no secret, PKCE)")
    create.add_argument("--backchannel-logout-uri",
                        help="told by a signed logout token when the resident signs out (OIDC Back-Channel Logout 1.0)")
    create.add_argument("--frontchannel-logout-uri",
                        help="loaded in an iframe of the signed-out page (OIDC Front-Channel Logout 1.0)")
    create.add_argument("--staff-directory-issuer",
                        help="token exchange (RFC 8693): the issuer URL of the borough's own staff directory, "
                             "whose signed tokens about its staff the client may present as subject_token")
    create.add_argument("--staff-directory-jwks-uri", help="where that directory publishes its public keys (https)")
    create.add_argument("--staff-directory-jwks-file", help="or a file holding that directory's public JWK Set")
    create.set_defaults(func=cmd_client_create)
    require_pkj = client.add_parser(
        "require-private-key-jwt",
        help="require private_key_jwt (RFC 7523) of a confidential client from now on; its secret is forgotten")
    require_pkj.add_argument("--client-id", required=True)
    require_pkj.add_argument("--jwks-uri", help="where the client publishes its public keys (https)")
    require_pkj.add_argument("--jwks-file", help="or a file holding the client's public JWK Set")
    require_pkj.set_defaults(func=cmd_client_require_private_key_jwt)
    update = client.add_parser("update", help="change a registered client: only the settings given (a list given "
                                              "replaces the registered one); published as client_changed")
    update.add_argument("--client-id", required=True)
    update.add_argument("--name")
    update.add_argument("--redirect-uri", action="append")
    update.add_argument("--post-logout-redirect-uri", action="append")
    update.add_argument("--scope", action="append")
    update.add_argument("--audience", action="append")
    update.add_argument("--purpose", action="append")
    update.add_argument("--backchannel-logout-uri")
    update.add_argument("--frontchannel-logout-uri")
    update.add_argument("--jwks-uri", help="private_key_jwt: where the client publishes its public keys (https)")
    update.add_argument("--jwks-file", help="private_key_jwt: a file holding the client's public JWK Set")
    update.add_argument("--require-par", action=argparse.BooleanOptionalAction, default=None,
                        help="authorization requests only through POST /par (RFC 9126 s. 6)")
    update.add_argument("--require-dpop", action=argparse.BooleanOptionalAction, default=None,
                        help="token requests only with a DPoP proof (RFC 9449 s. 5.2)")
    state = update.add_mutually_exclusive_group()
    state.add_argument("--disable", dest="disabled", action="store_const", const=True, default=None,
                       help="no token for this client from now on (never deleted)")
    state.add_argument("--enable", dest="disabled", action="store_const", const=False)
    update.set_defaults(func=cmd_client_update)
    listing = client.add_parser("list", help="every registered client (no secrets)")
    listing.set_defaults(func=cmd_client_list)

    resident = subparsers.add_parser("resident", help="residents").add_subparsers(
        dest="resident_command", required=True, metavar="ACTION")
    rcreate = resident.add_parser("create", help="create a resident (operators, scripts, demo)")
    rcreate.add_argument("--email", required=True)
    rcreate.add_argument("--password")
    rcreate.add_argument("--verified", action="store_true", help="mark the email as verified")
    rcreate.add_argument("--language", choices=("fr", "en"), default="fr")
    rcreate.set_defaults(func=cmd_resident_create)
    rdisable = resident.add_parser("disable", help="disable a resident (never deleted: numbers are never reused)")
    rdisable.add_argument("--citizen-number", required=True, help="human or canonical form")
    rdisable.set_defaults(func=cmd_resident_disable)
    rpurge = resident.add_parser("purge-closed", help="purge now the accounts closed longer than the retention "
                                 "period (personal data deleted; the citizen number stays reserved)")
    rpurge.add_argument("--retention-days", type=int, choices=range(1, 36501), metavar="DAYS",
                        help="default: MTLID_CLOSED_ACCOUNT_RETENTION_DAYS (730)")
    rpurge.set_defaults(func=cmd_resident_purge_closed)

    agent = subparsers.add_parser("agent", help="counter agents (staff accounts)").add_subparsers(
        dest="agent_command", required=True, metavar="ACTION")
    acreate = agent.add_parser("create", help="create an agent (prints the TOTP secret once)")
    acreate.add_argument("--email", required=True)
    acreate.add_argument("--name", required=True)
    acreate.add_argument("--office", required=True, help="e.g. \"Accès Montréal — Ville-Marie\"")
    acreate.add_argument("--role", choices=("agent", "supervisor"), default="agent")
    acreate.add_argument("--password", help="default: a random one, printed once")
    acreate.set_defaults(func=cmd_agent_create)
    adisable = agent.add_parser("disable", help="disable an agent (never deleted) and end their sessions")
    adisable.add_argument("--agent-id", required=True)
    adisable.set_defaults(func=cmd_agent_disable)
    alist = agent.add_parser("list", help="every agent (no secrets)")
    alist.set_defaults(func=cmd_agent_list)
    aactions = agent.add_parser("actions", help="agents' actions per agent, office and day, and the unusual ones")
    aactions.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD (Montréal time)")
    aactions.add_argument("--to", dest="end", help="last day (default: the first), at most 31 days later")
    aactions.add_argument("--agent-id")
    aactions.add_argument("--office")
    aactions.set_defaults(func=cmd_agent_actions)

    keys = subparsers.add_parser("keys", help="token-signing keys").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION")
    rotate = keys.add_parser("rotate", help="next → current → retired; publish a new next key")
    rotate.add_argument("--force", action="store_true",
                        help="rotate even if the next key was published less than 10 minutes ago")
    rotate.set_defaults(func=cmd_keys_rotate)
    klist = keys.add_parser("list", help="published keys and their states")
    klist.set_defaults(func=cmd_keys_list)

    mailbox = subparsers.add_parser("mailbox", help="development mailbox: the mails in var/mailbox (codes to confirm, to reset)")
    mailbox.add_argument("--nats-url", help="read the mail events from this NATS instead of the delivered mails")
    mailbox.add_argument("--follow", action="store_true", help="keep waiting for new mails")
    mailbox.add_argument("--idle", type=float, default=1.0, help="seconds without mail before exiting")
    mailbox.set_defaults(func=cmd_mailbox)
