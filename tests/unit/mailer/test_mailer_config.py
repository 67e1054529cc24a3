"""The mailer's variables (README table): a city's mail never crosses a network in clear, and a
bad value stops the process with a message naming the variable."""

from __future__ import annotations

import pytest

from services.common.config import ConfigError, Settings
from services.mailer.config import MailerSettings

PRODUCTION = {"MTLID_ENV": "production", "MTLID_ISSUER": "https://compte.montreal.ca",
              "MTLID_NATS_URL": "nats://nats:4222", "MTLID_KEY_ENCRYPTION_KEY": "A" * 43,
              "MTLID_PAIRWISE_SECRET": "B" * 43,
              **{f"MTLID_{s}_DATABASE_URL": f"postgresql://db/{s.lower()}" for s in ("IDENTITY", "ACCOUNTS", "CONSENT")}}
RELAY = {"MTLID_SMTP_HOST": "smtp-relay.montreal.internal", "MTLID_SMTP_USERNAME": "mtlid",
         "MTLID_SMTP_PASSWORD": "secret"}


def _settings(env):
    return MailerSettings.from_env(env, Settings.from_env(env))


def test_development_without_a_relay_keeps_mail_in_var_mailbox(tmp_path):
    mailer = _settings({"MTLID_VAR_DIR": str(tmp_path)})
    assert mailer.smtp_host is None and mailer.mailbox_dir == tmp_path / "mailbox"
    assert mailer.sender == "Ville de Montréal <ne-pas-repondre@montreal.ca>"


def test_production_with_a_relay_uses_starttls_on_587_by_default():
    mailer = _settings({**PRODUCTION, **RELAY})
    assert (mailer.smtp_host, mailer.smtp_port, mailer.smtp_tls) == ("smtp-relay.montreal.internal", 587, "starttls")
    assert "secret" not in repr(mailer)


@pytest.mark.parametrize(("change", "variable"), [
    ({"MTLID_SMTP_HOST": ""}, "MTLID_SMTP_HOST"),
    ({"MTLID_SMTP_TLS": "none"}, "MTLID_SMTP_TLS"),
    ({"MTLID_SMTP_PASSWORD": ""}, "MTLID_SMTP_USERNAME"),
    ({"MTLID_SMTP_TLS": "ssl3"}, "MTLID_SMTP_TLS"),
    ({"MTLID_SMTP_PORT": "smtp"}, "MTLID_SMTP_PORT"),
    ({"MTLID_SMTP_CA_FILE": "/nonexistent/ca.pem"}, "MTLID_SMTP_CA_FILE"),
    ({"MTLID_MAIL_FROM": "nobody"}, "MTLID_MAIL_FROM"),
])
def test_a_bad_or_missing_value_names_its_variable(change, variable):
    with pytest.raises(ConfigError, match=f"^{variable}"):
        _settings({**PRODUCTION, **RELAY, **change})


def test_the_mailer_in_production_needs_no_database_and_no_keys():
    env = {"MTLID_ENV": "production", "MTLID_ISSUER": "https://compte.montreal.ca",
           "MTLID_NATS_URL": "nats://mailer:pw@nats:4222", **RELAY}
    settings = Settings.from_env(env, process="mailer")
    assert settings.database_urls == {} and settings.key_encryption_key == b""
    assert MailerSettings.from_env(env, settings).smtp_host == "smtp-relay.montreal.internal"
    with pytest.raises(ConfigError, match="^MTLID_IDENTITY_DATABASE_URL"):
        Settings.from_env(env)  # a service, by contrast, needs its database
