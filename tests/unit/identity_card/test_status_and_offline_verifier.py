"""Token Status List (draft) and the offline verifier: revocation, cache age, no network at the desk."""

from __future__ import annotations

import json
import socket

import pytest
from joserfc.jwk import ECKey

from services.identity.card import sd_jwt, status_list, verifier
from services.identity.card.sd_jwt import PresentationRefused
from services.identity.card.status_list import StatusList

NOW = 1_780_000_000
ISSUER = "https://id.montreal.example"
LIST_URI = ISSUER + "/card/status/1"


def test_draft_example_status_list_encodes_to_the_draft_lst():
    # draft-ietf-oauth-status-list s. 4.1: 16 one-bit statuses -> bytes b9 a3 -> "eNrbuRgAAhcBXQ".
    lst = StatusList(size=16)
    for index, value in enumerate([1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]):
        lst.set(index, value)
    assert bytes(lst.packed) == b"\xb9\xa3"
    assert lst.encoded() == {"bits": 1, "lst": "eNrbuRgAAhcBXQ"}
    back = StatusList.decoded({"bits": 1, "lst": "eNrbuRgAAhcBXQ"})
    assert [back.get(i) for i in range(16)] == [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]


def test_draft_example_two_bit_status_list_encodes_to_the_draft_lst():
    # draft-ietf-oauth-status-list s. 4.1, the 2-bit example: 12 statuses -> c9 44 f9 -> "eNo76fITAAPfAgc".
    lst = StatusList(size=12, bits=2)
    for index, value in enumerate([1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]):
        lst.set(index, value)
    assert bytes(lst.packed) == b"\xc9\x44\xf9"
    assert lst.encoded() == {"bits": 2, "lst": "eNo76fITAAPfAgc"}
    back = StatusList.decoded({"bits": 2, "lst": "eNo76fITAAPfAgc"})
    assert [back.get(i) for i in range(12)] == [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]


def test_two_bit_list_keeps_neighbours():
    lst = StatusList(size=8, bits=2)
    lst.set(3, status_list.SUSPENDED)
    lst.set(4, status_list.INVALID)
    assert [lst.get(i) for i in range(8)] == [0, 0, 0, 2, 1, 0, 0, 0]
    with pytest.raises(IndexError):
        lst.get(8)


class Issuer:
    """The issuer side as the verifier sees it over HTTP: metadata, keys and the status list."""

    def __init__(self):
        self.card_key = ECKey.generate_key("P-256")
        self.holder = ECKey.generate_key("P-256")
        self.entries = StatusList(size=1024)
        self.fetched: list[str] = []

    def jwks(self):
        public = self.card_key.as_dict(private=False)
        return {"keys": [{**public, "kid": "card-1", "use": "sig", "alg": "ES256"}]}

    def fetch(self, url):
        self.fetched.append(url)
        if url == ISSUER + verifier.JWT_VC_ISSUER_PATH:
            return json.dumps({"issuer": ISSUER, "jwks": self.jwks(), "status_lists": [LIST_URI]})
        if url == LIST_URI:
            return status_list.status_list_token(self.entries, self.card_key, kid="card-1", uri=LIST_URI,
                                                 now=NOW, lifetime=2 * 86400, ttl=86400)
        raise AssertionError(f"unexpected fetch {url}")

    def card(self, idx=7, **extra):
        claims = {"iss": ISSUER, "vct": ISSUER + "/vct/carte-citoyenne", "iat": NOW - 60, "exp": NOW + 14 * 86400,
                  "status": {"status_list": {"idx": idx, "uri": LIST_URI}},
                  "given_name": "Éloïse", "age_over_18": True, **extra}
        return sd_jwt.issue(claims, ["given_name", "age_over_18"], self.card_key, kid="card-1", typ="dc+sd-jwt",
                            holder_jwk=self.holder.as_dict(private=False))

    def present(self, card, nonce="n-1", at=NOW):
        return sd_jwt.present(card, ["age_over_18"], self.holder, audience="comptoir-ahuntsic", nonce=nonce,
                              issued_at=at)


@pytest.fixture
def no_network(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network cut by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_offline_verification_shows_only_the_disclosed_claim_and_makes_no_request(no_network):
    issuer = Issuer()
    cache = verifier.refresh(ISSUER, issuer.fetch, now=NOW)
    fetched_online = len(issuer.fetched)
    check = verifier.OfflineVerifier(cache).verify(issuer.present(issuer.card(), at=NOW + 600), audience="comptoir-ahuntsic",
                                                   nonce="n-1", now=NOW + 600)
    assert check.disclosed == {"age_over_18": True}
    assert check.issuer == ISSUER
    assert no_network == [] and len(issuer.fetched) == fetched_online


def test_revocation_is_seen_after_the_cache_refresh(tmp_path):
    issuer = Issuer()
    card = issuer.card(idx=7)
    cache = verifier.refresh(ISSUER, issuer.fetch, now=NOW)
    cache.save(tmp_path / "cache.json")
    issuer.entries.set(7, status_list.INVALID)  # "J'ai perdu mon téléphone"
    stale = verifier.OfflineVerifier(verifier.VerifierCache.load(tmp_path / "cache.json"))
    assert stale.verify(issuer.present(card), audience="comptoir-ahuntsic", nonce="n-1", now=NOW + 60).disclosed
    fresh = verifier.OfflineVerifier(verifier.refresh(ISSUER, issuer.fetch, now=NOW + 120))
    with pytest.raises(PresentationRefused) as refused:
        fresh.verify(issuer.present(card), audience="comptoir-ahuntsic", nonce="n-1", now=NOW + 180)
    assert refused.value.reason == "revoked"
    # Another resident's card on the same list still passes.
    assert fresh.verify(issuer.present(issuer.card(idx=8)), audience="comptoir-ahuntsic", nonce="n-1",
                        now=NOW + 180).disclosed == {"age_over_18": True}


def test_a_too_old_cache_says_so():
    issuer = Issuer()
    cache = verifier.refresh(ISSUER, issuer.fetch, now=NOW)
    with pytest.raises(PresentationRefused) as refused:
        verifier.OfflineVerifier(cache).verify(issuer.present(issuer.card(), at=NOW + 2 * 86400),
                                               audience="comptoir-ahuntsic", nonce="n-1", now=NOW + 2 * 86400)
    assert refused.value.reason == "cache_too_old"
    assert "refresh" in refused.value.detail


def test_a_status_list_past_its_exp_is_too_old_even_in_a_young_cache():
    issuer = Issuer()
    cache = verifier.refresh(ISSUER, issuer.fetch, now=NOW)
    patient = verifier.OfflineVerifier(cache, max_age=30 * 86400)
    at = NOW + 3 * 86400
    with pytest.raises(PresentationRefused) as refused:
        patient.verify(issuer.present(issuer.card(), at=at), audience="comptoir-ahuntsic", nonce="n-1", now=at)
    assert refused.value.reason == "cache_too_old"


def test_a_status_list_signed_by_another_key_is_refused():
    issuer = Issuer()
    cache = verifier.refresh(ISSUER, issuer.fetch, now=NOW)
    cache.status_lists[LIST_URI] = status_list.status_list_token(
        StatusList(size=1024), ECKey.generate_key("P-256"), kid="card-1", uri=LIST_URI, now=NOW, lifetime=86400, ttl=60)
    with pytest.raises(PresentationRefused) as refused:
        verifier.OfflineVerifier(cache).verify(issuer.present(issuer.card()), audience="comptoir-ahuntsic",
                                               nonce="n-1", now=NOW + 60)
    assert refused.value.reason == "status_unavailable"


def test_a_card_from_another_issuer_with_the_same_key_id_is_refused():
    issuer = Issuer()
    cache = verifier.refresh(ISSUER, issuer.fetch, now=NOW)
    card = issuer.card(iss="https://ailleurs.example")
    with pytest.raises(PresentationRefused) as refused:
        verifier.OfflineVerifier(cache).verify(issuer.present(card), audience="comptoir-ahuntsic", nonce="n-1",
                                               now=NOW + 60)
    assert refused.value.reason == "wrong_issuer"


def _tampered(presentation: str) -> str:
    # the disclosed value changed from true to false, salt kept: no digest of the card matches
    jwt, disclosure, kb = presentation.split("~")
    d = sd_jwt.Disclosure.parse(disclosure)
    return f"{jwt}~{sd_jwt.Disclosure.of(d.salt, d.name, False).encoded}~{kb}"


@pytest.mark.parametrize(("case", "reason"), [
    ("wrong_nonce", "wrong_nonce"),
    ("wrong_audience", "wrong_audience"),
    ("tampered_disclosure", "tampered_disclosure"),
    ("expired", "expired"),
    ("revoked", "revoked"),
    ("key_binding_missing", "key_binding_missing"),
])
def test_the_issue_s_bad_presentations_are_refused_by_the_offline_verifier_with_a_reason(case, reason):
    """Issue 23's list, through the whole offline verifier (cache, keys, status list), each
    with its reason and a sentence a desk can read."""
    issuer = Issuer()
    if case == "revoked":
        issuer.entries.set(7, status_list.INVALID)
    card = issuer.card(idx=7, **({"exp": NOW - 3600} if case == "expired" else {}))
    presentation = issuer.present(card, nonce="n-old" if case == "wrong_nonce" else "n-1", at=NOW + 60)
    if case == "wrong_audience":
        presentation = sd_jwt.present(card, ["age_over_18"], issuer.holder, audience="piscine-du-plateau",
                                      nonce="n-1", issued_at=NOW + 60)
    elif case == "tampered_disclosure":
        presentation = _tampered(presentation)
    elif case == "key_binding_missing":
        presentation = presentation.rsplit("~", 1)[0] + "~"  # the card alone, as if photographed
    desk = verifier.OfflineVerifier(verifier.refresh(ISSUER, issuer.fetch, now=NOW))
    with pytest.raises(PresentationRefused) as refused:
        desk.verify(presentation, audience="comptoir-ahuntsic", nonce="n-1", now=NOW + 60)
    assert (refused.value.reason, bool(refused.value.detail)) == (reason, True)
    # the same card, presented properly, passes (unless it is expired or revoked)
    if case not in ("expired", "revoked"):
        assert desk.verify(issuer.present(card, at=NOW + 60), audience="comptoir-ahuntsic", nonce="n-1",
                           now=NOW + 60).disclosed == {"age_over_18": True}


def test_a_credential_of_another_type_from_the_same_issuer_is_refused():
    issuer = Issuer()
    cache = verifier.refresh(ISSUER, issuer.fetch, now=NOW)
    card = issuer.card(vct=ISSUER + "/vct/carte-bibliotheque")
    with pytest.raises(PresentationRefused) as refused:
        verifier.OfflineVerifier(cache).verify(issuer.present(card), audience="comptoir-ahuntsic", nonce="n-1",
                                               now=NOW + 60)
    assert refused.value.reason == "wrong_type"


@pytest.mark.parametrize(("identifier", "name", "url"), [
    ("https://id.montreal.example", "jwt-vc-issuer", "https://id.montreal.example/.well-known/jwt-vc-issuer"),
    ("https://id.montreal.example/", "openid-credential-issuer",
     "https://id.montreal.example/.well-known/openid-credential-issuer"),
    # an identifier with a path: the well-known part goes between host and path
    ("https://id.montreal.example/card", "oauth-authorization-server",
     "https://id.montreal.example/.well-known/oauth-authorization-server/card"),
    ("https://wallets.example/issuers/7", "openid-credential-issuer",
     "https://wallets.example/.well-known/openid-credential-issuer/issuers/7"),
])
def test_well_known_urls_are_inserted_between_host_and_path(identifier, name, url):
    assert verifier.well_known(identifier, name) == url
