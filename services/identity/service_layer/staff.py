"""Counter agents' accounts and sign-in (issue 17: agents are staff, not residents).

- ``create_agent``: an operator creates the account (``mtlid agent create``); the password
  and the TOTP secret are generated here and shown once, to be handed to the agent with the
  rest of their onboarding (the agent has no self-service enrolment: a staff account is
  provisioned, as the city's other staff systems are);
- ``disable_agent``: never deleted (their id is in residents' journals); every open session
  of the agent ends at once;
- ``authenticate_agent`` / ``verify_agent_totp``: password (argon2id) then TOTP
  (RFC 6238, each step accepted once), throttled on the same counters as residents' logins
  but under keys of their own (``agent:`` prefix), so a resident and an agent who share an
  address do not throttle each other's accounts.

Every sign-in and every refusal (issue 17, point 4) is an ``agent_signed_in`` /
``agent_sign_in_refused`` event (outbox, same transaction) and a line of the agents' journal
(``agent_actions``, actions ``sign_in`` / ``sign_in_refused``, no resident), which the
supervisors' review counts per agent and per day. Neither carries the typed address, the
password or the code: a refusal for an address that is no agent's names no agent.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.identity.adapters import crypto
from services.identity.domain import passwords, totp
from services.identity.domain.errors import Conflict
from services.identity.domain.events import AgentSignedIn, AgentSignInRefused
from services.identity.domain.residents import email_problem, normalize_email
from services.identity.domain.staff import (ROLES, StaffAgent, is_agent_id, name_problem, new_agent_id,
                                            office_problem)
from services.identity.domain.throttling import (ACCOUNT_POLICY, ADDRESS_POLICY, TOTP_POLICY, account_key,
                                                 address_key, totp_key)
from services.identity.service_layer import hashing
from services.identity.service_layer.authentication import LoginRefused, utcnow

NEW_ID_ATTEMPTS = 8
#: the console's own client (``http/counter/web.py``): the journal names the client of every action
CONSOLE_CLIENT_ID = "counter-console"


@dataclass(frozen=True)
class CreateAgent:
    email: str
    name: str
    office: str
    role: str = "agent"
    password: str | None = None     # None: a random one is generated and shown once


@dataclass(frozen=True)
class CreatedAgent:
    agent: StaffAgent
    password: str | None            # the generated password, or None if the operator chose it
    totp_secret: str                # base 32, for the agent's authenticator app
    totp_uri: str                   # otpauth:// (Key Uri Format)


@dataclass(frozen=True)
class AuthenticatedAgent:
    agent: StaffAgent


def _agent_account_key(email: str) -> str:
    return account_key("agent:" + (email or ""))


async def create_agent(cmd: CreateAgent, uow) -> CreatedAgent:
    problems = []
    if (p := email_problem(cmd.email)) is not None:
        problems.append(("email", p))
    if (p := name_problem(cmd.name)) is not None:
        problems.append(("name", p))
    if (p := office_problem(cmd.office)) is not None:
        problems.append(("office", p))
    if cmd.role not in ROLES:
        problems.append(("role", "must be agent or supervisor"))
    if cmd.password is not None and (p := passwords.password_problem(cmd.password)) is not None:
        problems.append(("password", p))
    if problems:
        raise InvalidArgument.many(problems)
    password = cmd.password or secrets.token_urlsafe(15)
    password_hash = await hashing.run(passwords.hash_password, password)
    secret = totp.new_secret()
    now = utcnow()
    async with uow:
        if await uow.agents.by_email(cmd.email) is not None:
            raise AlreadyExists("AGENT_EMAIL_TAKEN", "an agent already uses this email")
        for _ in range(NEW_ID_ATTEMPTS):
            agent_id = new_agent_id()
            agent = StaffAgent(agent_id=agent_id, email=normalize_email(cmd.email), name=cmd.name.strip(),
                               office=cmd.office.strip(), role=cmd.role, password_hash=password_hash,
                               totp_secret_encrypted=crypto.encrypt(uow.kek, secret, agent_id.encode()),
                               created_at=now)
            try:
                await uow.agents.add(agent)
                break
            except Conflict:
                if await uow.agents.by_email(cmd.email) is not None:
                    raise AlreadyExists("AGENT_EMAIL_TAKEN", "an agent already uses this email") from None
        else:  # pragma: no cover - 50 random bits drawn 8 times
            raise RuntimeError("could not draw an unused agent id")
        await uow.commit()
    return CreatedAgent(agent=agent, password=None if cmd.password else password,
                        totp_secret=totp.secret_to_base32(secret),
                        totp_uri=totp.provisioning_uri(secret, agent.email, issuer="Montréal (comptoir)"))


async def disable_agent(agent_id: str, uow) -> StaffAgent:
    if not is_agent_id(agent_id or ""):
        raise InvalidArgument("agent_id", "an agent id looks like AG followed by 10 letters or digits")
    now = utcnow()
    async with uow:
        agent = await uow.agents.get(agent_id)
        if agent is None:
            raise NotFound("agent", "no agent has this id")
        if agent.disable(now):
            await uow.agents.save(agent)
        await uow.agent_sessions.end_for_agent(agent.agent_id, now)
        await uow.commit()
    return agent


async def list_agents(uow) -> list[StaffAgent]:
    async with uow:
        return await uow.agents.list()


async def authenticate_agent(email: str, password: str, remote_addr: str, uow) -> AuthenticatedAgent:
    """Password check, throttled per account and per address (LoginRefused otherwise)."""
    now = utcnow()
    acct_key, addr_key = _agent_account_key(email), address_key(remote_addr)
    async with uow:
        agent = await uow.agents.by_email(email) if email else None
        acct, addr = await uow.throttles.get(acct_key), await uow.throttles.get(addr_key)
        waits = [w for w in (acct.retry_after(ACCOUNT_POLICY, now), addr.retry_after(ADDRESS_POLICY, now)) if w]
        if waits:
            await _refused(uow, agent, "throttled", "password", now)
            await uow.commit()
            raise LoginRefused("throttled", max(waits))
        await uow.rollback()  # no write transaction open while argon2 runs
        ok = await hashing.run(passwords.verify_password, agent.password_hash if agent else None, password or "")
        if not ok or agent is None:
            acct, addr = await uow.throttles.get(acct_key), await uow.throttles.get(addr_key)
            acct.record_failure(ACCOUNT_POLICY, now)
            addr.record_failure(ADDRESS_POLICY, now)
            await uow.throttles.save(acct)
            await uow.throttles.save(addr)
            await _refused(uow, agent, "invalid_credentials", "password", now)
            await uow.commit()
            raise LoginRefused("invalid_credentials")
        acct = await uow.throttles.get(acct_key)
        acct.reset()
        await uow.throttles.save(acct)
        if agent.disabled:
            await _refused(uow, agent, "disabled", "password", now)
        await uow.commit()
    if agent.disabled:
        raise LoginRefused("disabled")
    return AuthenticatedAgent(agent)


async def verify_agent_totp(agent_id: str, code: str, remote_addr: str, uow) -> bool:
    """RFC 6238: ±1 step, a step accepted once (s. 5.2), throttled per agent and address."""
    now = utcnow()
    async with uow:
        agent = await uow.agents.get(agent_id)
        if agent is None or agent.disabled:
            await _refused(uow, agent, "disabled", "second_factor", now)
            await uow.commit()
            raise LoginRefused("disabled")
        counter = await uow.throttles.get(totp_key("agent:" + agent_id))
        addr = await uow.throttles.get(address_key(remote_addr))
        waits = [w for w in (counter.retry_after(TOTP_POLICY, now), addr.retry_after(ADDRESS_POLICY, now)) if w]
        if waits:
            await _refused(uow, agent, "throttled", "second_factor", now)
            await uow.commit()
            raise LoginRefused("throttled", max(waits))
        secret = crypto.decrypt(uow.kek, agent.totp_secret_encrypted, agent.agent_id.encode())
        last = await uow.agents.last_totp_step(agent_id)
        step = totp.verify(secret, code, now.timestamp(), last_used_step=last)
        if step is not None and await uow.agents.use_totp_step(agent_id, step):
            counter.reset()
            await uow.throttles.save(counter)
            await uow.commit()
            return True
        counter.record_failure(TOTP_POLICY, now)
        addr.record_failure(ADDRESS_POLICY, now)
        await uow.throttles.save(counter)
        await uow.throttles.save(addr)
        await _refused(uow, agent, "invalid_otp", "second_factor", now)
        await uow.commit()
        return False


async def record_agent_signed_in(uow, agent_id: str, session_id: str, amr: tuple[str, ...]) -> None:
    """In the caller's transaction, the one that puts the session at level 3: the event and
    the journal line (the console calls it beside ``add_agent_second_factor``)."""
    agent = await uow.agents.get(agent_id)
    office = agent.office if agent is not None else ""
    await uow.agent_actions.record(agent_id=agent_id, client_id=CONSOLE_CLIENT_ID, action="sign_in",
                                   resident_id="", details={"amr": list(amr)}, now=utcnow(), office=office)
    uow.add_event(AgentSignedIn(agent_id=agent_id, office=office, session_id=session_id, amr=tuple(amr)))


async def _refused(uow, agent: StaffAgent | None, reason: str, step: str, now: dt.datetime) -> None:
    """A refusal: the event and the journal line, in the transaction that counts the failure.
    An address that is no agent's is journaled under no agent (``agent_id`` empty)."""
    agent_id, office = (agent.agent_id, agent.office) if agent is not None else ("", None)
    await uow.agent_actions.record(agent_id=agent_id, client_id=CONSOLE_CLIENT_ID, action="sign_in_refused",
                                   resident_id="", details={"reason": reason, "step": step}, now=now,
                                   office=office)
    uow.add_event(AgentSignInRefused(reason=reason, step=step, agent_id=agent_id or None, office=office))

