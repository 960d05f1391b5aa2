"""For the capture tests: a capture agent process, its API, loopback traffic between chosen
127.x addresses (every 127.0.0.0/8 address is local on lo), and the packets of a PCAP as tshark
reads them."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml

from streams import broker as embedded
from streams.processes import terminate

TOKEN = "test-token-0123456789abcdef"
DEADLINE_SECONDS = 30.0


def agent_config(directory: Path, port: int, metrics_port: int = 0, **capture: Any) -> dict:
    return {"capture": {"directory": str(directory), "token": TOKEN, "listen": {"host": "127.0.0.1", "port": port},
                        # A short TTL in few files: the tests see rotation without waiting long.
                        "interfaces": {"lo": {"ttl": "4s", "max_disk": "20MB", "ring_files": 5}},
                        "groups": {"loopback": {"id": 1, "interfaces": ["lo"]}}, **capture},
            "metrics": {"host": "127.0.0.1", "port": metrics_port}}


class AgentProcess:
    """``ads-actions capture-agent`` in a child process, ready once its API answers."""

    def __init__(self, directory: Path, port: int | None = None, ca_file: Path | None = None, **capture: Any):
        self.directory = directory
        self.port = port or embedded.free_port()
        self.metrics_port = embedded.free_port()
        # With capture.tls, the API is reached as https://localhost, verified with ca_file.
        self.url = f"https://localhost:{self.port}" if "tls" in capture else f"http://127.0.0.1:{self.port}"
        self.ssl_context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "agent.yaml"
        self.config.write_text(yaml.safe_dump(agent_config(directory / "data", self.port, self.metrics_port,
                                                           **capture)))
        self.log = directory / "agent.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "AgentProcess":
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "streams.cli", "capture-agent", "-c",
                                             str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + DEADLINE_SECONDS
        while api(self.url, "GET", "/captures", TOKEN, context=self.ssl_context)[0] is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"capture agent did not start: {self.log.read_text()}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)

    def __enter__(self) -> "AgentProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def metric(self, name: str, **labels: str) -> float:
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).read().decode()
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
        values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(wanted + " ")]
        return values[0] if values else 0.0


def api(base: str, method: str, path: str, token: str | None = TOKEN, body: Any = None,
        raw_body: bytes | None = None, context: ssl.SSLContext | None = None) -> tuple[int | None, Any]:
    """(status, JSON or bytes); status None when nothing answers."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            status, content, kind = response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, content, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    except (ConnectionError, urllib.error.URLError):
        return None, None
    return status, (json.loads(content) if "json" in kind and content else content)


def wait_for_capture(base: str, capture_id: str, token: str = TOKEN, context: ssl.SSLContext | None = None) -> dict:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        status, capture = api(base, "GET", f"/captures/{capture_id}", token, context=context)
        if status == 200 and capture["state"] in ("finished", "failed"):
            return capture
        assert time.monotonic() < deadline, f"capture {capture_id} still {capture}"
        time.sleep(0.2)


class Traffic:
    """UDP datagrams between loopback addresses, each received (so no ICMP "port unreachable"
    adds packets), with a payload naming what it is."""

    PORT = 7000

    def __init__(self) -> None:
        self._receivers: dict[str, socket.socket] = {}

    def send(self, source: str, target: str, tag: str, count: int = 3) -> None:
        if target not in self._receivers:
            receiver = self._receivers[target] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            receiver.bind((target, self.PORT))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.bind((source, 0))
            for n in range(count):
                sender.sendto(f"{tag}-{n}".encode(), (target, self.PORT))
                time.sleep(0.01)

    def close(self) -> None:
        for receiver in self._receivers.values():
            receiver.close()


@contextmanager
def traffic() -> Iterator[Traffic]:
    generator = Traffic()
    try:
        yield generator
    finally:
        generator.close()


def pcap_packets(path: Path) -> list[tuple[str, str, str]]:
    """(source, target, payload) of every UDP packet, read by tshark."""
    result = subprocess.run(["tshark", "-r", str(path), "-Y", "udp", "-T", "fields", "-e", "ip.src", "-e", "ip.dst",
                             "-e", "data.data"], capture_output=True, text=True, timeout=60, check=True)
    return [(source, target, bytes.fromhex(payload).decode())
            for source, target, payload in (line.split("\t") for line in result.stdout.splitlines())]


def pcap_of(base: str, capture_id: str, directory: Path, token: str = TOKEN) -> Path:
    status, content = api(base, "GET", f"/captures/{capture_id}/pcap", token)
    assert status == 200, content
    path = directory / f"{capture_id}.pcapng"
    path.write_bytes(content)
    return path
