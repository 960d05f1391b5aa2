"""Sending mail through the configured SMTP server (``smtp:`` in the configuration).

``SmtpConnection`` opens one connection per the settings (plain, STARTTLS or implicit TLS, login
when a username is set) and sends ``EmailMessage`` objects over it; ``send-mail`` uses it, and so
can anything else that mails (reports). Every failure is a ``MailNotSent`` naming the server and
what went wrong; the password never appears in one, nor in a log.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from types import TracebackType
from typing import Self

import aiosmtplib

from streams.config import SmtpSettings

from .tls import client_ssl_context


class MailNotSent(Exception):
    """``reason``: a short code (connection_failed, timeout, tls, authentication, rejected,
    smtp_error); ``permanent``: the server refused for good (5xx), trying again cannot help."""

    def __init__(self, reason: str, detail: str, *, permanent: bool = False):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.permanent = permanent


def _not_sent(server: str, exc: BaseException) -> MailNotSent:
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return MailNotSent("authentication", f"{server}: login refused: {exc.code} {exc.message}", permanent=True)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return MailNotSent("rejected", f"{server}: recipients refused: {refused}",
                           permanent=all(r.code >= 500 for r in exc.recipients))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return MailNotSent("rejected", f"{server}: {exc.code} {exc.message}", permanent=exc.code >= 500)
    if isinstance(exc, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors too
        return MailNotSent("timeout", f"{server}: no answer in time ({exc})")
    if isinstance(exc, ssl.SSLError):
        return MailNotSent("tls", f"{server}: TLS failed: {exc}")
    if isinstance(exc, aiosmtplib.SMTPException):
        return MailNotSent("smtp_error", f"{server}: {exc}")
    return MailNotSent("connection_failed", f"{server}: cannot connect: {exc}")


class SmtpConnection:
    """``async with SmtpConnection(settings) as smtp: await smtp.send(message)``."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.server = f"{settings.host}:{settings.effective_port}"
        self._smtp: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> Self:
        settings = self.settings
        if settings.username and settings.password is None:
            raise MailNotSent("authentication", f"{self.server}: smtp.username is set but smtp.password is not",
                              permanent=True)
        try:
            context = client_ssl_context(settings.tls) if settings.security != "plain" else None
        except OSError as exc:  # ssl.SSLError is an OSError too
            raise MailNotSent("tls", f"{self.server}: cannot load the TLS files of smtp.tls: {exc}",
                              permanent=True) from None
        try:
            # Our own socket: aiosmtplib verifies the certificate against its `hostname`, which
            # is then free to be tls.server_name when the certificate names the server otherwise.
            sock = await asyncio.to_thread(socket.create_connection, (settings.host, settings.effective_port),
                                           settings.timeout)
        except OSError as exc:
            raise _not_sent(self.server, exc) from None
        smtp = aiosmtplib.SMTP(sock=sock, hostname=settings.tls.server_name or settings.host,
                               timeout=settings.timeout, use_tls=settings.security == "tls",
                               start_tls=settings.security == "starttls", tls_context=context)
        try:
            await smtp.connect()
            if settings.username and settings.password is not None:
                await smtp.login(settings.username, settings.password.get_secret_value())
        except (aiosmtplib.SMTPException, OSError) as exc:
            smtp.close()
            sock.close()
            raise _not_sent(self.server, exc) from None
        self._smtp = smtp
        return self

    async def send(self, message: EmailMessage, recipients: Sequence[str] | None = None) -> None:
        """Send one message, to ``recipients`` or else to its To, Cc and Bcc addresses."""
        assert self._smtp is not None, "send() outside `async with`"
        try:
            await self._smtp.send_message(message, recipients=recipients)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _not_sent(self.server, exc) from None

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        assert self._smtp is not None
        try:
            await self._smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            self._smtp.close()  # the messages are sent; a failed goodbye loses nothing
        self._smtp = None


async def send_messages(settings: SmtpSettings, messages: Sequence[EmailMessage]) -> None:
    """Send the messages over one connection; raises MailNotSent at the first failure."""
    async with SmtpConnection(settings) as smtp:
        for message in messages:
            await smtp.send(message)
