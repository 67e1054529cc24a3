"""Where a rendered message goes: the city's SMTP relay (production), or a Maildir under
``var/`` (development, read by ``mtlid mailbox``).

Failures are sorted once, here: ``TemporaryDeliveryFailure`` (the relay is down, busy, says
4xx, refuses our credentials or our TLS: retried with backoff, the mail waits) and
``PermanentDeliveryFailure`` (the relay refuses this recipient or this message with a 5xx
reply, RFC 5321 s. 4.2.1: sending it again would be refused again; it goes to the dead-letter
path, the mailer's dead-letter stream). Neither carries the address or the code, only the
SMTP reply code.
"""

from __future__ import annotations

import asyncio
import mailbox
import pathlib
import ssl
from email.message import EmailMessage

import aiosmtplib

from services.common.consumer import PermanentFailure
from services.mailer.config import MailerSettings


class TemporaryDeliveryFailure(Exception):
    """Sending failed in a way that may pass: retry later."""


class PermanentDeliveryFailure(PermanentFailure):
    """This message will never be accepted as it is: dead-letter it, do not retry.

    A ``PermanentFailure`` of the common consumer: the event goes to the mailer's dead-letter
    stream at once. ``reason``: RECIPIENT_REFUSED, MESSAGE_REFUSED or NOT_A_MAIL."""


class SmtpRelay:
    """SMTP submission with STARTTLS (RFC 3207) or implicit TLS (RFC 8314) and AUTH
    (RFC 4954), through aiosmtplib. The relay's certificate is verified (against
    ``MTLID_SMTP_CA_FILE`` when given, else the system's store); with ``starttls`` a relay
    that does not offer STARTTLS is refused rather than spoken to in clear."""

    def __init__(self, settings: MailerSettings, *, timeout: float = 20.0) -> None:
        assert settings.smtp_host
        self.settings = settings
        self.timeout = timeout
        self._tls_context = None
        if settings.smtp_tls != "none":
            self._tls_context = ssl.create_default_context(
                cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None)

    async def send(self, message: EmailMessage) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                message, hostname=s.smtp_host, port=s.smtp_port,
                username=s.smtp_username, password=s.smtp_password,
                use_tls=s.smtp_tls == "tls", start_tls=True if s.smtp_tls == "starttls" else False,
                tls_context=self._tls_context, timeout=self.timeout)
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = sorted({refusal.code for refusal in error.recipients})
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryFailure("RECIPIENT_REFUSED", f"recipient refused ({codes})") from None
            raise TemporaryDeliveryFailure(f"recipient deferred ({codes})") from None
        except aiosmtplib.SMTPDataError as error:
            if error.code >= 500:
                raise PermanentDeliveryFailure("MESSAGE_REFUSED", f"message refused ({error.code})") from None
            raise TemporaryDeliveryFailure(f"message deferred ({error.code})") from None
        except aiosmtplib.SMTPResponseException as error:
            # Sender refused, authentication refused, 4xx: our configuration or the relay's
            # state, the same for every mail; keep the mail and let an operator see the alert.
            raise TemporaryDeliveryFailure(f"relay replied {error.code}") from None
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError, ssl.SSLError) as error:
            raise TemporaryDeliveryFailure(f"relay unreachable ({type(error).__name__})") from None


class MaildirDrop:
    """Development: each message becomes a file in a Maildir (``var/mailbox``), which any mail
    client can open and ``mtlid mailbox`` prints. Nothing leaves the machine."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = pathlib.Path(directory)

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._store, message)

    def _store(self, message: EmailMessage) -> None:
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(self.directory, create=True).add(message)


def sender_for(settings: MailerSettings):
    return SmtpRelay(settings) if settings.smtp_host else MaildirDrop(settings.mailbox_dir)
