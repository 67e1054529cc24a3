"""The activation letter a resident enrolled at a counter takes home (PDF, French or English).

fpdf2 (pure Python, maintained, LGPL; no system library, so `make up` stays one command) with
its core Helvetica font: the letter holds only Latin-1 text, so typographic characters are
folded (``—`` → ``-``, ``’`` → ``'``, ``œ`` → ``oe``) rather than embedding a font file.

What it says: the citizen number in its human form, the one-time activation code and when it
expires, how to activate online (``<issuer>/activate``), and that the resident may as well
keep using the counter and 311 — nothing requires going online.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from fpdf import FPDF

MONTREAL = ZoneInfo("America/Montreal")
_FOLD = str.maketrans({"—": "-", "–": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "œ": "oe", "Œ": "OE",
                       "\u202f": " ", "\u00a0": " "})

TEXT = {
    "fr": {
        "title": "Votre numéro de citoyen de Montréal",
        "greeting": "Bonjour,",
        "intro": "Vous avez été inscrit ou inscrite au comptoir. Voici votre numéro de citoyen : il vous "
                 "identifie auprès de tous les services de la Ville et des arrondissements.",
        "number": "Numéro de citoyen",
        "code": "Code d'activation (à usage unique)",
        "expires": "Ce code expire le {date}. Il ne sert qu'une fois.",
        "online_title": "Pour utiliser vos services en ligne (facultatif)",
        "online": "Allez à {url}, entrez votre numéro de citoyen et ce code, puis choisissez un mot de "
                  "passe. Vous pourrez ensuite vous connecter avec votre numéro de citoyen (ou un courriel, "
                  "si vous en ajoutez un).",
        "offline_title": "Sans Internet",
        "offline": "Rien ne vous oblige à aller en ligne : présentez ce numéro à un comptoir Accès Montréal "
                   "ou appelez le 311. Vos services liés et vos consentements restent enregistrés.",
        "keep": "Gardez cette lettre en lieu sûr. Personne de la Ville ne vous demandera ce code au téléphone.",
        "footer": "Ville de Montréal - lettre remise au comptoir le {date}",
    },
    "en": {
        "title": "Your Montréal citizen number",
        "greeting": "Hello,",
        "intro": "You were enrolled at a counter. Here is your citizen number: it identifies you to every "
                 "service of the City and its boroughs.",
        "number": "Citizen number",
        "code": "Activation code (single use)",
        "expires": "This code expires on {date}. It works only once.",
        "online_title": "To use your services online (optional)",
        "online": "Go to {url}, enter your citizen number and this code, then choose a password. You can "
                  "then sign in with your citizen number (or an e-mail address, if you add one).",
        "offline_title": "Without Internet",
        "offline": "Nothing requires you to go online: show this number at an Accès Montréal counter or "
                   "call 311. Your linked services and consents stay recorded.",
        "keep": "Keep this letter in a safe place. Nobody from the City will ask you for this code on the phone.",
        "footer": "Ville de Montréal - letter handed over at the counter on {date}",
    },
}

_MONTHS = {"fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
                  "octobre", "novembre", "décembre"],
           "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                  "October", "November", "December"]}


def _date(value: dt.datetime, lang: str) -> str:
    local = value.astimezone(MONTREAL)
    month = _MONTHS[lang][local.month - 1]
    return f"{local.day} {month} {local.year}" if lang == "fr" else f"{month} {local.day}, {local.year}"


def activation_letter(*, lang: str, citizen_number: str, code: str, expires_at: dt.datetime,
                      activate_url: str, now: dt.datetime | None = None) -> bytes:
    """The letter as PDF bytes (``lang`` ``fr`` or ``en``)."""
    lang = lang if lang in TEXT else "fr"
    t = TEXT[lang]
    now = now or dt.datetime.now(dt.timezone.utc)

    def fold(text: str) -> str:
        return text.translate(_FOLD)

    pdf = FPDF(format="Letter")
    pdf.set_title(fold(t["title"]))
    pdf.set_author("Ville de Montréal")
    pdf.set_lang("fr-CA" if lang == "fr" else "en-CA")
    pdf.set_margins(25, 25, 25)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 10, fold(t["title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 12)
    for key in ("greeting", "intro"):
        pdf.multi_cell(0, 7, fold(t[key]), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    for label, value in ((t["number"], citizen_number), (t["code"], code)):
        pdf.ln(2)
        pdf.set_font("Helvetica", "", 12)
        pdf.cell(0, 7, fold(label), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Courier", "B", 22)
        pdf.cell(0, 12, value, border=1, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    pdf.ln(2)
    pdf.multi_cell(0, 7, fold(t["expires"].format(date=_date(expires_at, lang))), new_x="LMARGIN", new_y="NEXT")
    for title, body in (("online_title", "online"), ("offline_title", "offline")):
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 13)
        pdf.cell(0, 8, fold(t[title]), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 12)
        pdf.multi_cell(0, 7, fold(t[body].format(url=activate_url)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "I", 11)
    pdf.multi_cell(0, 6, fold(t["keep"]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 5, fold(t["footer"].format(date=_date(now, lang))), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
