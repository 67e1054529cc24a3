"""Every word a page shows comes from the message catalogues, in French and in English."""

from __future__ import annotations

import json
import pathlib
import re

import services.identity.http as http_package

ROOT = pathlib.Path(http_package.__file__).parent
FR = json.loads((ROOT / "i18n" / "fr.json").read_text(encoding="utf-8"))
EN = json.loads((ROOT / "i18n" / "en.json").read_text(encoding="utf-8"))
LOGIN_REASONS = ("email_required", "email_invalid", "password_required", "invalid_credentials", "throttled",
                 "email_not_verified", "disabled", "code_invalid", "code_wrong", "invalid_otp", "closed",
                 "password_change_required")
PAGE_REASONS = ("invalid_client", "missing_client", "invalid_redirect_uri", "interaction_expired", "invalid_request",
                "invalid_id_token_hint", "invalid_post_logout_redirect_uri", "csrf", "not_found", "server_error")
PURPOSES = ("service-provision", "identity-verification", "communication", "service-personalisation", "statistics",
            "biometric-identity-verification")


def test_both_languages_have_the_same_keys():
    assert set(FR) == set(EN)


def test_every_literal_key_in_the_templates_exists():
    for template in (ROOT / "templates").glob("*.html"):
        for key in re.findall(r"t\(\"([a-z_.]*[a-z_])\"", template.read_text(encoding="utf-8")):
            assert key in FR, (template.name, key)


def test_every_reason_scope_and_purpose_has_words():
    for reason in LOGIN_REASONS:
        assert f"error.{reason}" in FR, reason
    for reason in PAGE_REASONS:
        assert f"errorpage.{reason}" in FR, reason
    for scope in ("email", "profile", "offline_access"):
        assert f"scope.{scope}" in FR
    for purpose in PURPOSES:
        assert f"purpose.{purpose}" in FR


def test_templates_hold_no_hard_coded_sentences():
    for template in (ROOT / "templates").glob("*.html"):
        text = re.sub(r"{[{%#].*?[}%#]}", "", template.read_text(encoding="utf-8"), flags=re.S)
        text = re.sub(r"<[^>]+>", " ", text)
        words = [w for w in text.split() if re.search(r"[A-Za-zÀ-ÿ]{2,}", w)]
        assert words == [], (template.name, words[:5])


def _account_catalogue(lang: str) -> dict[str, str]:
    merged = {}
    for path in sorted((ROOT / "i18n").glob(f"*.{lang}.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def test_every_key_the_account_pages_name_exists_in_both_languages():
    """The account pages name message keys in their templates (``t("…")``, a field's label and
    hint) and in their Python (the errors a form answers with): each must exist in French and
    English, or the resident reads the key itself (it happened: ``security.error.current_wrong``)."""
    import ast

    fr, en = {**FR, **_account_catalogue("fr")}, {**EN, **_account_catalogue("en")}
    named = set()
    for template in (ROOT / "templates" / "account").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        named.update((template.name, k) for k in re.findall(r"(?<![\w.])t\(\"([a-z_.-]*[a-z_])\"", text))
        named.update((template.name, k) for k in re.findall(r"field\(\"[a-z_]+\", \"([a-z_.]+)\"", text))
        named.update((template.name, k) for k in re.findall(r"hint_key=\"([a-z_.]+)\"", text))
    for module in (ROOT / "account").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and re.fullmatch(r"[a-z_]+(\.[a-z_]+)*\.error\.[a-z_]+", node.value)):
                named.add((module.name, node.value))
    assert len(named) > 50
    missing = sorted((where, key) for where, key in named if key not in fr or key not in en)
    assert missing == []
