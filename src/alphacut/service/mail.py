"""Outgoing mail (verification and reset links): SMTP when configured, else the server log.

With no SMTP host the message is written to the log, clearly marked, so a developer
(or an operator without a mail relay) can still follow the link.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal, Protocol

from alphacut.errors import MailUnavailable

log = logging.getLogger("alphacut.mail")

TlsMode = Literal["none", "starttls", "ssl"]


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    def send(self, mail: Mail) -> None:
        """Deliver one message; raises MailUnavailable when it cannot."""
        ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: TlsMode
    user: str | None
    password: str | None
    sender: str
    timeout_s: float


class SmtpMailer:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, mail: Mail) -> None:
        message = _message(self.config.sender, mail)
        try:
            with self._connect() as smtp:
                if self.config.user:
                    smtp.login(self.config.user, self.config.password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            log.error("mail to %s failed: %s", mail.to, exc)
            raise MailUnavailable() from exc

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        if config.tls == "ssl":
            return smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
        if config.tls == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp


class LogMailer:
    """No SMTP configured: the message goes to the log, at WARNING, marked."""

    def send(self, mail: Mail) -> None:
        log.warning("MAIL NOT SENT (no ALPHACUT_SMTP_HOST): to=%s subject=%r\n"
                    "----- message -----\n%s\n----- end of message -----",
                    mail.to, mail.subject, mail.body)


def build_mailer(config: SmtpConfig | None) -> Mailer:
    return SmtpMailer(config) if config is not None else LogMailer()


def _message(sender: str, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    message.set_content(mail.body)
    return message
