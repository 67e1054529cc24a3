"""The carte citoyenne (issue 23): an SD-JWT VC residents carry and a counter checks offline.

No web framework here (like ``oidc/``): the HTTP front and the CLI convert.

- ``sd_jwt.py``       Selective Disclosure for JWTs (RFC 9901): issue, present, verify
- ``status_list.py``  Token Status List (IETF draft-ietf-oauth-status-list): the revocation bits
- ``verifier.py``     the offline verifier: cached issuer keys and status list, cache age

The choices are written down in ``docs/carte-citoyenne.md``.
"""
