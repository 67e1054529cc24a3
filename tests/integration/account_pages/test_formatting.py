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
    """Québec French (OQLF: "1er", "à", "14 h 07") and Canadian English ("at 2:07 p.m.")."""
    winter = dt.datetime(2026, 1, 5, 19, 7, tzinfo=dt.timezone.utc)      # EST, UTC-5
    summer = timestamp_pb2.Timestamp()
    summer.FromDatetime(dt.datetime(2026, 7, 1, 4, 30, tzinfo=dt.timezone.utc))  # EDT, UTC-4
    assert local_time(winter, Translator("fr")) == {"iso": "2026-01-05T19:07:00Z", "text": "5 janvier 2026 à 14 h 07"}
    assert local_time(winter, Translator("en"))["text"] == "January 5, 2026 at 2:07 p.m."
    assert local_time(summer, Translator("fr"))["text"] == "1er juillet 2026 à 0 h 30"
    assert local_time(summer, Translator("en"))["text"] == "July 1, 2026 at 12:30 a.m."


def test_noon_midnight_and_daylight_time_change_in_montreal():
    noon = dt.datetime(2026, 11, 1, 17, 0, tzinfo=dt.timezone.utc)      # after the change back: UTC-5
    before = dt.datetime(2026, 11, 1, 5, 59, tzinfo=dt.timezone.utc)    # 1:59 EDT
    assert local_time(noon, Translator("fr"))["text"] == "1er novembre 2026 à 12 h 00"
    assert local_time(noon, Translator("en"))["text"] == "November 1, 2026 at 12:00 p.m."
    assert local_time(before, Translator("fr"))["text"] == "1er novembre 2026 à 1 h 59"
    assert local_time(dt.datetime(2026, 3, 2, 5, 0), Translator("fr"))["text"] == "2 mars 2026 à 0 h 00"


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


def test_the_readable_file_words_every_instant_and_leaves_the_rest():
    """readable_times: the resident's file as its readable page shows it (issue 21)."""
    from services.identity.http.account.web import readable_times

    file = {"generated_at": "2026-12-01T19:05:00Z", "until": "2027-12-01",
            "sessions": [{"signed_in_at": "2026-07-01T04:30:00.123456+00:00", "methods": ["pwd"]}],
            "kid": "2026-12-01T19:05", "count": 3, "ended_at": None}
    assert readable_times(file, Translator("fr")) == {
        "generated_at": "1er décembre 2026 à 14 h 05", "until": "1er décembre 2027",
        "sessions": [{"signed_in_at": "1er juillet 2026 à 0 h 30", "methods": ["pwd"]}],
        "kid": "2026-12-01T19:05", "count": 3, "ended_at": None}
    assert readable_times(file, Translator("en"))["generated_at"] == "December 1, 2026 at 2:05 p.m."
    assert readable_times(file, Translator("en"))["until"] == "December 1, 2027"
    assert readable_times({"day": "2026-13-40"}, Translator("fr")) == {"day": "2026-13-40"}
    assert file["generated_at"] == "2026-12-01T19:05:00Z"          # the signed document is untouched
