"""MTLID_CLOSED_ACCOUNT_RETENTION_DAYS (issue 21): how long a closed account's personal data
is kept before the purge; two years unless the city's retention schedule says otherwise."""

from __future__ import annotations

import pytest

from services.common.config import ConfigError, Settings


def settings(**env: str) -> Settings:
    return Settings.from_env({"MTLID_VAR_DIR": "/tmp/mtlid-settings-test", **env})


def test_two_years_unless_told_otherwise():
    assert settings().closed_account_retention_days == 730
    assert settings(MTLID_CLOSED_ACCOUNT_RETENTION_DAYS="1095").closed_account_retention_days == 1095


@pytest.mark.parametrize("value", ["0", "-5", "36501", "two years", "nan"])
def test_a_bad_period_stops_the_start_naming_the_variable(value):
    with pytest.raises(ConfigError) as caught:
        settings(MTLID_CLOSED_ACCOUNT_RETENTION_DAYS=value)
    assert str(caught.value).startswith("MTLID_CLOSED_ACCOUNT_RETENTION_DAYS:")
