"""Small pure pieces of the account pages: dates in Montréal time and in the resident's
words, and the only places a sign-in may send the resident back to."""

from __future__ import annotations

import datetime as dt

import pytest
from google.protobuf import timestamp_pb2

from services.identity.http.account.entry import _safe_next
from services.identity.http.account.web import local_time
from services.identity.http.i18n import Translator


def test_dates_are_in_montreal_time_and_worded_per_language():
    winter = dt.datetime(2026, 1, 5, 19, 7, tzinfo=dt.timezone.utc)      # EST, UTC-5
    summer = timestamp_pb2.Timestamp()
    summer.FromDatetime(dt.datetime(2026, 7, 1, 4, 30, tzinfo=dt.timezone.utc))  # EDT, UTC-4
    assert local_time(winter, Translator("fr")) == {"iso": "2026-01-05T19:07:00Z", "text": "5 janvier 2026, 14 h 07"}
    assert local_time(winter, Translator("en"))["text"] == "January 5, 2026, 2:07 PM"
    assert local_time(summer, Translator("fr"))["text"] == "1 juillet 2026, 0 h 30"
    assert local_time(summer, Translator("en"))["text"] == "July 1, 2026, 12:30 AM"


def test_an_unset_time_is_no_time():
    assert local_time(None, Translator("fr")) is None
    assert local_time(timestamp_pb2.Timestamp(), Translator("fr")) is None


@pytest.mark.parametrize("target, expected", [
    ("/account/consents", "/account/consents"),
    ("/account/access?service=montreal-library", "/account/access?service=montreal-library"),
    ("https://evil.example/account", "/account"),
    ("//evil.example/account", "/account"),
    ("/account\\@evil.example", "/account"),
    ("/accounting", "/account"),
    ("/account?done=granted", "/account?done=granted"),
    ("/account/login?next=/account", "/account"),
    ("/authorize", "/account"),
    ("", "/account"),
    (None, "/account"),
    ("/account/" + "x" * 600, "/account"),
])
def test_sign_in_returns_only_to_the_account_pages(target, expected):
    assert _safe_next(target) == expected
