"""An agent's passkeys (issue 20, point 2): register one at the console, after the password
again, and use it as the second factor at ``/counter/login`` (``sign_in.passkey_second_factor``).
Listed with their name, when added and last used; removed after the password. The agent's
password and TOTP (from ``mtlid agent create``) stay, so a passkey is never the last way in.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.identity.domain.passkeys import AGENT, clean_name
from services.identity.http.counter.web import OnDuty, console_page, csrf_refused, first, form, on_duty, to_sign_in
from services.identity.http.routes.common import provider
from services.identity.oidc.login import relying_party
from services.identity.service_layer import passkeys
from services.identity.service_layer.authentication import LoginRefused
from services.identity.service_layer.counter_journal import MONTREAL
from services.identity.service_layer.staff import authenticate_agent

REASONS = ("challenge", "origin", "rp_id", "already_registered")


def _when(value) -> str:
    return value.astimezone(MONTREAL).strftime("%Y-%m-%d %H:%M") if value else ""


async def _page(request: Request, duty: OnDuty, errors: dict, values: dict, notice: str | None = None,
                status: int = 200) -> Response:
    p = provider(request)
    keys = await passkeys.passkeys_of(p.uow_factory(), AGENT, duty.agent.agent_id)
    options = await passkeys.registration_options(p.uow_factory(), relying_party(p), AGENT, duty.agent.agent_id,
                                                  user_name=duty.agent.email, display_name=duty.agent.name)
    return console_page(request, "counter/passkeys.html", duty, {
        "nav": "passkeys", "errors": errors, "values": values, "notice": notice, "passkey_options": options,
        "passkeys": [{"id": k.credential_id, "name": k.name, "created": _when(k.created_at),
                      "used": _when(k.last_used_at), "synced": k.multi_device} for k in keys]}, status)


async def _password_errors(request: Request, duty: OnDuty, password: str, field: str) -> dict[str, str]:
    if not password:
        return {field: "counter.error.password_required"}
    try:
        await authenticate_agent(duty.agent.email, password[:1024],
                                 request.client.host if request.client else "", provider(request).uow_factory())
    except LoginRefused as refused:
        return {field: f"counter.error.{refused.reason}"}
    return {}


async def page(request: Request) -> Response:
    duty = await on_duty(request)
    if not isinstance(duty, OnDuty):
        return to_sign_in(request, duty)
    notice = request.query_params.get("done")
    return await _page(request, duty, {}, {}, notice if notice in ("added", "removed") else None)


async def add(request: Request) -> Response:
    duty = await on_duty(request)
    if not isinstance(duty, OnDuty):
        return to_sign_in(request, duty)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    name = first(fields, "passkey_name")
    errors = {} if clean_name(name) else {"passkey_name": "counter.passkeys.error.name"}
    errors.update(await _password_errors(request, duty, first(fields, "passkey_password"), "passkey_password"))
    if not first(fields, "credential"):
        errors["passkey"] = "counter.passkeys.error.no_credential"
    if not errors:
        try:
            await passkeys.register_passkey(passkeys.RegisterPasskey(AGENT, duty.agent.agent_id,
                                                                     first(fields, "credential"), name),
                                            provider(request).uow_factory(), relying_party(provider(request)))
        except passkeys.PasskeyRefused as refused:
            errors["passkey"] = "counter.passkeys.error." + (refused.reason if refused.reason in REASONS else "refused")
    if errors:
        return await _page(request, duty, errors, {"passkey_name": name[:60]}, status=400)
    return RedirectResponse("/counter/passkeys?done=added", status_code=303)


async def remove(request: Request) -> Response:
    duty = await on_duty(request)
    if not isinstance(duty, OnDuty):
        return to_sign_in(request, duty)
    fields = await form(request)
    if fields is None:
        return csrf_refused(request)
    errors = await _password_errors(request, duty, first(fields, "remove_password"), "remove_password")
    if not errors:
        from services.common.errors import NotFound

        try:
            await passkeys.remove_passkey(passkeys.RemovePasskey(AGENT, duty.agent.agent_id,
                                                                 first(fields, "credential_id")[:1400]),
                                          provider(request).uow_factory())
        except NotFound:
            errors["remove_password"] = "counter.passkeys.error.unknown"
    if errors:
        return await _page(request, duty, errors, {}, status=400)
    return RedirectResponse("/counter/passkeys?done=removed", status_code=303)
