"""The mailer's configuration, from ``MTLID_SMTP_*`` and ``MTLID_MAIL_FROM`` (README table).

No ``MTLID_SMTP_HOST`` in development: mail goes to the Maildir ``<MTLID_VAR_DIR>/mailbox``
that ``mtlid mailbox`` reads. Production requires a relay, STARTTLS (or implicit TLS) and
credentials: a city's mail never crosses a network in clear.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Mapping
from email.headerregistry import Address
from email.utils import parseaddr

from services.common.config import ConfigError, Settings, _port

TLS_MODES = ("starttls", "tls", "none")
DEFAULT_FROM = "Ville de Montréal <ne-pas-repondre@montreal.ca>"


@dataclasses.dataclass(frozen=True)
class MailerSettings:
    sender: str                              # the From header, display name and address
    smtp_host: str | None                    # None: the development Maildir
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = dataclasses.field(default=None, repr=False)
    smtp_ca_file: pathlib.Path | None = None
    mailbox_dir: pathlib.Path | None = None  # the development Maildir

    @classmethod
    def from_env(cls, env: Mapping[str, str], settings: Settings) -> "MailerSettings":
        host = env.get("MTLID_SMTP_HOST") or None
        tls = (env.get("MTLID_SMTP_TLS") or "starttls").lower()
        if tls not in TLS_MODES:
            raise ConfigError(f"MTLID_SMTP_TLS: expected one of {', '.join(TLS_MODES)}, got {tls!r}")
        username = env.get("MTLID_SMTP_USERNAME") or None
        password = env.get("MTLID_SMTP_PASSWORD") or None
        if settings.production:
            if not host:
                raise ConfigError("MTLID_SMTP_HOST: required in production (the SMTP relay that sends the city's mail)")
            if tls == "none":
                raise ConfigError("MTLID_SMTP_TLS: 'none' is for development; production needs starttls or tls")
            if not (username and password):
                raise ConfigError("MTLID_SMTP_USERNAME: production authenticates to the relay "
                                  "(MTLID_SMTP_USERNAME and MTLID_SMTP_PASSWORD)")
        if bool(username) != bool(password):
            raise ConfigError("MTLID_SMTP_PASSWORD: give both MTLID_SMTP_USERNAME and MTLID_SMTP_PASSWORD, or neither")
        ca_file = env.get("MTLID_SMTP_CA_FILE") or None
        if ca_file and not pathlib.Path(ca_file).is_file():
            raise ConfigError(f"MTLID_SMTP_CA_FILE: no such file {ca_file!r}")
        sender = env.get("MTLID_MAIL_FROM") or DEFAULT_FROM
        name, address = parseaddr(sender)
        if "@" not in address:
            raise ConfigError(f"MTLID_MAIL_FROM: expected 'Name <address@domain>', got {sender!r}")
        try:
            Address(display_name=name, addr_spec=address)
        except (ValueError, IndexError):
            raise ConfigError(f"MTLID_MAIL_FROM: not a mail address: {sender!r}") from None
        return cls(sender=sender, smtp_host=host,
                   smtp_port=_port(env, "MTLID_SMTP_PORT", 465 if tls == "tls" else 587),
                   smtp_tls=tls, smtp_username=username, smtp_password=password,
                   smtp_ca_file=pathlib.Path(ca_file) if ca_file else None,
                   mailbox_dir=None if host else settings.var_dir / "mailbox")
