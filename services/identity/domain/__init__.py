"""Identity's domain: pure Python, no SQLAlchemy, gRPC or HTTP.

Modules: citizen_number (the universal identifier), assurance (levels of assurance / acr),
residents, passwords (argon2id), totp (RFC 6238), throttling, clients (OAuth client
registry rules), pairwise (OIDC Core 8.1), keys (signing-key lifecycle), events, errors.

Notes for the OIDC engineer — additions and the few deviations from identity_api.md
(no name of the API was renamed):
- ``pairwise_subject`` uses AES-SIV (deterministic authenticated encryption, keyed from the
  pairwise secret with HKDF) instead of HMAC: same properties (OIDC Core 8.1), and identity
  can reverse it (``pairwise.resolve_pairwise_subject``) for gRPC ResolveSubject without a
  lookup table. Output: 45 lower-case base32 characters.
- ``OAuthClient`` has defaults for every field after ``secret_hash`` and two extra fields,
  ``disabled: bool = False`` and ``created_at``; ``clients.hash_client_secret`` /
  ``new_client_secret`` make secrets (SHA-256 of a 256-bit random secret, see clients.py);
  ``clients.validate_client`` lists registry-rule violations; ``public`` subjects only for
  ``is_city_client``.
- ``pairwise.sector_of(client)`` gives the sector used by ``subject_for``.
- ``assurance.session_level(resident_level, second_factor)`` gives a session's acr level.
- ``Authenticate`` and ``VerifyTotp`` have an optional ``session_id`` (put in
  ``login_succeeded``). ``authenticate`` emits ``login_succeeded`` (amr ["pwd"]) only when
  the resident has no TOTP; otherwise ``verify_totp`` emits it (amr ["pwd", "otp"]).
- ``verify_totp(cmd, uow, kek=None)``, ``begin_totp_enrollment`` and
  ``confirm_totp_enrollment`` need the KEK: build the UoW with
  ``IdentityUnitOfWork(session_factory, kek=settings.key_encryption_key)`` (or pass kek=).
- ``LoginRefused.reason`` may also be ``invalid_otp`` (never raised by authenticate).
- ``IdentityUnitOfWork`` also has ``.throttles``; ``residents.add/save``,
  ``clients.add/list``. ``service_layer.authentication`` also has
  ``resend_email_verification(ResendEmailVerification(resident_id), uow)`` and
  ``TotpEnrollment(secret_base32, provisioning_uri)`` returned by ``begin_totp_enrollment``.
- ``keys.SIGNED_TOKEN_MAX_LIFETIME`` (1 h): no JWT we sign may live longer (retired keys
  stay in the JWKS that long after rotation). ``SigningKeys.public_key(kid)`` verifies.
- ``services/identity/app.py: build(runtime)`` sets ``runtime.identity`` to an
  ``IdentityContext(settings, uow_factory, keys: KeyRing, session_factory, is_revoked)`` and
  calls ``add_http_front(runtime, context)`` when it takes two parameters (else
  ``add_http_front(runtime)``). ``context.keys`` is the process-wide ``KeyRing``
  (``await keys.get()`` → ``SigningKeys``, reloaded every 60 s and on an unknown kid):
  please sign with it rather than a second ``SigningKeys.load``, so both fronts see a
  rotation at the same time. ``is_revoked(jti)`` reads your ``revoked_tokens`` store.
- ``service_layer.seed``: ``ensure_client(uow_factory, client)`` / ``ensure_resident(...)``,
  idempotent, for the demo data ``mtlid up`` expects from ``services.identity.demo.prepare_demo``.
- ``service_layer.authentication.disable_resident`` (residents are never deleted).
- The canonical citizen number is 12 symbols (11 random + check), human form
  ``MTL XXXX-XXXX-XXXX``.
"""
