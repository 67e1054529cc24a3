"""Every key the counter console, activation and history templates use is in both catalogues
(French first, English too), including the families built from a value."""

from __future__ import annotations

import json
import pathlib
import re

from services.identity.card.issuance import DISCLOSABLE
from services.identity.http.counter.console import DOCUMENT_TYPES
from services.identity.service_layer.counter_journal import RESIDENT_VISIBLE

HTTP = pathlib.Path(__file__).parents[3] / "services" / "identity" / "http"


def _catalogue(lang: str) -> dict:
    messages = json.loads((HTTP / "i18n" / f"{lang}.json").read_text())
    for extra in (HTTP / "i18n").glob(f"*.{lang}.json"):
        messages.update(json.loads(extra.read_text()))
    return messages


def _card_refusals() -> set[str]:
    """Every reason the offline verifier can give (``PresentationRefused("…"``, and the
    signature checks' ``reason`` arguments), read from its sources."""
    card = HTTP.parent / "card"
    reasons = set()
    for module in ("sd_jwt.py", "status_list.py", "verifier.py"):
        source = (card / module).read_text()
        reasons |= set(re.findall(r'PresentationRefused\(\s*"([a-z_]+)"', source))
        reasons |= set(re.findall(r'"(bad_signature|bad_key_binding|unknown_key)"', source))
    return reasons


def test_every_counter_key_is_in_both_catalogues():
    used = set()
    for folder in ("counter", "activation"):
        for template in (HTTP / "templates" / folder).glob("*.html"):
            used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.\-]+)["']""", template.read_text()))
    for module in ("counter/console.py", "counter/sign_in.py", "activation.py", "counter/card_check.py"):
        used |= set(re.findall(r""""((?:counter|activate)\.[a-z0-9_.]+)\"""", (HTTP / module).read_text()))
    families = {"counter.document.": DOCUMENT_TYPES, "counter.history.action.": RESIDENT_VISIBLE,
                "counter.level.": ("1", "2", "3"), "counter.error.": (),
                "counter.consent.given.": ("counter", "phone"),
                "counter.recorded.": ("record_consent", "withdraw_consent"),
                "counter.supervision.kind.": ("many_name_searches", "outside_office_hours"),
                "counter.error.supervision_": ("start_date", "end_date", "agent_id", "office"),
                # the carte citoyenne verifier (issue 23): every claim, every reason it can refuse for
                "counter.card.claim.": DISCLOSABLE, "counter.card.reason.": _card_refusals()}
    keys = {k for k in used if not k.endswith((".", "_"))}
    keys |= {prefix + suffix for prefix, suffixes in families.items() for suffix in suffixes}
    for lang in ("fr", "en"):
        missing = keys - set(_catalogue(lang))
        assert not missing, (lang, sorted(missing))
