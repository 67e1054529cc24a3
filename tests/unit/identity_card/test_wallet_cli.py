"""``mtlid wallet`` is the reference wallet for tests and demos (issue 23): it refuses to run
outside development, keeps its device key in a file only its owner reads, and presents the
chosen claims as text or as a QR code."""

from __future__ import annotations

import stat

import pytest
from joserfc.jwk import ECKey

from services.cli import main as mtlid
from services.identity.card import sd_jwt
from services.identity.card.wallet import ReferenceWallet

NOW = 1_780_000_000


@pytest.fixture
def store(tmp_path):
    wallet = ReferenceWallet.open(tmp_path / "wallet.json")
    card = sd_jwt.issue({"iss": "https://id.montreal.example", "iat": NOW, "exp": NOW + 86400, "age_over_18": True,
                         "given_name": "Éloïse"}, ["age_over_18", "given_name"], ECKey.generate_key("P-256"),
                        kid="card-1", typ="dc+sd-jwt", holder_jwk=wallet.key.as_dict(private=False))
    wallet.cards.append(card)
    wallet.save()
    return wallet.path


@pytest.mark.parametrize("command", [
    ["wallet", "accept", "openid-credential-offer://?credential_offer=%7B%7D", "--tx-code", "123456"],
    ["wallet", "renew"],
    ["wallet", "present", "--claim", "age_over_18", "--audience", "a", "--nonce", "n"],
])
def test_the_reference_wallet_refuses_to_run_outside_development(command, store, monkeypatch, capsys):
    monkeypatch.setenv("MTLID_ENV", "production")
    assert mtlid([*command, "--store", str(store)]) == 2
    assert "development only" in capsys.readouterr().err


def test_the_wallet_file_is_its_owner_s_only(store):
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    store.chmod(0o644)
    ReferenceWallet.open(store).save()
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


def test_present_as_text_or_as_a_qr_code(store, monkeypatch, capsys):
    monkeypatch.setenv("MTLID_ENV", "development")
    assert mtlid(["wallet", "present", "--claim", "age_over_18", "--audience", "comptoir", "--nonce", "n1",
                  "--store", str(store)]) == 0
    text = capsys.readouterr().out.strip()
    parsed = sd_jwt.SdJwt.parse(text)
    assert [sd_jwt.Disclosure.parse(d).name for d in parsed.disclosures] == ["age_over_18"]
    assert parsed.key_binding_jwt
    assert mtlid(["wallet", "present", "--claim", "age_over_18", "--audience", "comptoir", "--nonce", "n1",
                  "--store", str(store), "--qr"]) == 0
    qr = capsys.readouterr().out
    assert parsed.issuer_jwt not in qr  # a picture, not the text
    assert len(qr.splitlines()) > 20 and "█" in qr


@pytest.mark.parametrize("content", ['{"issuer": "https://id.montreal.example", "jwks"', '[]',
                                     '{"issuer": "x", "jwks": {"keys": [{"kty": "EC", "kid": "k", "crv": "P-256"}]}}'])
def test_card_verify_with_an_unreadable_cache_says_what_to_do(content, tmp_path, capsys):
    cache = tmp_path / "cache.json"
    cache.write_text(content)
    assert mtlid(["card", "verify", "x~", "--audience", "a", "--nonce", "n", "--cache", str(cache)]) == 2
    assert "unreadable; run `mtlid card refresh" in capsys.readouterr().err


def test_card_verify_without_a_cache_says_what_to_do(tmp_path, capsys):
    assert mtlid(["card", "verify", "x~", "--audience", "a", "--nonce", "n", "--cache", str(tmp_path / "none")]) == 2
    assert "mtlid card refresh" in capsys.readouterr().err
