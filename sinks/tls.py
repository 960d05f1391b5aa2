"""TLS client contexts from the configuration's ``tls:`` sections (syslog over TLS, SMTP)."""

from __future__ import annotations

import ssl

from streams.config import TlsClientSettings


def client_ssl_context(tls: TlsClientSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
