"""Mon compte puts only verified attributes on a carte citoyenne (docs/carte-citoyenne.md)."""

from __future__ import annotations

import datetime as dt

from montreal.accounts.v1 import accounts_pb2 as apb
from services.identity.http.account.card import holder_from_profile


def _profile(provenance=apb.PROVENANCE_VERIFIED_AT_COUNTER, **values):
    return apb.Profile(resident_id="X", attributes=[apb.Attribute(name=k, value=v, provenance=provenance)
                                                    for k, v in values.items()])


BASE = {"given_name": "Éloïse", "family_name": "Tremblay", "date_of_birth": "1990-04-02"}


def test_verified_names_and_birth_date_make_a_holder():
    holder = holder_from_profile(_profile(**BASE, postal_address="1234 rue Fleury Est, Montréal QC H2C 1R1"))
    assert (holder.given_name, holder.birthdate) == ("Éloïse", dt.date(1990, 4, 2))
    assert holder.resident_of_montreal is True and holder.borough is None


def test_self_declared_values_are_not_put_on_a_card():
    assert holder_from_profile(_profile(apb.PROVENANCE_SELF_DECLARED, **BASE)) is None


def test_missing_or_malformed_birth_date_gives_no_holder():
    assert holder_from_profile(_profile(given_name="A", family_name="B")) is None
    assert holder_from_profile(_profile(**{**BASE, "date_of_birth": "02/04/1990"})) is None
    assert holder_from_profile(None) is None


def test_an_address_outside_montreal_is_not_residence():
    holder = holder_from_profile(_profile(**BASE, postal_address="12 rue Principale, Laval QC"))
    assert holder.resident_of_montreal is False


def test_montreal_est_is_another_city_but_montreal_nord_a_borough():
    assert holder_from_profile(_profile(**BASE, postal_address="1 rue Notre-Dame, Montréal-Est QC")).resident_of_montreal is False
    assert holder_from_profile(_profile(**BASE, postal_address="1 boul. Pie-IX, Montréal-Nord QC")).resident_of_montreal is True
