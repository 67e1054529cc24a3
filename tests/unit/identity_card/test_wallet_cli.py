"""``mtlid wallet`` is the reference wallet for tests and demos (issue 23): it refuses to run
outside development, keeps its device key in a file only its owner reads, sealed under the
holder's PIN (commitment 6: a device key and a PIN, never a face), signs nothing without the
PIN, erases the key after five wrong PINs in a row, and presents the chosen claims as text or
as a QR code."""

from __future__ import annotations

import json
import stat

import pytest
from joserfc.jwk import ECKey

from services.cli import main as mtlid
from services.identity.card import sd_jwt
from services.identity.card.wallet import MAX_WRONG_PINS, ReferenceWallet, WalletError
from tests.unit.identity_card.fakes import PIN, mtlid_typing_pin

NOW = 1_780_000_000
ISSUER_KEY = ECKey.generate_key("P-256")
PRESENT = ["wallet", "present", "--claim", "age_over_18", "--audience", "comptoir", "--nonce", "n1"]


@pytest.fixture
def store(tmp_path):
    wallet = ReferenceWallet.open(tmp_path / "wallet.json", PIN)
    card = sd_jwt.issue({"iss": "https://id.montreal.example", "iat": NOW, "exp": NOW + 86400, "age_over_18": True,
                         "given_name": "Éloïse"}, ["age_over_18", "given_name"], ISSUER_KEY,
                        kid="card-1", typ="dc+sd-jwt", holder_jwk=wallet.public_jwk)
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
    assert mtlid_typing_pin(["wallet", "present", "--claim", "age_over_18", "--audience", "comptoir", "--nonce", "n1",
                             "--store", str(store)]) == 0
    text = capsys.readouterr().out.strip()
    parsed = sd_jwt.SdJwt.parse(text)
    assert [sd_jwt.Disclosure.parse(d).name for d in parsed.disclosures] == ["age_over_18"]
    assert parsed.key_binding_jwt
    assert mtlid_typing_pin(["wallet", "present", "--claim", "age_over_18", "--audience", "comptoir", "--nonce", "n1",
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


def _private_d(store, pin=PIN) -> str:
    return ReferenceWallet.open(store).unlock(pin).as_dict(private=True)["d"]


def test_the_wallet_file_never_holds_the_private_key_in_clear(store):
    d = _private_d(store)  # the JWK's private part, recovered with the PIN
    raw = store.read_text()
    assert d and d not in raw
    assert '"d"' not in raw and "private" not in raw.lower()
    sealed = json.loads(raw)["sealed_key"]
    assert sealed["kdf"] == "scrypt" and sealed["enc"] == "A256GCM" and "d" not in json.loads(sealed["public_jwk"])
    # the same key behind the same PIN, after a save: the file is re-written, not the key
    ReferenceWallet.open(store).save()
    assert _private_d(store) == d and d not in store.read_text()


def test_a_wrong_pin_is_refused_and_nothing_is_presented(store, capsys):
    assert mtlid_typing_pin([*PRESENT, "--store", str(store)], pin="000000") == 1
    out, err = capsys.readouterr()
    assert out == ""  # nothing presented
    assert "wrong PIN; 4 tries left" in err
    with pytest.raises(WalletError) as refused:
        ReferenceWallet.open(store).present(["age_over_18"], audience="comptoir", nonce="n1", pin="1234567")
    assert refused.value.error == "wrong_pin"
    assert json.loads(store.read_text())["wrong_pins"] == 2  # counted in the file, not in the process
    # The right PIN presents, and resets the count.
    assert mtlid_typing_pin([*PRESENT, "--store", str(store)]) == 0
    assert sd_jwt.SdJwt.parse(capsys.readouterr().out.strip()).key_binding_jwt
    assert json.loads(store.read_text())["wrong_pins"] == 0


def test_five_wrong_pins_in_a_row_erase_the_key(store, capsys):
    d = _private_d(store)
    for attempt in range(1, MAX_WRONG_PINS):
        assert mtlid_typing_pin([*PRESENT, "--store", str(store)], pin=f"99999{attempt}") == 1
        assert f"{MAX_WRONG_PINS - attempt} tr" in capsys.readouterr().err
    assert mtlid_typing_pin([*PRESENT, "--store", str(store)], pin="111111") == 1
    assert "erased its device key" in capsys.readouterr().err
    data = json.loads(store.read_text())
    assert data["sealed_key"] is None and data["renewal"] == {} and d not in store.read_text()
    # The right PIN can no longer bring it back: the key is gone, as from a wiped secure element.
    assert mtlid_typing_pin([*PRESENT, "--store", str(store)]) == 1
    assert "erased its device key" in capsys.readouterr().err
    with pytest.raises(WalletError) as locked:
        ReferenceWallet.open(store).unlock(PIN)
    assert locked.value.error == "wallet_locked"


def test_the_pin_is_chosen_at_setup_six_digits_at_least(tmp_path):
    for weak in ("12345", "abcdef", "12 456", "", "١٢٣٤٥٦"):
        with pytest.raises(WalletError) as refused:
            ReferenceWallet.open(tmp_path / "w.json", weak)
        assert refused.value.error == "invalid_pin"
    assert not (tmp_path / "w.json").exists()
    with pytest.raises(WalletError):
        ReferenceWallet.open(tmp_path / "w.json")  # a new wallet without a PIN: no
    assert ReferenceWallet.open(tmp_path / "w.json", "123456").cards == []


def test_mtlid_wallet_accept_refuses_a_weak_pin_before_any_request(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MTLID_ENV", "development")
    store = tmp_path / "new.json"
    assert mtlid_typing_pin(["wallet", "accept", "openid-credential-offer://?credential_offer=%7B%7D",
                             "--tx-code", "123456", "--store", str(store)], pin="1234") == 2
    assert "at least 6 digits" in capsys.readouterr().err and not store.exists()


def test_the_pin_is_never_a_command_line_argument(store, capsys):
    for command in (["wallet", "accept", "x", "--tx-code", "1"], ["wallet", "renew"], PRESENT):
        with pytest.raises(SystemExit):
            mtlid([*command, "--store", str(store), "--pin", PIN])
        assert "unrecognized arguments: --pin " in capsys.readouterr().err  # not taken for --pin-stdin


def test_on_a_terminal_the_pin_is_asked_without_echo(store, capsys, monkeypatch):
    asked = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": asked.append(prompt) or PIN)
    assert mtlid([*PRESENT, "--store", str(store)]) == 0
    assert asked == ["Wallet PIN: "] and PIN not in capsys.readouterr().out


def test_on_a_terminal_a_new_pin_is_typed_twice(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MTLID_ENV", "development")
    typed = iter(["246810", "246811"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    store = tmp_path / "new.json"
    assert mtlid(["wallet", "accept", "openid-credential-offer://?credential_offer=%7B%7D", "--tx-code", "123456",
                  "--store", str(store)]) == 2
    assert "the two PINs differ" in capsys.readouterr().err and not store.exists()


def test_a_pin_typed_with_other_characters_is_only_a_wrong_pin(store, capsys):
    assert mtlid_typing_pin([*PRESENT, "--store", str(store)], pin="four-eight-é") == 1
    assert "wrong PIN; 4 tries left" in capsys.readouterr().err
