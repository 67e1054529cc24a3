"""The issue 16 settings: validated at start, a bad value names its variable."""

from __future__ import annotations

import pytest

from services.common.config import ConfigError, Settings


def settings(**env: str) -> Settings:
    return Settings.from_env({"MTLID_VAR_DIR": "/tmp/mtlid-settings-test", **env})


def test_defaults_are_the_embedded_ones():
    s = settings()
    assert (s.nats_stream_replicas, s.drain_notice_seconds, s.outbox_retention_hours) == (1, 0.0, 168.0)


def test_values_from_the_environment():
    s = settings(MTLID_NATS_STREAM_REPLICAS="3", MTLID_DRAIN_NOTICE_SECONDS="5", MTLID_OUTBOX_RETENTION_HOURS="24")
    assert (s.nats_stream_replicas, s.drain_notice_seconds, s.outbox_retention_hours) == (3, 5.0, 24.0)


@pytest.mark.parametrize("name, value", [
    ("MTLID_NATS_STREAM_REPLICAS", "0"), ("MTLID_NATS_STREAM_REPLICAS", "6"), ("MTLID_NATS_STREAM_REPLICAS", "three"),
    ("MTLID_DRAIN_NOTICE_SECONDS", "-1"), ("MTLID_DRAIN_NOTICE_SECONDS", "nan"), ("MTLID_DRAIN_NOTICE_SECONDS", "5s"),
    ("MTLID_OUTBOX_RETENTION_HOURS", "0.5"), ("MTLID_OUTBOX_RETENTION_HOURS", "inf"),
])
def test_a_bad_value_stops_the_start_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as caught:
        settings(**{name: value})
    assert str(caught.value).startswith(f"{name}:")
