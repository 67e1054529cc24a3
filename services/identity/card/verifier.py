"""The offline verifier of the carte citoyenne: what ``mtlid card verify`` and the counter run.

While online, the verifier ``refresh``es a cache: the issuer's card keys (SD-JWT VC draft,
``/.well-known/jwt-vc-issuer``, whose ``jwks`` holds the card key, not the token key) and
the signed status lists the cards name. At the desk, ``verify`` uses only that cache: it
opens no connection (the tests cut the network and assert none is attempted), so a
presentation checked offline leaves no trace with the city.

The cache is *too old* when it was fetched more than ``max_age`` seconds ago (default one
day, the card status list's ``ttl``) or when the status list it holds has passed its
``exp``. A verifier with a too old cache refuses, saying so (``cache_too_old``): a lost phone
revoked yesterday must not pass because the desk was offline for a week.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey

from services.identity.card import sd_jwt, status_list
from services.identity.card.sd_jwt import PresentationRefused

CARD_TYP = "dc+sd-jwt"
#: the carte citoyenne's type under its issuer (``CardConfig.vct``)
VCT_PATH = "/vct/carte-citoyenne"
DEFAULT_MAX_AGE = 86_400
JWT_VC_ISSUER_PATH = "/.well-known/jwt-vc-issuer"



def well_known(identifier: str, name: str) -> str:
    """``/.well-known/<name>`` inserted between the host and the path of an issuer identifier,
    as OpenID4VCI 1.0 s. 12.2.2, the SD-JWT VC draft (s. 5) and RFC 8414 s. 3.1 place it; for an
    identifier without a path (mtlid's) it is the identifier followed by the well-known path."""
    split = urllib.parse.urlsplit(identifier.rstrip("/"))
    return f"{split.scheme}://{split.netloc}/.well-known/{name}{split.path}"


# fetch(url) -> the body as text; the CLI passes an httpx GET, tests pass the live server's.
Fetch = Callable[[str], str]


@dataclass
class VerifierCache:
    """What the verifier took home while online (a JSON file for the CLI)."""

    issuer: str
    jwks: dict[str, Any]
    status_lists: dict[str, str] = field(default_factory=dict)
    fetched_at: int = 0

    def keys(self) -> dict[str, ECKey]:
        return {k["kid"]: ECKey.import_key(k) for k in self.jwks.get("keys", []) if k.get("kty") == "EC"}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> VerifierCache:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def refresh(issuer: str, fetch: Fetch, *, status_list_uris: list[str] | None = None, now: int | None = None,
            previous: VerifierCache | None = None) -> VerifierCache:
    """Fetches the card keys and status lists (online); keeps the lists a previous cache knew."""
    metadata = json.loads(fetch(well_known(issuer, "jwt-vc-issuer")))
    if metadata.get("issuer") != issuer:
        raise PresentationRefused("wrong_issuer", "the issuer metadata names another issuer")
    jwks = metadata.get("jwks") or json.loads(fetch(metadata["jwks_uri"]))
    uris = set(status_list_uris or []) | set((previous.status_lists if previous else {}).keys())
    uris |= set(metadata.get("status_lists", []))
    lists = {uri: fetch(uri).strip() for uri in sorted(uris)}
    return VerifierCache(issuer, jwks, lists, int(time.time()) if now is None else now)


@dataclass(frozen=True)
class CardCheck:
    """A verified card: only the disclosed claims (and the issuer's plain ones the counter needs)."""

    disclosed: dict[str, Any]
    issuer: str
    vct: str
    expires_at: int | None
    #: the card's entry in its status list (what an online verifier finds the card's holder by)
    status_index: int | None = None


class OfflineVerifier:
    def __init__(self, cache: VerifierCache, *, max_age: int = DEFAULT_MAX_AGE) -> None:
        self._cache = cache
        self._max_age = max_age
        self._keys = cache.keys()

    def cache_age(self, now: int) -> int:
        return now - self._cache.fetched_at

    def verify(self, presentation: str, *, audience: str, nonce: str, now: int | None = None) -> CardCheck:
        """RFC 9901 s. 7 checks, then the card's issuer, then its status (status list draft s. 8.3)."""
        now = int(time.time()) if now is None else now
        if self.cache_age(now) > self._max_age:
            raise PresentationRefused(
                "cache_too_old",
                f"the issuer keys and status list were fetched {self.cache_age(now) // 3600} h ago; "
                "refresh the verifier while online",
            )
        result = sd_jwt.verify(presentation, self._keys, expected_typ=CARD_TYP, audience=audience, nonce=nonce, now=now)
        claims = result.claims
        if claims.get("iss") != self._cache.issuer:
            raise PresentationRefused("wrong_issuer", "the card was not issued by the cached issuer")
        # SD-JWT VC draft s. 3.2.2.1.1: the verifier checks the type it expects; a credential of
        # another type signed by the same key is not a carte citoyenne.
        if claims.get("vct") != self._cache.issuer + VCT_PATH:
            raise PresentationRefused("wrong_type", "the credential is not a carte citoyenne")
        self._check_status(claims.get("status"), now)
        return CardCheck(
            disclosed={name: claims[name] for name in sorted(result.disclosed)},
            issuer=claims["iss"],
            vct=str(claims.get("vct", "")),
            expires_at=claims.get("exp"),
            status_index=claims["status"]["status_list"]["idx"],
        )

    def _check_status(self, status: Any, now: int) -> None:
        reference = status.get("status_list") if isinstance(status, Mapping) else None
        if not isinstance(reference, Mapping) or not isinstance(reference.get("idx"), int):
            raise PresentationRefused("status_unavailable", "the card names no status list entry")
        uri = str(reference.get("uri", ""))
        token = self._cache.status_lists.get(uri)
        if token is None:
            raise PresentationRefused("cache_too_old", "the cache holds no copy of this card's status list")
        checked = status_list.read_status_list_token(token, self._keys, uri=uri)
        if now > checked.expires_at:
            raise PresentationRefused("cache_too_old", "the cached status list has expired; refresh while online")
        try:
            value = checked.entries.get(reference["idx"])
        except IndexError as exc:
            raise PresentationRefused("status_unavailable", "the card's index is outside its status list") from exc
        if value != status_list.VALID:
            raise PresentationRefused("revoked", "the card has been revoked")
