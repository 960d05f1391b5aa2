"""A mail catcher: a real SMTP server (aiosmtpd) on a loopback port, in its own thread, that keeps
every mail it is sent, in memory and as ``.eml`` files a user can open."""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType

from aiosmtpd.controller import Controller

from ..broker import free_port


@dataclass
class CaughtMail:
    mail_from: str
    recipients: list[str]
    message: EmailMessage


def stored_form(content: bytes) -> tuple[bytes, EmailMessage]:
    """A received mail as a mailbox stores it (lines end in \n, not the wire's \r\n), and parsed."""
    stored = content.replace(b"\r\n", b"\n")
    return stored, email.message_from_bytes(stored, policy=email.policy.default)


class _CatchingHandler:
    def __init__(self, directory: Path):
        self.directory = directory
        self.mails: list[CaughtMail] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        content, message = stored_form(envelope.content)
        with self._lock:
            self.mails.append(CaughtMail(envelope.mail_from, list(envelope.rcpt_tos), message))
            (self.directory / f"{len(self.mails):06d}.eml").write_bytes(content)
        return "250 Message accepted for delivery"


class MailCatcher:
    """``with MailCatcher(directory) as catcher: ... catcher.mails``."""

    def __init__(self, directory: Path, port: int | None = None):
        self.directory = Path(directory)
        self.port = port or free_port()
        self._handler = _CatchingHandler(self.directory)
        self._controller: Controller | None = None

    @property
    def mails(self) -> list[CaughtMail]:
        return list(self._handler.mails)

    def start(self) -> "MailCatcher":
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "MailCatcher":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
