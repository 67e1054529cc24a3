"""``__Host-`` cookies outside development (RFC 6265bis s. 4.1.3.2).

A cookie named ``__Host-…`` is accepted by browsers only with ``Secure``, ``Path=/`` and no
``Domain``: no other host — a sibling subdomain of montreal.ca included — can set or shadow
it. Outside development every cookie of the identity front is sent under that prefix, and a
request's cookies of our names *without* it are ignored (a sibling could have planted them
for a login CSRF). In development (plain http on loopback) the names stay bare.

Done once at the boundary, as an ASGI middleware: the rest of the front and the protocol core
keep using the bare names (``mtlid_session``, ``mtlid_csrf``, ``mtlid_lang``).
"""

from __future__ import annotations

from starlette.types import Scope

from services.identity.http.asgi import Headers, ResponseHeaders

from services.identity.http.csrf import CSRF_COOKIE
from services.identity.http.i18n import LANG_COOKIE
from services.identity.oidc.sessions import SESSION_COOKIE

PREFIX = "__Host-"
OURS = frozenset({SESSION_COOKIE, CSRF_COOKIE, LANG_COOKIE})


def incoming(header: str) -> str:
    """The Cookie header as the app should see it: ``__Host-x`` → ``x`` for our names, bare
    ``x`` of our names dropped, other cookies untouched."""
    kept = []
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name in OURS:
            continue                        # not ours: set without the prefix, by anyone
        if name.startswith(PREFIX) and name[len(PREFIX):] in OURS:
            name = name[len(PREFIX):]
        kept.append(f"{name}={value}")
    return "; ".join(kept)


def outgoing(set_cookie: str) -> str:
    """A Set-Cookie header with our cookie's name prefixed (the app sets Secure and Path=/)."""
    name, sep, rest = set_cookie.partition("=")
    if sep and name.strip() in OURS:
        return PREFIX + name.strip() + "=" + rest
    return set_cookie


class HostCookies(ResponseHeaders):
    """The ASGI middleware applying ``incoming`` and ``outgoing`` (production only)."""

    def request(self, scope: Scope) -> Scope:
        headers = [(name, incoming(value.decode("latin-1")).encode("latin-1")) if name == b"cookie" else (name, value)
                   for name, value in scope["headers"]]
        return {**scope, "headers": headers}

    def rewrite(self, headers: Headers) -> Headers:
        return [(name, outgoing(value.decode("latin-1")).encode("latin-1")) if name == b"set-cookie" else (name, value)
                for name, value in headers]
