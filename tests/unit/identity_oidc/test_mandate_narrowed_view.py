"""Issue 22: "Mes procurations" says since when a minor's mandate no longer covers consent, in
French and in English, and what it still covers."""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp

from montreal.consent.v1 import consent_pb2 as cpb
from services.identity.http.account.mandates import _view
from services.identity.http.i18n import Translator


def _mandate(**narrowed) -> cpb.Mandate:
    birthday = Timestamp()
    birthday.FromDatetime(dt.datetime(2027, 3, 2, 5))
    return cpb.Mandate(mandate_id="11111111-1111-4111-8111-111111111111", represented_id="CDEFGHJKMNPQ",
                       mandatary_id="BCDEFGHJKMNP", basis=cpb.MANDATE_BASIS_PARENTAL_AUTHORITY,
                       state=cpb.MANDATE_STATE_ACTIVE, grant_time=birthday,
                       scope=[cpb.MandateScope(service="*", actions=["pay", "request", "view"])],
                       **({"narrow_time": birthday, "narrow_reason": "minor_turned_14"} if narrowed else {}))


def test_the_narrowing_is_shown_in_both_languages():
    for lang, words in (("fr", "ne couvre plus le consentement"), ("en", "no longer covers consent")):
        t = Translator(lang)
        view = _view(_mandate(narrowed=True), t, {}, "CDEFGHJKMNPQ")
        assert view["narrowed"]["text"].startswith(("2 mars 2027", "March 2, 2027"))
        assert words in t("account.mandates.narrowed." + view["narrow_reason"])
        assert [a for s in view["scope"] for a in s["actions"]] == [t(f"account.mandates.action.{a}")
                                                                   for a in ("pay", "request", "view")]
    plain = _view(_mandate(), Translator("fr"), {}, "CDEFGHJKMNPQ")
    assert plain["narrowed"] is None and plain["narrow_reason"] == ""
