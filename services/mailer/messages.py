"""What the mailer sends: one ``MailRequest`` per mail event, rendered as a bilingual message.

The mail events and their wording are the registry ``MAILS`` (services/mailer/mails.py):
adding a mail is one ``MailKind`` there. A kind says which fields its event carries (a code
and its expiry, a moment, a reference), and its words in French and English; this module
checks the event against it and renders it with the two templates every mail shares.

Language: the City of Montréal writes to residents in French (Charter of the French
language, s. 16 and 22, as amended by Bill 96); a resident who chose English gets the
English version after the French one, in the same message. No links and no images: a mail
asks for nothing but typing a code where the resident started (or calling 311), which is
also what tells a resident that a mail asking them to click is not ours; no remote content
means no tracking.
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
from services.mailer.mails import COMMON, MAILS, MailKind

MONTREAL = ZoneInfo("America/Montreal")
BY_EVENT: dict[str, MailKind] = {kind.event: kind for kind in MAILS}
PURPOSES = {kind.event: kind.purpose for kind in MAILS}
SUBJECTS = tuple(f"montreal.identity.v1.{kind.event}" for kind in MAILS)
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_REFERENCE = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class UndeliverableMail(ValueError):
    """The event cannot become a mail (a field missing or malformed): retrying will not help."""


def _moment(data: dict, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(str(data.get(name)).replace("Z", "+00:00"))
    except ValueError:
        raise UndeliverableMail(f"{name}: not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise UndeliverableMail(f"{name}: no time zone")
    return moment


@dataclasses.dataclass(frozen=True)
class MailRequest:
    event_id: str
    kind: MailKind
    to: str
    language: str                          # "fr" | "en"
    code: str | None = None
    expires_at: dt.datetime | None = None  # aware, UTC; with the code
    moment: dt.datetime | None = None      # what the notice reports the time of (kind.moment)
    reference: str | None = None           # e.g. the closure's receipt number (kind.reference)
    detail: str | None = None              # what happened (kind.detail): a key of the wording's details
    items: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (basis, actions) per line (kind.items)

    @property
    def purpose(self) -> str:
        return self.kind.purpose

    @classmethod
    def from_event(cls, event: CloudEvent) -> "MailRequest":
        kind = BY_EVENT.get(event.type.rsplit(".", 1)[-1])
        if kind is None:
            raise UndeliverableMail(f"not a mail event: {event.type.rsplit('.', 1)[-1]}")
        data = event.data if isinstance(event.data, dict) else {}
        to = data.get("email")
        if not isinstance(to, str) or not _ADDRESS.match(to) or parseaddr(to)[1] != to:
            raise UndeliverableMail("email: not a mail address")
        code = expires_at = moment = reference = None
        if kind.code:
            code = data.get("code")
            if not isinstance(code, str) or not code.isdigit():
                raise UndeliverableMail("code: missing or not digits")
            expires_at = _moment(data, "expires_at")
        if kind.moment:
            moment = _moment(data, kind.moment)
        if kind.reference:
            reference = data.get(kind.reference)
            if not isinstance(reference, str) or not _REFERENCE.match(reference):
                raise UndeliverableMail(f"{kind.reference}: missing or malformed")
        detail = None
        if kind.detail:
            detail = data.get(kind.detail)
            if not isinstance(detail, str) or any(detail not in kind.wording[lang]["details"] for lang in ("fr", "en")):
                raise UndeliverableMail(f"{kind.detail}: missing or unknown")
        items = ()
        if kind.items:
            raw = data.get(kind.items)
            words = kind.wording["fr"]
            if not isinstance(raw, list) or not raw:
                raise UndeliverableMail(f"{kind.items}: missing")
            parsed = []
            for item in raw:
                basis, _, actions = str(item).partition(":")
                acts = tuple(a for a in actions.split("+") if a)
                if basis not in words["bases"] or any(a not in words["actions"] for a in acts):
                    raise UndeliverableMail(f"{kind.items}: an unknown basis or action")
                parsed.append((basis, acts))
            items = tuple(parsed)
        language = data.get(kind.language_field)
        return cls(event.id, kind, to, language if language in ("fr", "en") else "fr",
                   code, expires_at, moment, reference, detail, items)

    def expired(self, now: dt.datetime) -> bool:
        """A code past its expiry is worth nothing: not sent (a notice never expires)."""
        return self.expires_at is not None and now >= self.expires_at

    @property
    def languages(self) -> tuple[str, ...]:
        return ("fr", "en") if self.language == "en" else ("fr",)


_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(pathlib.Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _when(moment: dt.datetime, language: str) -> dict[str, str]:
    local = moment.astimezone(MONTREAL)
    time = local.strftime("%H h %M") if language == "fr" else local.strftime("%I:%M %p").lstrip("0")
    return {"time": time, "date": local.strftime("%Y-%m-%d")}


def _sections(request: MailRequest) -> list[dict]:
    sections = []
    for language in request.languages:
        words, common = request.kind.wording[language], COMMON[language]
        values = {"reference": request.reference or "",
                  "detail": words["details"][request.detail] if request.detail else ""}
        if request.moment is not None:
            values.update(_when(request.moment, language))
        paragraphs = [line.format(**values) for line in words["after"]]
        if request.expires_at is not None:
            paragraphs.insert(1 if len(paragraphs) else 0,
                              common["expires"].format(**_when(request.expires_at, language)))
        items = [words["item"].format(basis=words["bases"][basis], actions=words["and"].join(
                     words["actions"][a] for a in actions) or words["none"]) for basis, actions in request.items]
        sections.append({"lang": language, "subject": words["subject"], "greeting": common["greeting"],
                         "lead": words["lead"].format(**values), "items": items, "paragraphs": paragraphs,
                         "never": common["never_code"] if request.code else common["never"],
                         "signature": common["signature"], "english_follows": common["english_follows"]})
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
    message.set_content(_templates.get_template("mail.txt").render(context))
    message.add_alternative(_templates.get_template("mail.html").render(context), subtype="html")
    # After the content: setting the content clears every Content-* header.
    message["Content-Language"] = ", ".join(request.languages)  # RFC 3282
    return message
