"""Email over SMTP: multipart text and HTML, Message-ID and Date, STARTTLS and login.

SMTP reply codes decide recoverability (RFC 5321): 4xx is transient, 5xx permanent. A refused
connection or a dropped session is transient. ``smtplib`` reports recipients refused while others
were accepted, and each is recorded on its own outbox row.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from kpitree.delivery.channels import DeliveryFailure, Outgoing, Refusal, Sent
from kpitree.delivery.settings import SmtpSettings


def build_email(message: Outgoing, sender: str) -> EmailMessage:
    if "\r" in message.subject or "\n" in message.subject:
        raise DeliveryFailure("the subject contains a line break", recoverable=False)
    email = EmailMessage()
    email["From"] = sender
    email["To"] = ", ".join(message.to or message.recipients)
    if message.cc:
        email["Cc"] = ", ".join(message.cc)
    email["Subject"] = message.subject
    email["Date"] = formatdate(usegmt=True)
    if message.message_id:
        email["Message-ID"] = message.message_id
    email.set_content(message.text)
    if message.html is not None:
        email.add_alternative(message.html, subtype="html")
    return email


class SmtpChannel:
    name = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, message: Outgoing) -> Sent:
        settings = self.settings
        email = build_email(message, settings.sender)
        try:
            with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
                if settings.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.username:
                    smtp.login(settings.username, settings.password or "")
                refused = smtp.send_message(email, settings.sender, list(message.recipients))
        except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused
            return Sent(refused={rcpt: _refusal(code, text) for rcpt, (code, text) in exc.recipients.items()})
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailure(
                f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}", recoverable=400 <= exc.smtp_code < 500
            ) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused or dropped connection, timeout
            raise DeliveryFailure(
                f"SMTP connection to {settings.host}:{settings.port}: {exc}", recoverable=True
            ) from None
        where = f"{settings.host}:{settings.port}"
        return Sent(refused={rcpt: _refusal(code, text) for rcpt, (code, text) in refused.items()}, where=where)


def _refusal(code: int, text: bytes | str) -> Refusal:
    return Refusal(f"SMTP {code}: {_text(text)}", recoverable=400 <= code < 500)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
