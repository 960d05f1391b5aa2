"""``ads-actions send-mail``: one plain-text mail through the configured SMTP server.

The demo script mails the events it receives this way (as the vendor's demo script uses its PHP
CLI). The body is ``--body`` followed by whatever arrives on stdin (unless stdin is a terminal).

Exit status: 0 sent; 1 not sent (the SMTP server or the connection failed; the message says
which); 2 invalid input (a recipient that is not one address, a subject or address with a line
break: headers are built by ``email.message.EmailMessage`` with the default policy, which
refuses them, so nothing can inject a header).
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import BinaryIO

import click

from sinks.smtp_send import MailNotSent, send_messages

from .config import Settings

EXIT_NOT_SENT = 1
EXIT_INVALID = 2


class InvalidMail(ValueError):
    pass


def recipient_address(value: str) -> str:
    """The address of one ``--to`` value (``soc@example.org`` or ``SOC <soc@example.org>``)."""
    probe = EmailMessage()
    try:
        probe["To"] = value
    except ValueError as exc:
        raise InvalidMail(f"--to {value!r}: {exc}") from None
    addresses = probe["To"].addresses
    if len(addresses) != 1 or probe["To"].defects or not addresses[0].domain:
        raise InvalidMail(f"--to {value!r}: expected one address such as soc@example.org")
    return addresses[0].addr_spec


def build_mail(from_address: str, recipients: list[str], subject: str, body: str) -> EmailMessage:
    """A plain-text UTF-8 message; raises InvalidMail for a header value that is not safe."""
    message = EmailMessage()
    for header, value in (("From", from_address), ("To", ", ".join(recipients)), ("Subject", subject)):
        try:
            message[header] = value
        except ValueError as exc:
            raise InvalidMail(f"{header}: {exc}") from None
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or "localhost")
    message.set_content(body)
    return message


def mail_body(text: str, stdin: BinaryIO | None) -> str:
    """``text``, then a blank line and stdin's content when there is any."""
    piped = stdin.read().decode("utf-8", errors="replace") if stdin is not None else ""
    return "\n\n".join(part for part in (text, piped) if part)


def send_mail_command(settings: Settings, to: list[str], subject: str, text: str, stdin: BinaryIO | None) -> int:
    """Build and send the mail; prints what happened on stderr and returns the exit status."""
    try:
        recipients = [recipient_address(value) for value in to]
        message = build_mail(settings.smtp.from_address, recipients, subject, mail_body(text, stdin))
    except InvalidMail as exc:
        click.echo(f"send-mail: {exc}", err=True)
        return EXIT_INVALID
    try:
        asyncio.run(send_messages(settings.smtp, [message]))
    except MailNotSent as exc:
        click.echo(f"send-mail: mail not sent ({exc.reason}): {exc.detail}", err=True)
        return EXIT_NOT_SENT
    click.echo(f"send-mail: sent to {', '.join(recipients)} through {settings.smtp.host}:"
               f"{settings.smtp.effective_port}", err=True)
    return 0
