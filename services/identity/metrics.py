"""Identity's own metrics (README, "Metrics"): sign-in outcomes and tokens issued.

- ``mtlid.logins`` — sign-ins by ``outcome`` (``succeeded``/``failed``), ``method`` (the amr
  values, ``pwd``, ``pwd+otp``…) and ``reason`` (why it failed: ``wrong_password``,
  ``throttled``, ``passkey_refused`` with method ``passkey``…), counted from the committed ``login_succeeded``/``login_failed`` events,
  so a metric never says more than the ledger of events does; no identifier in a label.
- ``mtlid.tokens.issued`` — tokens issued by the token endpoint, by ``grant_type``.
- ``mtlid.signing_key.age`` — how long the oldest key now signing has signed (app.py samples
  it), for the rotation alert.
"""

from __future__ import annotations

from services.common.metrics import HotInstrument, meter, observe_event

_meter = meter(__name__)
LOGINS = _meter.create_counter("mtlid.logins", unit="{login}", description="Sign-ins by outcome, method and reason")
TOKENS_ISSUED = HotInstrument("counter", "mtlid.tokens.issued", unit="{token}",
                              description="Tokens issued by the token endpoint, by grant type")
_issued: dict[str, object] = {}
GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials",
                         "urn:ietf:params:oauth:grant-type:token-exchange"})


def count_token_issued(grant_type: str) -> None:
    """The token endpoint is a hot path: one bound counter per grant type."""
    grant_type = grant_type if grant_type in GRANT_TYPES else "other"
    add = _issued.get(grant_type)
    if add is None:
        add = _issued[grant_type] = TOKENS_ISSUED.bind({"grant_type": grant_type})
    add(1)


def _login_succeeded(event) -> None:
    LOGINS.add(1, {"outcome": "succeeded", "method": "+".join(event.amr) or "pwd", "reason": ""})


def _login_failed(event) -> None:
    method = "passkey" if event.reason == "passkey_refused" else "pwd"
    LOGINS.add(1, {"outcome": "failed", "method": method, "reason": str(event.reason)[:40]})


observe_event("login_succeeded", _login_succeeded)
observe_event("login_failed", _login_failed)
