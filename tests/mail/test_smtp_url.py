"""TENKU_SMTP_URL as the operator writes it."""

from __future__ import annotations

import pytest

from tenku.mail import SmtpTarget


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SmtpTarget("mail.example.com", 25)),
        ("smtp://127.0.0.1:2525", SmtpTarget("127.0.0.1", 2525)),
        ("smtps://mail.example.com", SmtpTarget("mail.example.com", 465, implicit_tls=True)),
        (
            "smtp://me%40example.com:p%3Ass@mail.example.com:587?starttls=1",
            SmtpTarget("mail.example.com", 587, False, True, "me@example.com", "p:ss"),
        ),
        ("SMTP://[::1]:25?starttls=0", SmtpTarget("::1", 25)),
    ],
)
def test_urls_are_read(url: str, expected: SmtpTarget) -> None:
    assert SmtpTarget.parse(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.com",
        "mail.example.com:25",
        "smtp://",
        "smtp://mail.example.com:99999",
        "smtp://mail.example.com?tls=1",
        "smtp://mail.example.com?starttls=maybe",
        "smtps://mail.example.com?starttls=1",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="TENKU_SMTP_URL"):
        SmtpTarget.parse(url)


def test_the_password_never_shows() -> None:
    target = SmtpTarget.parse("smtp://me:secret@mail.example.com:587?starttls=1")
    assert str(target) == "smtp://me@mail.example.com:587?starttls=1"
    assert "secret" not in repr(target)
