"""service/mail.py: the log when no SMTP host is set; real SMTP into the aiosmtpd sink."""

from __future__ import annotations

import logging

import pytest

from alphacut.errors import MailUnavailable
from alphacut.service.mail import LogMailer, Mail, SmtpConfig, SmtpMailer
from tests.web.conftest import free_port
from tests.webapp.conftest import Sink

MAIL = Mail("ann@example.com", "Confirm", "open https://cut.example/verify?token=abc\n")


def config(port: int) -> SmtpConfig:
    return SmtpConfig("127.0.0.1", port, "none", None, None, "alphacut <no-reply@cut.example>",
                      5.0)


def test_without_smtp_the_link_goes_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="alphacut.mail"):
        LogMailer().send(MAIL)
    text = caplog.text
    assert "MAIL NOT SENT (no ALPHACUT_SMTP_HOST)" in text
    assert "https://cut.example/verify?token=abc" in text and "ann@example.com" in text


def test_smtp_delivers(smtp_sink: Sink) -> None:
    SmtpMailer(config(smtp_sink.port)).send(MAIL)
    received = smtp_sink.to("ann@example.com")[-1]
    assert received["Subject"] == "Confirm"
    assert received["From"] == "alphacut <no-reply@cut.example>"
    assert received["Message-ID"] and received["Date"]


def test_an_unreachable_server_is_a_503() -> None:
    with pytest.raises(MailUnavailable) as refused:
        SmtpMailer(config(free_port())).send(MAIL)
    assert refused.value.status == 503
