"""Witness cosignatures of the ledger's tree heads, after the C2SP conventions.

A log that only its operator checks can show different histories to different people (a
split view). Witnesses — independent parties (the city's auditor, the Commission d'accès à
l'information, a university) — each keep the last head they cosigned and cosign a new head
only after verifying the RFC 9162 s. 2.1.4 consistency proof from it. A resident who sees a
head cosigned by witnesses they trust knows it is the head everyone else sees.

Formats (documented for outsiders in ``LEDGER.md``, "Witnesses"), modelled on C2SP:

- **checkpoint** (c2sp.org/tlog-checkpoint): the note body
  ``<origin>\\n<tree size, decimal>\\n<root hash, standard base64>\\n``. The origin names the
  log (``<issuer host and path>/consent-ledger``); the log publishes it with its tree head.
- **cosignature** (c2sp.org/tlog-cosignature, ``cosignature/v1``): an Ed25519 signature by
  the witness's key over ``cosignature/v1\\ntime <unix seconds>\\n`` + the checkpoint body.
- **signed note** (c2sp.org/signed-note): the body, an empty line, then one line per
  signature ``— <witness name> <base64(key id (4 bytes) || timestamp (8 bytes, big-endian)
  || signature (64 bytes))>``; the key id is the first 4 bytes of
  SHA-256(name || "\\n" || 0x04 || public key).
- **verifier key**: ``<name>+<key id, 8 hex digits>+<base64(0x04 || public key)>``; the log
  is configured with the verifier keys of the witnesses it publishes (``MTLID_LEDGER_WITNESSES``).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

COSIGNATURE_V1 = 0x04
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,99}$")
_EM_DASH = "\u2014"


class WitnessFormatError(ValueError):
    """A checkpoint, note, key or cosignature that does not have the documented shape."""


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root_hash).decode()}\n"

    @classmethod
    def parse(cls, body: str) -> "Checkpoint":
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not lines[0] or not lines[1].isdigit():
            raise WitnessFormatError("not a checkpoint: origin, tree size, root hash, one per line")
        if lines[1] != str(int(lines[1])):
            raise WitnessFormatError("tree size has leading zeros")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except ValueError:
            raise WitnessFormatError("root hash is not base64") from None
        if len(root) != 32:
            raise WitnessFormatError("root hash is not 32 bytes")
        return cls(lines[0], int(lines[1]), root)


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_V1]) + public_key).digest()[:4]


def _signed_message(checkpoint: Checkpoint, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint.body().encode()


@dataclasses.dataclass(frozen=True)
class VerifierKey:
    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def encode(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([COSIGNATURE_V1]) + self.public_key).decode()}"

    @classmethod
    def parse(cls, text: str) -> "VerifierKey":
        parts = text.strip().split("+", 2)  # the base64 key may itself hold "+"
        if len(parts) != 3 or not _NAME.match(parts[0]):
            raise WitnessFormatError("a verifier key is <name>+<key id>+<base64 key>")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            raise WitnessFormatError("the verifier key is not base64") from None
        if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
            raise WitnessFormatError("not a cosignature/v1 Ed25519 key")
        key = cls(parts[0], raw[1:])
        if key.key_id.hex() != parts[1].lower():
            raise WitnessFormatError("the key id does not match the name and key")
        return key


@dataclasses.dataclass(frozen=True)
class Cosignature:
    witness: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def line(self) -> str:
        blob = self.key_id + struct.pack(">Q", self.timestamp) + self.signature
        return f"{_EM_DASH} {self.witness} {base64.b64encode(blob).decode()}\n"

    def verify(self, checkpoint: Checkpoint, key: VerifierKey) -> bool:
        if key.name != self.witness or key.key_id != self.key_id:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(
                self.signature, _signed_message(checkpoint, self.timestamp))
        except InvalidSignature:
            return False
        return True


class WitnessKey:
    """A witness's Ed25519 signing key; stored as a one-line file ``<name>+<base64 seed>``."""

    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        if not _NAME.match(name):
            raise WitnessFormatError("a witness name is 1-100 characters of A-Z a-z 0-9 . _ / : -")
        self.name = name
        self._private = private
        self.verifier = VerifierKey(name, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    @classmethod
    def generate(cls, name: str) -> "WitnessKey":
        return cls(name, Ed25519PrivateKey.generate())

    def encode(self) -> str:
        seed = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return f"{self.name}+{base64.b64encode(seed).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> "WitnessKey":
        name, _, seed = text.strip().partition("+")  # a name holds no "+"; the seed may
        try:
            raw = base64.b64decode(seed, validate=True)
        except ValueError:
            raise WitnessFormatError("the witness key file is <name>+<base64 seed>") from None
        if len(raw) != 32 or not name:
            raise WitnessFormatError("the witness key file is <name>+<base64 seed>")
        return cls(name, Ed25519PrivateKey.from_private_bytes(raw))

    def cosign(self, checkpoint: Checkpoint, timestamp: int) -> Cosignature:
        signature = self._private.sign(_signed_message(checkpoint, timestamp))
        return Cosignature(self.name, self.verifier.key_id, timestamp, signature)


def signed_note(checkpoint: Checkpoint, cosignatures: list[Cosignature]) -> str:
    return checkpoint.body() + "\n" + "".join(c.line() for c in cosignatures)


def parse_note(text: str) -> tuple[Checkpoint, list[Cosignature]]:
    """A signed note: checkpoint body, empty line, signature lines."""
    body, sep, signatures = text.partition("\n\n")
    if not sep:
        raise WitnessFormatError("a signed note is the body, an empty line, then signature lines")
    checkpoint = Checkpoint.parse(body + "\n")
    found = []
    for line in signatures.split("\n"):
        if not line:
            continue
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _EM_DASH:
            raise WitnessFormatError("a signature line is '\u2014 <name> <base64>'")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            raise WitnessFormatError("a signature is not base64") from None
        if len(blob) != 4 + 8 + 64:
            raise WitnessFormatError("not a cosignature/v1 signature (key id, timestamp, Ed25519 signature)")
        found.append(Cosignature(parts[1], blob[:4], struct.unpack(">Q", blob[4:12])[0], blob[12:]))
    if not found:
        raise WitnessFormatError("the note carries no signature")
    return checkpoint, found


def origin_of(issuer: str) -> str:
    """The log's origin line: the issuer without its scheme, then ``/consent-ledger``."""
    return issuer.split("://", 1)[-1].rstrip("/") + "/consent-ledger"


@dataclasses.dataclass(frozen=True)
class WitnessPolicy:
    """Which witnesses the log accepts and publishes, and how many a head needs.

    ``quorum`` defaults to a majority of the configured witnesses (none configured: 0, and
    every head is flagged as unwitnessed only when a quorum is set)."""

    witnesses: tuple[VerifierKey, ...] = ()
    quorum: int = 0
    origin: str = origin_of("http://127.0.0.1:8000")
    #: cosignatures accepted per witness per minute (``MTLID_LEDGER_WITNESS_RATE``)
    per_minute: int = 12

    def key(self, name: str) -> VerifierKey | None:
        return next((k for k in self.witnesses if k.name == name), None)

    @classmethod
    def parse(cls, witnesses: str, quorum: str, issuer: str, rate: str = "") -> "WitnessPolicy":
        keys = tuple(VerifierKey.parse(item) for item in witnesses.replace("\n", ",").split(",") if item.strip())
        if len({k.name for k in keys}) != len(keys):
            raise WitnessFormatError("a witness name appears twice")
        if quorum.strip():
            if not quorum.strip().isdigit() or int(quorum) > len(keys):
                raise WitnessFormatError("the quorum is a whole number no larger than the number of witnesses")
            needed = int(quorum)
        else:
            needed = len(keys) // 2 + 1 if keys else 0
        if rate.strip() and (not rate.strip().isdigit() or not 1 <= int(rate) <= 6000):
            raise WitnessFormatError("the rate is a whole number of cosignatures a minute, 1 to 6000")
        return cls(keys, needed, origin_of(issuer), int(rate) if rate.strip() else cls.per_minute)


class CosignatureRate:
    """How many cosignatures each witness may submit: a token bucket per witness name, of
    ``per_minute`` tokens refilled over a minute (a burst of as many).

    A witness polling every minute submits at most two notes a round (its own head and the
    head the others cosigned), so the default of 12 leaves room; a witness looping on the log
    — by mistake or not — is answered RESOURCE_EXHAUSTED with the delay to wait, and cannot
    make the log verify signatures and compute roots without end. Counted only for
    cosignatures that verify: a forged note under a witness's name cannot spend its budget.
    Only configured witnesses get a bucket, so the table stays as small as the list. Per
    process: with N replicas of consent a witness may submit N times the rate."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, witness: str, per_minute: int, now: float) -> float:
        """0.0 if one more cosignature is allowed now (and count it), else the seconds to wait."""
        tokens, last = self._buckets.get(witness, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + max(0.0, now - last) * per_minute / 60.0)
        if tokens < 1.0:
            self._buckets[witness] = (tokens, now)
            return (1.0 - tokens) * 60.0 / per_minute
        self._buckets[witness] = (tokens - 1.0, now)
        return 0.0
