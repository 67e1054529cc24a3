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


def test_the_borough_comes_from_the_municipality_the_address_names():
    def holder(address):
        return holder_from_profile(_profile(**BASE, postal_address=address))

    lasalle = holder("200 rue Centrale, LaSalle QC H8R 2J8")
    assert lasalle.borough == "LaSalle" and lasalle.resident_of_montreal is True
    assert holder("1 boul. Pie-IX, Montréal-Nord QC").borough == "Montréal-Nord"
    assert holder("5 rue Jarry, St-Léonard (Québec) H1R 1A1").borough == "Saint-Léonard"
    assert holder("12 rue Wellington, Montréal (Verdun) QC H4G 1T6").borough == "Verdun"
    assert holder("6 av. Mont-Royal, Montréal (Le Plateau-Mont-Royal), QC").borough == "Le Plateau-Mont-Royal"
    assert holder("3 rue Beaubien, Montréal (Rosemont–La Petite-Patrie)").borough == "Rosemont–La Petite-Patrie"
    # a street named after a borough is not the borough; "Montréal" alone names none
    assert holder("4567 boulevard Saint-Laurent, Montréal QC H2T 1R2").borough is None
    assert holder("1 rue de Verdun, Laval QC").borough is None
    assert holder("1 rue de Verdun, Laval QC").resident_of_montreal is False
    assert holder("1 rue Notre-Dame, Montréal-Est QC").borough is None
    # a verified borough attribute, if accounts holds one, comes first
    assert holder_from_profile(_profile(**BASE, borough="Verdun", postal_address="1 rue X, Lachine QC")).borough == "Verdun"
