"""The carte citoyenne's ``borough`` from the resident's verified postal address (issue 23).

Accounts keeps the address as one line of text, not a geocoded place, and holds no
``borough`` attribute today. What an address does say, sometimes, is its municipality: a
former city that became exactly one borough in 2002 (Canada Post still takes "Verdun",
"LaSalle", "Saint-Laurent"... as the municipality of an address), or the borough's own
official name ("Montréal (Rosemont–La Petite-Patrie)"). Only that part of the address is read
(what follows the street line, without the province and the postal code): "4567 boulevard
Saint-Laurent, Montréal" is *not* in Saint-Laurent. An address that says only "Montréal"
gives no borough (``null`` on the card): which of the 19 boroughs a street address lies in
takes the city's address register (géobase) and a geocoder, which mtlid does not hold.
"""

from __future__ import annotations

import re
import unicodedata

#: The 19 boroughs of the Ville de Montréal (Charter of Ville de Montréal, CQLR c. C-11.4,
#: Schedule B), with their official names (the same list as accounts' service catalogue).
BOROUGHS: tuple[str, ...] = (
    "Ahuntsic-Cartierville", "Anjou", "Côte-des-Neiges–Notre-Dame-de-Grâce", "Lachine", "LaSalle",
    "Le Plateau-Mont-Royal", "Le Sud-Ouest", "L'Île-Bizard–Sainte-Geneviève", "Mercier–Hochelaga-Maisonneuve",
    "Montréal-Nord", "Outremont", "Pierrefonds-Roxboro", "Rivière-des-Prairies–Pointe-aux-Trembles",
    "Rosemont–La Petite-Patrie", "Saint-Laurent", "Saint-Léonard", "Verdun", "Ville-Marie",
    "Villeray–Saint-Michel–Parc-Extension",
)

#: Former municipalities, each now entirely within one borough, as an address names them.
#: (Neighbourhoods are left out: "Saint-Michel" or "Rosemont" alone are not municipalities.)
_FORMER = {
    "anjou": "Anjou", "lachine": "Lachine", "lasalle": "LaSalle", "montreal-nord": "Montréal-Nord",
    "outremont": "Outremont", "pierrefonds": "Pierrefonds-Roxboro", "roxboro": "Pierrefonds-Roxboro",
    "saint-laurent": "Saint-Laurent", "saint-leonard": "Saint-Léonard", "verdun": "Verdun",
    "l'ile-bizard": "L'Île-Bizard–Sainte-Geneviève", "ile-bizard": "L'Île-Bizard–Sainte-Geneviève",
    "sainte-genevieve": "L'Île-Bizard–Sainte-Geneviève", "pointe-aux-trembles": "Rivière-des-Prairies–Pointe-aux-Trembles",
}

_POSTAL_CODE = re.compile(r"\b[a-z]\d[a-z] ?\d[a-z]\d\b")
_PROVINCE = re.compile(r"\b(?:qc|quebec|canada)\b")


def _normal(text: str) -> str:
    text = re.sub(r"[\u2010-\u2015]", "-", text)            # the official names' en dashes
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"\s*-\s*", "-", text)
    text = re.sub(r"\bste-", "sainte-", re.sub(r"\bst-", "saint-", text))
    return re.sub(r"\s+", " ", text).strip(" .")


_BY_NAME = {**_FORMER, **{_normal(name): name for name in BOROUGHS}}


def borough_of(address: str) -> str | None:
    """The borough an address names as its municipality, or None (see the module doc)."""
    parts = [p for p in re.split(r"[,\n]", address or "") if p.strip()]
    for part in parts[1:]:
        text = _PROVINCE.sub(" ", _POSTAL_CODE.sub(" ", _normal(part)))
        # "Montréal (Verdun)", "Verdun (Québec)": the name, or the name in parentheses
        for candidate in (text, *re.findall(r"\(([^)]*)\)", text), re.sub(r"\([^)]*\)", " ", text)):
            name = _BY_NAME.get(_normal(candidate).strip(" ()"))
            if name is not None:
                return name
    return None
