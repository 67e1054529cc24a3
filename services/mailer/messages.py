"""What the mailer sends: one ``MailRequest`` per mail event, rendered as a bilingual message.

Two events are mail (docs/contracts.md): ``email_verification_requested`` (confirm an
address) and ``password_reset_requested`` (a forgotten password, or the first one of a
resident enrolled at a counter). They carry the address, the code and its expiry, and the
resident's language.

Language: the City of Montréal writes to residents in French (Charter of the French
language, s. 16 and 22, as amended by Bill 96); a resident who chose English gets the
English version after the French one, in the same message. No links and no images: a code
mail asks for nothing but typing the code where the resident started, which is also what
tells a resident that a mail asking them to click is not ours; no remote content means no
tracking.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
import re
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from zoneinfo import ZoneInfo

import jinja2

from services.common.events import CloudEvent

MONTREAL = ZoneInfo("America/Montreal")
PURPOSES = {"email_verification_requested": "confirm_email", "password_reset_requested": "reset_password"}
SUBJECTS = tuple(f"montreal.identity.v1.{name}" for name in PURPOSES)
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")

WORDING = {
    "confirm_email": {
        "fr": {"subject": "Votre code de confirmation – Mon compte Montréal",
               "greeting": "Bonjour,",
               "lead": "Voici le code pour confirmer votre adresse courriel dans Mon compte Montréal :",
               "where": "Entrez-le sur la page où vous l'avez demandé."},
        "en": {"subject": "Your confirmation code – Mon compte Montréal",
               "greeting": "Hello,",
               "lead": "Here is the code to confirm your email address in Mon compte Montréal:",
               "where": "Enter it on the page where you asked for it."},
    },
    "reset_password": {
        "fr": {"subject": "Votre code pour choisir un mot de passe – Mon compte Montréal",
               "greeting": "Bonjour,",
               "lead": "Voici le code pour choisir un nouveau mot de passe dans Mon compte Montréal :",
               "where": "Entrez-le sur la page « Mot de passe oublié » où vous l'avez demandé."},
        "en": {"subject": "Your code to choose a password – Mon compte Montréal",
               "greeting": "Hello,",
               "lead": "Here is the code to choose a new password in Mon compte Montréal:",
               "where": "Enter it on the “Forgotten password” page where you asked for it."},
    },
}
COMMON = {
    "fr": {"expires": "Il est valide jusqu'à {time} (heure de Montréal), le {date}.",
           "not_you": "Vous n'avez rien demandé ? Ignorez ce message : rien ne change sans ce code.",
           "never": "La Ville ne vous demandera jamais votre mot de passe ni ce code par courriel ou par téléphone.",
           "signature": "Ville de Montréal – Mon compte Montréal",
           "english_follows": "English follows."},
    "en": {"expires": "It is valid until {time} (Montréal time) on {date}.",
           "not_you": "Didn't ask for anything? Ignore this message: nothing changes without this code.",
           "never": "The City will never ask for your password or this code by email or phone.",
           "signature": "City of Montréal – Mon compte Montréal"},
}


class UndeliverableMail(ValueError):
    """The event cannot become a mail (a field missing or malformed): retrying will not help."""


@dataclasses.dataclass(frozen=True)
class MailRequest:
    event_id: str
    purpose: str                 # "confirm_email" | "reset_password"
    to: str
    code: str
    expires_at: dt.datetime      # aware, UTC
    language: str                # "fr" | "en"

    @classmethod
    def from_event(cls, event: CloudEvent) -> "MailRequest":
        name = event.type.rsplit(".", 1)[-1]
        purpose = PURPOSES.get(name)
        if purpose is None:
            raise UndeliverableMail(f"not a mail event: {name}")
        data = event.data if isinstance(event.data, dict) else {}
        to, code, expires = data.get("email"), data.get("code"), data.get("expires_at")
        if not isinstance(to, str) or not _ADDRESS.match(to) or parseaddr(to)[1] != to:
            raise UndeliverableMail("email: not a mail address")
        if not isinstance(code, str) or not code.isdigit():
            raise UndeliverableMail("code: missing or not digits")
        try:
            expires_at = dt.datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
        except ValueError:
            raise UndeliverableMail("expires_at: not an RFC 3339 time") from None
        if expires_at.tzinfo is None:
            raise UndeliverableMail("expires_at: no time zone")
        language = data.get("language") if data.get("language") in ("fr", "en") else "fr"
        return cls(event.id, purpose, to, code, expires_at, language)

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.expires_at

    @property
    def languages(self) -> tuple[str, ...]:
        return ("fr", "en") if self.language == "en" else ("fr",)


_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(pathlib.Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _sections(request: MailRequest) -> list[dict[str, str]]:
    local = request.expires_at.astimezone(MONTREAL)
    sections = []
    for language in request.languages:
        time = local.strftime("%H h %M") if language == "fr" else local.strftime("%I:%M %p").lstrip("0")
        date = local.strftime("%Y-%m-%d")
        sections.append({"lang": language, **WORDING[request.purpose][language], **COMMON[language],
                         "expires": COMMON[language]["expires"].format(time=time, date=date)})
    return sections


def render(request: MailRequest, *, sender: str, now: dt.datetime) -> EmailMessage:
    """The message, plain text first and HTML as its alternative (RFC 2046 s. 5.1.4)."""
    sections = _sections(request)
    subject = " / ".join(section["subject"] for section in sections)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = request.to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    # The event id makes the Message-ID: a redelivered event is the same message, which
    # receiving systems and mail clients recognise as a duplicate (RFC 5322 s. 3.6.4).
    domain = parseaddr(sender)[1].rsplit("@", 1)[-1]
    message["Message-ID"] = f"<{request.event_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to this
    message["X-Mtlid-Mail"] = request.purpose     # what the development mailbox shows
    context = {"sections": sections, "code": request.code, "subject": subject, "lang": request.languages[0]}
    message.set_content(_templates.get_template("code.txt").render(context))
    message.add_alternative(_templates.get_template("code.html").render(context), subtype="html")
    # After the content: setting the content clears every Content-* header.
    message["Content-Language"] = ", ".join(request.languages)  # RFC 3282
    return message
