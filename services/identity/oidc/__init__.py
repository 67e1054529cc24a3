"""The OpenID provider's protocol core — no web framework (the HTTP front converts).

Map (node-oidc-provider's division, authlib's machinery):

- ``wire.py``       framework-neutral request/response the core speaks
- ``errors.py``     one exception per RFC 6749 / OIDC error code
- ``checks.py``     the authorization request's ordered table of ``check_*`` functions
- ``server.py``     authlib ``AuthorizationServer`` subclass: prefetch → compute → apply
- grants            ``authorization_code.py`` (PKCE S256, ID token), ``refresh_token.py``
                    (rotation, reuse detection), ``client_credentials.py`` (RFC 9068, RFC 8707)
- endpoints         ``discovery.py``, ``jwks.py``, ``authorize.py``, ``token.py``,
                    ``userinfo.py``, ``introspection.py``, ``revocation.py``, ``end_session.py``
- interactions      ``login.py`` (password, second factor), ``consent.py`` (Law 25 grants),
                    ``interaction.py`` (sealed state), ``sessions.py`` (SSO)
- ``records.py`` / ``ports.py``  what is stored, and the storage interfaces
  (``adapters/oauth_repositories.py`` implements them; ``OAuthUnitOfWork``)
- ``provider.py``   the composition root handed to every endpoint
"""
