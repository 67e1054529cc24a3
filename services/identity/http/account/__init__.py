"""Mon compte — the resident's account pages on the identity front (issue 6).

Server-rendered, behind the SSO session; they reach the accounts and consent services over
gRPC with a short-lived token minted for the resident (``backends``). Every word comes from
the message catalogues (``i18n/account.<lang>.json``); every form carries the CSRF token.

    /signup, /signup/verify                sign up, confirm the email address
    /account/login[/second-factor]         sign in (the provider's own login handlers)
    /account/password/forgot, /reset       a forgotten (or first) password: a mailed code
    /account                               home: citizen number, level, linked services
    /account/profile                       profile (self-declared and verified attributes)
    /account/consents[/…]                  consents: give, withdraw (confirmed), receipts
    /account/access                        who accessed my data
    /account/sign-ins                      sign-in history (kept 12 months)
    /account/services[/end, /grant]        connected services: what each received, end, consent
    /account/mandates[/…]                  Mes procurations: give, accept, end, signed receipts (issue 22)
    /account/export                        download my data (one JSON file)
    /account/security[/…]                  sessions, sign out everywhere, password, TOTP
    /account/email[/confirm]               change the sign-in address (password, then a code)
    /account/close                         close the account (what it means, password, receipt)
    /privacy                               the privacy notice given at collection (Law 25)
    /accessibility                         the accessibility statement (footer of every page)
    /terms                                 the terms of use (footer of every page)
    /account/security/not-me               "this was not me": sign out everywhere, new password
    /account/card[/offer, /lost]           the carte citoyenne: offer to a wallet, revoke (issue 23)
"""

from __future__ import annotations

from starlette.routing import Route

from services.identity.http.account import accessibility, terms
from services.identity.http.account import (biometric, card, closure, connections, email_change, entry, pages, privacy,
                                            proofs, security, sign_ins, suspicious)
from services.identity.http.account import mandates as mandate_pages

routes = [
    Route("/signup", entry.sign_up, methods=["GET", "POST"]),
    Route("/signup/verify", entry.verify, methods=["GET", "POST"]),
    Route("/account/login", entry.sign_in, methods=["GET", "POST"]),
    Route("/account/login/second-factor", entry.second_factor, methods=["GET", "POST"]),
    Route("/account/login/lost-phone", entry.lost_phone, methods=["GET", "POST"]),
    Route("/account/login/passkey", entry.passkey_sign_in, methods=["POST"]),
    Route("/account/login/second-factor/passkey", entry.passkey_second_factor, methods=["POST"]),
    Route("/account/password/forgot", entry.forgot_password, methods=["GET", "POST"]),
    Route("/account/password/reset", entry.reset_password, methods=["GET", "POST"]),
    Route("/account", pages.home, methods=["GET"]),
    Route("/account/unlink", pages.unlink, methods=["POST"]),
    Route("/account/profile", pages.profile, methods=["GET", "POST"]),
    Route("/account/consents", pages.consents, methods=["GET"]),
    Route("/account/consents/grant", pages.grant, methods=["POST"]),
    Route("/account/consents/biometric", biometric.biometric_consent, methods=["GET", "POST"]),
    Route("/account/consents/{consent_id}/withdraw", pages.withdraw, methods=["GET", "POST"]),
    Route("/account/consents/{consent_id}/receipt", pages.receipt, methods=["GET"]),
    Route("/account/access", pages.access_log, methods=["GET"]),
    Route("/account/sign-ins", sign_ins.sign_in_history, methods=["GET"]),
    Route("/account/services", connections.connected_services, methods=["GET"]),
    Route("/account/services/end", connections.end_connection, methods=["POST"]),
    Route("/account/services/grant", connections.give_consent, methods=["POST"]),
    # Issue 22: "Mes procurations".
    Route("/account/mandates", mandate_pages.mandates, methods=["GET"]),
    Route("/account/mandates/{mandate_id}/receipt", mandate_pages.receipt, methods=["GET"]),
    Route("/account/mandates/give", mandate_pages.give, methods=["POST"]),
    Route("/account/mandates/accept", mandate_pages.accept, methods=["POST"]),
    Route("/account/mandates/end", mandate_pages.end, methods=["POST"]),
    Route("/account/ledger/how-to-check", proofs.how_to_check, methods=["GET"]),
    Route("/account/ledger/{index}/proof", proofs.ledger_proof, methods=["GET"]),
    Route("/account/export", pages.export, methods=["GET", "POST"]),
    Route("/account/security", security.security, methods=["GET"]),
    Route("/account/security/password", security.change_password, methods=["POST"]),
    Route("/account/security/totp", security.totp_start, methods=["POST"]),
    Route("/account/security/totp/confirm", security.totp_confirm, methods=["POST"]),
    Route("/account/security/totp/remove", security.totp_remove, methods=["POST"]),
    Route("/account/security/recovery-codes", security.recovery_codes_new, methods=["POST"]),
    Route("/account/security/passkeys/new", security.passkey_new, methods=["GET"]),
    Route("/account/security/passkeys", security.passkey_add, methods=["POST"]),
    Route("/account/security/passkeys/remove", security.passkey_remove, methods=["POST"]),
    Route("/account/security/passkeys/rename", security.passkey_rename, methods=["POST"]),
    # Issue 21: a resident's account life.
    Route("/account/email", email_change.change_email, methods=["GET", "POST"]),
    Route("/account/email/confirm", email_change.confirm, methods=["GET", "POST"]),
    Route("/account/close", closure.close, methods=["GET", "POST"]),
    Route("/privacy", privacy.notice, methods=["GET"]),
    Route("/accessibility", accessibility.statement, methods=["GET"]),
    Route("/terms", terms.terms, methods=["GET"]),
    Route("/account/security/not-me", suspicious.not_me, methods=["GET", "POST"]),
    # Issue 23: the carte citoyenne.
    Route("/account/card", card.card, methods=["GET"]),
    Route("/account/card/offer", card.offer, methods=["POST"]),
    Route("/account/card/lost", card.lost, methods=["POST"]),
]
