"""Identity's domain: pure Python, no SQLAlchemy, gRPC or HTTP.

Modules: citizen_number (the universal identifier), assurance (levels of assurance / acr),
residents, passwords (argon2id), totp (RFC 6238), throttling, clients (OAuth client
registry rules), pairwise (OIDC Core 8.1), keys (signing-key lifecycle), events.

Notes for the OIDC engineer (additions to identity_api.md, no renamed names):
- ``OAuthClient`` has defaults for every field after ``secret_hash`` and two extra fields,
  ``disabled: bool = False`` and ``created_at``; ``clients.hash_client_secret`` /
  ``new_client_secret`` make secrets (SHA-256 of a 256-bit random secret, see clients.py).
- ``pairwise.sector_of(client)`` gives the sector used by ``subject_for``.
- ``assurance.session_level(resident_level, second_factor)`` gives a session's acr level.
- The canonical citizen number is 12 symbols (11 random + check), human form
  ``MTL XXXX-XXXX-XXXX``.
"""
