"""A real SMTP server for tests: aiosmtpd in its own thread, collecting what it is sent.

``running_smtp_server(...)`` serves plain SMTP, STARTTLS (required) or implicit TLS, optionally
with a login that must match; ``self_signed_certificate`` makes the certificate for the TLS modes.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from streams.broker import free_port
from streams.receivers.smtp import stored_form


@dataclass
class ReceivedMail:
    mail_from: str
    recipients: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class CollectingHandler:
    refused_recipients: set[str] = field(default_factory=set)
    mails: list[ReceivedMail] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused_recipients:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        _, message = stored_form(envelope.content)
        self.mails.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message,
                                       session.auth_data))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    port: int
    handler: CollectingHandler

    @property
    def mails(self) -> list[ReceivedMail]:
        return self.handler.mails


SERVER_NAME = "mail.example.test"


def self_signed_certificate(directory: Path, name: str = SERVER_NAME) -> tuple[Path, Path]:
    """(certificate, key) files for ``name`` only (not 127.0.0.1: connecting by address then needs
    tls.server_name), the certificate being its own CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=False,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@contextmanager
def running_smtp_server(security: str = "plain", certificate: tuple[Path, Path] | None = None,
                        login: tuple[str, str] | None = None,
                        refused_recipients: set[str] = frozenset(), port: int | None = None) -> Iterator[SmtpServer]:
    handler = CollectingHandler(set(refused_recipients))
    options: dict = {}
    if security in ("starttls", "tls"):
        assert certificate is not None
        context = _server_tls(*certificate)
        if security == "starttls":
            options.update(tls_context=context, require_starttls=True)
        else:
            options.update(ssl_context=context)
    if login is not None:
        def authenticate(server, session, envelope, mechanism, auth_data):
            good = isinstance(auth_data, LoginPassword) and \
                (auth_data.login.decode(), auth_data.password.decode()) == login
            # handled=False: aiosmtpd answers the failure itself (535).
            return AuthResult(success=good, handled=False, auth_data=auth_data.login.decode() if good else None)

        # aiosmtpd counts only STARTTLS as TLS: on an implicit TLS connection it would refuse AUTH.
        options.update(authenticator=authenticate, auth_required=True, auth_require_tls=security != "tls")
    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield SmtpServer(port, handler)
    finally:
        controller.stop()
