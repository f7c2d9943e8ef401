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

from kpitree.addresses import email_problem
from kpitree.delivery.channels import DeliveryFailure, Outgoing, Refusal, Sent
from kpitree.delivery.settings import SmtpSettings


def build_email(message: Outgoing, sender: str) -> EmailMessage:
    """The message, with only valid addresses in its headers (an invalid one is refused on its
    own row by :meth:`SmtpChannel.send`, never written into a header)."""
    if "\r" in message.subject or "\n" in message.subject:
        raise DeliveryFailure("the subject contains a line break", recoverable=False)
    email = EmailMessage()
    email["From"] = sender
    email["To"] = ", ".join(_valid(message.to or message.recipients))
    if _valid(message.cc):
        email["Cc"] = ", ".join(_valid(message.cc))
    email["Subject"] = message.subject
    email["Date"] = formatdate(usegmt=True)
    if message.message_id:
        email["Message-ID"] = message.message_id
    email.set_content(message.text)
    if message.html is not None:
        email.add_alternative(message.html, subtype="html")
    if message.attachment is not None:
        name, text = message.attachment
        email.add_attachment(text, subtype="csv", filename=name)
    return email


def _valid(addresses: tuple[str, ...]) -> list[str]:
    return [address for address in addresses if email_problem(address) is None]


class SmtpChannel:
    name = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.settings.password,) if self.settings.password else ()

    def send(self, message: Outgoing) -> Sent:
        invalid = {rcpt: problem for rcpt in message.recipients if (problem := email_problem(rcpt))}
        refused_here = {
            rcpt: Refusal(f"not a valid email address: {problem}", recoverable=False)
            for rcpt, problem in invalid.items()
        }
        recipients = [rcpt for rcpt in message.recipients if rcpt not in invalid]
        if not recipients:
            return Sent(refused=refused_here)
        sent = self._send(message, recipients)
        return Sent(refused={**refused_here, **sent.refused}, where=sent.where)

    def _send(self, message: Outgoing, recipients: list[str]) -> Sent:
        settings = self.settings
        try:
            email = build_email(message, settings.sender)
        except (ValueError, TypeError, UnicodeError) as exc:  # a header the email package refuses
            raise DeliveryFailure(f"cannot build the email: {exc}", recoverable=False) from None
        try:
            with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
                if settings.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.username:
                    smtp.login(settings.username, settings.password or "")
                refused = smtp.send_message(email, settings.sender, recipients)
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
