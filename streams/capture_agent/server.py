"""Serving the API: the capture agent's HTTP(S) server, in the agent process or in the worker."""

from __future__ import annotations

import ssl
from contextlib import asynccontextmanager
from typing import AsyncIterator

from aiohttp import web

from streams.config import CaptureListen, CaptureServerTls


def server_ssl_context(tls: CaptureServerTls) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


@asynccontextmanager
async def serving(app: web.Application, listen: CaptureListen, tls: CaptureServerTls | None) -> AsyncIterator[None]:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, listen.host, listen.port,
                           ssl_context=server_ssl_context(tls) if tls is not None else None)
        await site.start()
        yield
    finally:
        await runner.cleanup()
