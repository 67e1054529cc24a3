"""The registry of mail events: every identity event that is a mail, and its words.

Adding a mail is one ``MailKind`` in ``MAILS`` (and a line in services/mailer/README.md):
the mailer then consumes ``montreal.identity.v1.<event>`` with a durable consumer
``mailer--<event>``, checks the fields the kind declares, renders it with the shared
templates and counts it under ``mail="<purpose>"``. The deployment's NATS user ``mailer``
must be allowed that consumer (deploy/k8s/base/nats.yaml; tests/integration/common/
test_nats_permissions.py fails until it is).

Words: French first (Charter of the French language, s. 16 and 22); plain sentences, no
link, no image. ``lead`` and each of ``after`` may use ``{date}`` and ``{time}`` (the
kind's ``moment``, in Montréal time), ``{reference}`` and ``{detail}`` (the sentence the
kind's ``details`` give for the event's ``detail`` field); a code's expiry sentence is added
after the first of ``after``. Nothing beyond what the resident needs: a notice never
repeats the new address, a password or anything the event does not carry.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class MailKind:
    event: str                    # identity's event name (montreal.identity.v1.<event>)
    purpose: str                  # the X-Mtlid-Mail header and the metrics' ``mail`` label
    wording: dict[str, dict]      # "fr" and "en": subject, lead, after (list of paragraphs)
    code: bool = False            # the event carries ``code`` and ``expires_at``
    moment: str | None = None     # the event's RFC 3339 field the notice reports
    reference: str | None = None  # the event's field shown as a reference number
    language_field: str = "language"
    detail: str | None = None     # the event's field naming what happened: {detail} is the
                                  # wording's "details"[value] (an unknown value is undeliverable)
    items: str | None = None      # the event's list of ``<basis>:<action>+…`` (issue 22), one line
                                  # each after the lead: the wording's "item" with its "bases" and
                                  # "actions" words (an unknown basis or action is undeliverable)


MAILS: tuple[MailKind, ...] = (
    MailKind(
        event="email_verification_requested", purpose="confirm_email", code=True,
        wording={
            "fr": {"subject": "Votre code de confirmation – Mon compte Montréal",
                   "lead": "Voici le code pour confirmer votre adresse courriel dans Mon compte Montréal :",
                   "after": ["Entrez-le sur la page où vous l'avez demandé.",
                             "Vous n'avez rien demandé ? Ignorez ce message : rien ne change sans ce code."]},
            "en": {"subject": "Your confirmation code – Mon compte Montréal",
                   "lead": "Here is the code to confirm your email address in Mon compte Montréal:",
                   "after": ["Enter it on the page where you asked for it.",
                             "Didn't ask for anything? Ignore this message: nothing changes without this code."]},
        }),
    MailKind(
        event="password_reset_requested", purpose="reset_password", code=True,
        wording={
            "fr": {"subject": "Votre code pour choisir un mot de passe – Mon compte Montréal",
                   "lead": "Voici le code pour choisir un nouveau mot de passe dans Mon compte Montréal :",
                   "after": ["Entrez-le sur la page « Mot de passe oublié » où vous l'avez demandé.",
                             "Vous n'avez rien demandé ? Ignorez ce message : rien ne change sans ce code."]},
            "en": {"subject": "Your code to choose a password – Mon compte Montréal",
                   "lead": "Here is the code to choose a new password in Mon compte Montréal:",
                   "after": ["Enter it on the “Forgotten password” page where you asked for it.",
                             "Didn't ask for anything? Ignore this message: nothing changes without this code."]},
        }),
    # Issue 20: someone tried to sign up with the address of an existing account. The owner
    # learns it, and the way back in, without the sign-up page telling anyone.
    MailKind(
        event="account_exists_notice_requested", purpose="account_exists",
        wording={
            "fr": {"subject": "Vous avez déjà un compte – Mon compte Montréal",
                   "lead": "Quelqu'un vient de demander la création d'un compte Mon compte Montréal avec "
                           "votre adresse courriel. Vous avez déjà un compte avec cette adresse : "
                           "aucun autre compte n'a été créé.",
                   "after": ["Pour y accéder, ouvrez une session dans Mon compte Montréal avec cette adresse. "
                             "Mot de passe oublié ? Choisissez « Mot de passe oublié » sur la page de connexion.",
                             "Ce n'était pas vous ? Vous n'avez rien à faire : votre compte ne change pas."]},
            "en": {"subject": "You already have an account – Mon compte Montréal",
                   "lead": "Someone just asked to create a Mon compte Montréal account with your email "
                           "address. You already have an account with this address: no other account "
                           "was created.",
                   "after": ["To use it, sign in to Mon compte Montréal with this address. Forgotten your "
                             "password? Choose “Forgotten password” on the sign-in page.",
                             "Wasn't you? There is nothing to do: your account does not change."]},
        }),
    # Issue 21: a code to the NEW address, to make it the sign-in address.
    MailKind(
        event="email_change_requested", purpose="confirm_new_email", code=True,
        wording={
            "fr": {"subject": "Votre code pour changer d'adresse courriel – Mon compte Montréal",
                   "lead": "Voici le code pour faire de cette adresse votre adresse de connexion "
                           "à Mon compte Montréal :",
                   "after": ["Entrez-le sur la page « Adresse courriel » de Mon compte où vous l'avez demandé.",
                             "Vous n'avez rien demandé ? Ignorez ce message : aucune adresse ne change "
                             "sans ce code."]},
            "en": {"subject": "Your code to change your email address – Mon compte Montréal",
                   "lead": "Here is the code to make this address your sign-in address for "
                           "Mon compte Montréal:",
                   "after": ["Enter it on the “Email address” page of Mon compte where you asked for it.",
                             "Didn't ask for anything? Ignore this message: no address changes without "
                             "this code."]},
        }),
    # Issue 21: a notice to the OLD address once the change is made (not the new address).
    MailKind(
        event="email_changed_notice", purpose="email_changed_notice", moment="changed_at",
        wording={
            "fr": {"subject": "Votre adresse de connexion a changé – Mon compte Montréal",
                   "lead": "L'adresse courriel de connexion de votre compte Mon compte Montréal a été "
                           "remplacée le {date} à {time} (heure de Montréal). Les messages de la Ville "
                           "iront désormais à la nouvelle adresse.",
                   "after": ["C'était vous ? Vous n'avez rien à faire.",
                             "Ce n'était pas vous ? Appelez le 311 dès que possible : un agent vous aidera "
                             "à reprendre votre compte."]},
            "en": {"subject": "Your sign-in address changed – Mon compte Montréal",
                   "lead": "The sign-in email address of your Mon compte Montréal account was replaced "
                           "on {date} at {time} (Montréal time). The City's messages will now go to the "
                           "new address.",
                   "after": ["Was it you? There is nothing to do.",
                             "Wasn't you? Call 311 as soon as possible: an agent will help you take your "
                             "account back."]},
        }),
    # Issue 21: the closure's receipt, to the account's address.
    MailKind(
        event="account_closed_notice", purpose="account_closed_notice", moment="closed_at",
        reference="closure_id", language_field="preferred_language",
        wording={
            "fr": {"subject": "Votre compte est fermé – Mon compte Montréal",
                   "lead": "Votre compte Mon compte Montréal a été fermé à votre demande le {date} à {time} "
                           "(heure de Montréal). Numéro de confirmation : {reference}.",
                   "after": ["Vos sessions sont terminées et les services liés ont été prévenus.",
                             "Pour le rouvrir, présentez-vous à un bureau Accès Montréal avec une pièce "
                             "d'identité (le 311 vous indique le plus proche).",
                             "Ce n'était pas vous ? Appelez le 311 en donnant ce numéro."]},
            "en": {"subject": "Your account is closed – Mon compte Montréal",
                   "lead": "Your Mon compte Montréal account was closed at your request on {date} at {time} "
                           "(Montréal time). Confirmation number: {reference}.",
                   "after": ["Your sessions have ended and the linked services have been told.",
                             "To reopen it, go to an Accès Montréal office with an identity document "
                             "(311 tells you the nearest one).",
                             "Wasn't you? Call 311 and give this number."]},
        }),
)

# Issue 20: security notices for factor changes (NIST SP 800-63B s. 6.1.2.3 and 6.1.4). What
# changed and when; never the factor, a code or a key's name. No link: the way out of
# "it was not me" is the password page the resident already knows, and 311.
_NOT_YOU_FR = ("Ce n'était pas vous ? Changez votre mot de passe dans Mon compte Montréal dès maintenant "
               "(ou choisissez « Mot de passe oublié » sur la page de connexion), puis appelez le 311 : "
               "un agent vous aidera à reprendre votre compte.")
_NOT_YOU_EN = ("Wasn't you? Change your password in Mon compte Montréal now (or choose “Forgotten "
               "password” on the sign-in page), then call 311: an agent will help you take your account back.")

MAILS += (
    MailKind(
        event="second_factor_changed_notice", purpose="second_factor_changed_notice", moment="changed_at",
        detail="change",
        wording={
            "fr": {"subject": "Votre vérification en deux étapes a changé – Mon compte Montréal",
                   "lead": "Le {date} à {time} (heure de Montréal), dans votre compte Mon compte Montréal : {detail}",
                   "details": {
                       "totp_added": "la vérification en deux étapes par application a été activée.",
                       "totp_replaced": "l'application de vérification en deux étapes a été remplacée "
                                        "par une nouvelle.",
                       "totp_removed": "la vérification en deux étapes par application a été désactivée, "
                                       "et vos codes de récupération ont été supprimés.",
                       "recovery_codes_renewed": "de nouveaux codes de récupération ont été créés ; "
                                                 "les anciens ne fonctionnent plus.",
                       "recovery_code_used": "un code de récupération a servi à ouvrir une session.",
                       "counter_reset": "un agent de la Ville a désactivé votre deuxième étape "
                                        "(application et clés d'accès) après avoir vérifié votre identité, "
                                        "et toutes vos sessions ont été fermées."},
                   "after": ["C'était vous ? Vous n'avez rien à faire.", _NOT_YOU_FR]},
            "en": {"subject": "Your two-step verification changed – Mon compte Montréal",
                   "lead": "On {date} at {time} (Montréal time), in your Mon compte Montréal account: {detail}",
                   "details": {
                       "totp_added": "two-step verification with an app was turned on.",
                       "totp_replaced": "the two-step verification app was replaced with a new one.",
                       "totp_removed": "two-step verification with an app was turned off, and your "
                                       "recovery codes were deleted.",
                       "recovery_codes_renewed": "new recovery codes were created; the old ones no longer work.",
                       "recovery_code_used": "a recovery code was used to sign in.",
                       "counter_reset": "a City agent turned off your second step (app and passkeys) after "
                                        "checking your identity, and all your sessions were ended."},
                   "after": ["Was it you? There is nothing to do.", _NOT_YOU_EN]},
        }),
    MailKind(
        event="passkey_added_notice", purpose="passkey_added_notice", moment="added_at",
        wording={
            "fr": {"subject": "Une clé d'accès a été ajoutée – Mon compte Montréal",
                   "lead": "Une clé d'accès a été ajoutée à votre compte Mon compte Montréal le {date} à {time} "
                           "(heure de Montréal). Elle permet d'ouvrir une session sans mot de passe.",
                   "after": ["C'était vous ? Vous n'avez rien à faire.", _NOT_YOU_FR]},
            "en": {"subject": "A passkey was added – Mon compte Montréal",
                   "lead": "A passkey was added to your Mon compte Montréal account on {date} at {time} "
                           "(Montréal time). It can sign in without a password.",
                   "after": ["Was it you? There is nothing to do.", _NOT_YOU_EN]},
        }),
    MailKind(
        event="passkey_removed_notice", purpose="passkey_removed_notice", moment="removed_at",
        wording={
            "fr": {"subject": "Une clé d'accès a été retirée – Mon compte Montréal",
                   "lead": "Une clé d'accès a été retirée de votre compte Mon compte Montréal le {date} à {time} "
                           "(heure de Montréal). Elle ne permet plus d'ouvrir une session.",
                   "after": ["C'était vous ? Vous n'avez rien à faire.", _NOT_YOU_FR]},
            "en": {"subject": "A passkey was removed – Mon compte Montréal",
                   "lead": "A passkey was removed from your Mon compte Montréal account on {date} at {time} "
                           "(Montréal time). It can no longer sign in.",
                   "after": ["Was it you? There is nothing to do.", _NOT_YOU_EN]},
        }),
)

# Issue 22 (Law 25): a minor with an account turned 14. From that day they consent alone; the
# mandates that concern them are listed (bases and what each still covers: no one's name), and
# where to see them with what was done. No link, as every mail here: the page is named.
_MANDATE_WORDS = {
    "fr": {"bases": {"parental_authority": "Autorité parentale", "tutorship_minor": "Tutelle"},
           "actions": {"view": "consulter", "request": "faire des demandes", "pay": "payer",
                       "consent": "consentir"},
           "item": "{basis} — peut encore, pour vous : {actions}", "none": "plus rien", "and": ", "},
    "en": {"bases": {"parental_authority": "Parental authority", "tutorship_minor": "Tutorship"},
           "actions": {"view": "view", "request": "make requests", "pay": "pay", "consent": "consent"},
           "item": "{basis} — may still, for you: {actions}", "none": "nothing more", "and": ", "},
}

MAILS += (
    MailKind(
        event="mandates_at_fourteen_notice", purpose="mandates_at_fourteen_notice", moment="turned_14_at",
        items="mandates",
        wording={
            "fr": {"subject": "Vous avez 14 ans : vos procurations – Mon compte Montréal",
                   "lead": "Depuis le {date}, vous avez 14 ans : vous donnez et retirez vous-même vos "
                           "consentements à l'utilisation de vos renseignements personnels. Les personnes qui "
                           "vous représentent ne peuvent plus consentir pour vous. Les procurations qui vous "
                           "concernent :",
                   "after": ["Pour les voir, avec tout ce qui a été fait en votre nom, ouvrez une session dans "
                             "Mon compte Montréal et choisissez « Mes procurations ».",
                             "Une question ? Appelez le 311 ou présentez-vous à un bureau Accès Montréal."],
                   **_MANDATE_WORDS["fr"]},
            "en": {"subject": "You are 14: your mandates – Mon compte Montréal",
                   "lead": "Since {date}, you are 14: you give and withdraw your own consents to the use of "
                           "your personal information. The people who represent you can no longer consent for "
                           "you. The mandates that concern you:",
                   "after": ["To see them, with everything done on your behalf, sign in to Mon compte Montréal "
                             "and choose “Mes procurations” (My mandates).",
                             "Questions? Call 311 or visit an Accès Montréal office."],
                   **_MANDATE_WORDS["en"]},
        }),
)

COMMON = {
    "fr": {"greeting": "Bonjour,",
           "expires": "Il est valide jusqu'à {time} (heure de Montréal), le {date}.",
           "never_code": "La Ville ne vous demandera jamais votre mot de passe ni ce code par courriel "
                         "ou par téléphone.",
           "never": "La Ville ne vous demandera jamais votre mot de passe par courriel ou par téléphone.",
           "signature": "Ville de Montréal – Mon compte Montréal",
           "english_follows": "English follows."},
    "en": {"greeting": "Hello,",
           "expires": "It is valid until {time} (Montréal time) on {date}.",
           "never_code": "The City will never ask for your password or this code by email or phone.",
           "never": "The City will never ask for your password by email or phone.",
           "signature": "City of Montréal – Mon compte Montréal",
           "english_follows": ""},
}
