"""Framework-neutral HTTP request and response, what the protocol core speaks.

The HTTP front (Starlette) converts its request into a :class:`WireRequest` and a
:class:`WireResponse` back; the core never imports a web framework (the authlib shape:
``create_oauth2_request`` / ``handle_response`` are the adapter's job).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
from typing import Any
from urllib.parse import unquote


@dataclasses.dataclass(frozen=True)
class WireRequest:
    method: str
    path: str
    #: query and form parameters as lists (repeated parameters are an error, RFC 6749 s. 3.1)
    query: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    form: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    #: header names lower-case
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    cookies: dict[str, str] = dataclasses.field(default_factory=dict)
    remote_addr: str = ""

    def params(self) -> dict[str, list[str]]:
        """Query for GET, form for POST (the authorization endpoint accepts both, OIDC Core s. 3.1.2.1)."""
        return self.form if self.method == "POST" else self.query

    def first(self, source: dict[str, list[str]], name: str) -> str | None:
        values = source.get(name)
        return values[0] if values else None

    def basic_credentials(self) -> tuple[str, str] | None:
        """``client_id``/``client_secret`` from HTTP Basic, form-url-decoded (RFC 6749 s. 2.3.1)."""
        return self._basic

    @functools.cached_property
    def _basic(self) -> tuple[str, str] | None:
        # decoded once per request: the token endpoint asks for it twice on its hot path
        # (cached_property writes the instance's __dict__, which a frozen dataclass allows)
        auth = self.headers.get("authorization", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if ":" not in decoded:
            return None
        client_id, secret = decoded.split(":", 1)
        return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))

    def presented_token(self) -> tuple[str, str | None]:
        """``(scheme, access token)``: ``dpop`` for ``Authorization: DPoP`` (RFC 9449 s. 7.1),
        else ``bearer`` and what :meth:`bearer_token` finds."""
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("dpop "):
            return "dpop", auth[5:].strip() or None
        return "bearer", self.bearer_token()

    def bearer_token(self) -> str | None:
        """The access token from ``Authorization: Bearer`` (RFC 6750 s. 2.1) or the form (s. 2.2)."""
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        return self.first(self.form, "access_token")


@dataclasses.dataclass
class WireResponse:
    status: int
    body: Any = ""  # dict/list → JSON; str → as is
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: set-cookie instructions for the HTTP front: (name, value, max_age or None to delete)
    cookies: list[tuple[str, str, int | None]] = dataclasses.field(default_factory=list)
    #: a page to render instead of a body: (template name, context)
    page: tuple[str, dict[str, Any]] | None = None

    @classmethod
    def json(cls, status: int, body: Any, headers: list[tuple[str, str]] | None = None,
             no_store: bool = True) -> "WireResponse":
        hdrs = [(k, v) for k, v in (headers or []) if k.lower() not in ("content-type", "cache-control", "pragma")]
        hdrs.append(("Content-Type", "application/json"))
        if no_store:
            # RFC 6749 s. 5.1: token responses must not be cached
            hdrs += [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
        return cls(status, body, hdrs)

    @classmethod
    def redirect(cls, location: str) -> "WireResponse":
        return cls(302, "", [("Location", location), ("Cache-Control", "no-store")])

    def body_bytes(self) -> bytes:
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body, separators=(",", ":")).encode()
        if isinstance(self.body, bytes):
            return self.body
        return str(self.body or "").encode()
