"""The resident's complete file printed at the counter as a PDF (issue 17; Access Act, CQLR c.
A-2.1, s. 84: "in the form of a written and intelligible transcript").

The PDF is made from the very page the counter prints in HTML (``account/file.html`` with one
partial per section of ``resident_file.SECTIONS``), so both carry the same content, section by
section, and a section added later reaches the PDF without a line here. fpdf2 (already used
for the activation letter: pure Python, no system library) lays the page out with
``write_html`` (headings, paragraphs, tables). Like the letter, it uses the core Helvetica
font: text is folded to Latin-1 (``—`` → ``-``, ``’`` → ``'``, ``œ`` → ``oe``; any other
character outside Latin-1 becomes ``?``) rather than embedding a font file, and long unbroken
values (hashes) are given break points so a table cell can wrap them.
"""

from __future__ import annotations

import re

from fpdf import FPDF

from services.identity.http.counter.letter import _FOLD

#: What fpdf2's HTML renderer has no use for: the stylesheet (its own layout applies), the head.
_HEAD = re.compile(r"<head>.*?</head>", re.S | re.I)
#: A run of more than 40 characters without a space (a leaf hash, a signature): a space every
#: 32 characters lets a narrow table column wrap it; identifiers and times stay whole.
_LONG = re.compile(r"[^\s<>\"'=]{41,}")


def _spaced(match: re.Match) -> str:
    run = match.group(0)
    return " ".join(run[i:i + 32] for i in range(0, len(run), 32))


def _latin1(text: str) -> str:
    return text.translate(_FOLD).encode("latin-1", "replace").decode("latin-1")


def _breakable(html: str) -> str:
    """Long values made wrappable inside text only (tags and their attributes untouched)."""
    parts = re.split(r"(<[^>]*>)", html)
    return "".join(p if p.startswith("<") else _LONG.sub(_spaced, p) for p in parts)


def file_pdf(html: str, *, title: str, lang: str) -> bytes:
    """The printed file's HTML page as PDF bytes, in its language (``fr`` or ``en``)."""
    body = _breakable(_latin1(_HEAD.sub("", html)))
    pdf = FPDF(format="Letter")
    pdf.set_title(_latin1(title))
    pdf.set_author("Ville de Montréal")
    pdf.set_lang("fr-CA" if lang == "fr" else "en-CA")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", size=9)
    pdf.write_html(body, font_family="Helvetica", tag_styles=None)
    return bytes(pdf.output())
