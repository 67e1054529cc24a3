"""TOTP, the time-based one-time password of RFC 6238 (on HOTP, RFC 4226).

HOTP(K, C) = Truncate(HMAC-SHA-1(K, C)) mod 10^digits  (RFC 4226 s. 5.3), with
C = floor((T − T0) / X), T0 = 0, X = 30 s (RFC 6238 s. 4). Verification accepts the
current step and one step either side (RFC 6238 s. 5.2 recommends at most one step of
network delay) and refuses a step already used (s. 5.2: "the verifier MUST NOT accept
the second attempt of the OTP after the successful validation").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1
_ALGORITHMS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def new_secret() -> bytes:
    """160 random bits, the HMAC-SHA-1 block-size recommendation of RFC 4226 s. 4 (R6)."""
    return secrets.token_bytes(20)


def secret_to_base32(secret: bytes) -> str:
    return base64.b32encode(secret).decode().rstrip("=")


def time_step(unix_time: float, step: int = STEP_SECONDS) -> int:
    return int(unix_time // step)


def hotp(secret: bytes, counter: int, digits: int = DIGITS, algorithm: str = "SHA1") -> str:
    """RFC 4226 s. 5.3: dynamic truncation of the HMAC of the 8-byte big-endian counter."""
    mac = hmac.new(secret, struct.pack(">Q", counter), _ALGORITHMS[algorithm]).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(binary % (10 ** digits)).zfill(digits)


def totp(secret: bytes, unix_time: float, digits: int = DIGITS, algorithm: str = "SHA1") -> str:
    return hotp(secret, time_step(unix_time), digits, algorithm)


def verify(secret: bytes, code: str, unix_time: float, last_used_step: int | None = None) -> int | None:
    """The matching time step (to record as used), or None.

    Accepts steps ``now-1 .. now+1`` that are later than ``last_used_step``, so an observed
    code cannot be replayed, not even within its own 30 seconds.
    """
    code = (code or "").strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = time_step(unix_time)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(hotp(secret, step), code):
            return step
    return None


def provisioning_uri(secret: bytes, account_name: str, issuer: str = "Montréal") -> str:
    """The ``otpauth://`` URI authenticator apps read from a QR code (Key Uri Format)."""
    label = quote(f"{issuer}:{account_name}")
    query = urlencode({"secret": secret_to_base32(secret), "issuer": issuer,
                       "algorithm": "SHA1", "digits": DIGITS, "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"
