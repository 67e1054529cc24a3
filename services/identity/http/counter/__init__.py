"""The counter console (issue 17): what an Accès Montréal or borough agent uses to serve a
resident in person. Server-rendered, keyboard-first, no JavaScript needed; French first,
English (``i18n/counter.<lang>.json``); every form carries the CSRF token.

    /counter/login, /counter/second-factor    the agent signs in (password + TOTP: level 3)
    /counter/logout                           the agent signs out
    /counter/session-token                    the agent's session token (JSON), for token exchange
    /counter                                  the console: find a resident (number, or name + birth date)
    /counter/resident?citizen_number=…        a resident's file: document check, link, letter
    /counter/enroll                           enroll a resident (e-mail and phone optional)
    /counter/resident/letter                  the activation letter (PDF, a new one-time code)
    /counter/resident/file                    the resident's complete file, to print (after a document check)
    /counter/resident/profile                 the profile an enrolment could not record (accounts was down)
    /counter/organization                     organizations: register, name representatives (issue 22)
    /counter/supervision                      supervisors: agents' actions, the unusual ones
    /counter/passkeys                         the agent's passkeys (a second factor at sign-in)
    /counter/card                             check a carte citoyenne offline (issue 23)
"""

from __future__ import annotations

from starlette.routing import Route

from services.identity.http.counter import card_check, console, passkeys, printed_file, sign_in
from services.identity.http.counter import mandates as counter_mandates
from services.identity.http.counter import organizations as counter_organizations

routes = [
    Route("/counter/login", sign_in.sign_in, methods=["GET", "POST"]),
    Route("/counter/second-factor", sign_in.second_factor, methods=["GET", "POST"]),
    Route("/counter/second-factor/passkey", sign_in.passkey_second_factor, methods=["POST"]),
    Route("/counter/passkeys", passkeys.page, methods=["GET"]),
    Route("/counter/passkeys", passkeys.add, methods=["POST"]),
    Route("/counter/passkeys/remove", passkeys.remove, methods=["POST"]),
    Route("/counter/logout", sign_in.sign_out, methods=["POST"]),
    Route("/counter/session-token", sign_in.session_token, methods=["GET"]),
    Route("/counter", console.home, methods=["GET"]),
    Route("/counter/resident", console.resident, methods=["GET"]),
    Route("/counter/search", console.search, methods=["GET"]),
    Route("/counter/enroll", console.enroll, methods=["GET", "POST"]),
    Route("/counter/resident/document", console.document_check, methods=["POST"]),
    Route("/counter/resident/link", console.link_account, methods=["POST"]),
    Route("/counter/resident/profile", console.complete_profile, methods=["POST"]),
    Route("/counter/resident/second-factor/reset", console.reset_second_factor, methods=["POST"]),
    Route("/counter/resident/letter", console.letter, methods=["POST"]),
    Route("/counter/resident/file", printed_file.printed_file, methods=["POST"]),
    Route("/counter/resident/consent", console.record_consent, methods=["POST"]),
    # Issue 22: legal mandates recorded on documents.
    Route("/counter/resident/mandate", counter_mandates.record, methods=["POST"]),
    Route("/counter/resident/mandate/end", counter_mandates.end, methods=["POST"]),
    # Issue 22: organizations and their representatives, on the register's statement.
    Route("/counter/organization", counter_organizations.page, methods=["GET"]),
    Route("/counter/organization", counter_organizations.register, methods=["POST"]),
    Route("/counter/organization/representative", counter_organizations.name_representative, methods=["POST"]),
    Route("/counter/organization/representative/end", counter_organizations.end_representative, methods=["POST"]),
    Route("/counter/supervision", console.supervision, methods=["GET"]),
    # Issue 23: the carte citoyenne verifier (offline, against the desk's cache).
    Route("/counter/card", card_check.page, methods=["GET"]),
    Route("/counter/card", card_check.check, methods=["POST"]),
    Route("/counter/card/refresh", card_check.refresh, methods=["POST"]),
]
