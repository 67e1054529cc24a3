"""A QR code as inline SVG (segno, ISO/IEC 18004), for the TOTP enrolment: an authenticator
app scans the ``otpauth://`` URI instead of the resident typing the key. No JavaScript and no
image request: the SVG is part of the page, and the key is shown as text beside it (a
resident who cannot scan, or who uses a screen reader, types it).
"""

from __future__ import annotations

from markupsafe import Markup, escape
import segno


def qr_svg(text: str, label: str) -> Markup:
    """``text`` as a QR code (error correction M: it still scans from a smudged screen).

    ``role="img"`` with an accessible name (WCAG 2.1 SC 1.1.1, axe ``svg-img-alt``); the
    quiet zone of 4 modules is segno's default (ISO/IEC 18004 s. 6.3.8)."""
    code = segno.make(text, error="m", micro=False)
    # White behind the modules: a dark-mode page must not leave them on black.
    svg = code.svg_inline(scale=4, svgclass="qr", lineclass=None, dark="#000", light="#fff")
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1))
