"""A private rsyslogd on loopback: UDP, TCP and (optionally) TLS listeners, and what it parsed.

It runs as ``rsyslogd -n -f CONF -i PIDFILE`` with its own work directory, configuration and
output files, never touching the system's daemon. Every message received goes through rsyslog's
own parsers into ``records.jsonl`` (one JSON object per message: facility, severity, header
fields, msg), so a test asserts what a real receiver understood, not what was sent.

``start`` returns once every listener has passed a probe message through to the output; ports
are chosen by the system (TCP, TLS: rsyslog's ``listenPortFileName``; UDP, which has no such
option: a port found free just before) unless given, and kept across ``stop``/``start``, so a
client sees a restart of the same receiver.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..processes import terminate

HOST = "127.0.0.1"
PROBE_APP_NAME = "private-rsyslog-probe"  # probes go to their own file, never into records()

_RECORD_FIELDS = (
    # (JSON key, rsyslog property, extra property options)
    ("input", "inputname", ""),
    ("facility", "syslogfacility-text", ""),
    ("severity", "syslogseverity-text", ""),
    ("pri", "pri", ""),
    ("protocol_version", "protocol-version", ""),
    ("timestamp", "timereported", ' dateFormat="rfc3339"'),
    # When rsyslog received it, to the microsecond: the benchmark's delivery time.
    ("received", "timegenerated", ' dateFormat="rfc3339"'),
    ("hostname", "hostname", ""),
    ("app_name", "app-name", ""),
    ("procid", "procid", ""),
    ("msg", "msg", ""),
    ("raw", "rawmsg", ""),
)


class RsyslogNotInstalled(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class SyslogRecord:
    """One message as rsyslog parsed it. ``msg`` is rsyslog's msg property without the space
    that follows the RFC 3164 tag (rsyslog keeps it); ``raw`` is the message as received."""

    input: str  # which listener: udp, tcp or tls
    facility: str
    severity: str
    pri: int
    protocol_version: int  # 0: RFC 3164, 1: RFC 5424
    timestamp: str
    received: str
    hostname: str
    app_name: str
    procid: str
    msg: str
    raw: str

    @classmethod
    def from_json(cls, line: str) -> "SyslogRecord":
        fields = json.loads(line)
        msg = fields["msg"]
        if fields["protocol_version"] == "0" and msg.startswith(" "):
            msg = msg[1:]
        return cls(input=fields["input"], facility=fields["facility"], severity=fields["severity"],
                   pri=int(fields["pri"]), protocol_version=int(fields["protocol_version"]),
                   timestamp=fields["timestamp"], received=fields["received"], hostname=fields["hostname"], app_name=fields["app_name"],
                   procid=fields["procid"], msg=msg, raw=fields["raw"])


def rsyslogd_path() -> str:
    # /usr/sbin is not on every user's PATH.
    found = shutil.which("rsyslogd") or shutil.which("rsyslogd", path="/usr/sbin:/sbin")
    if not found:
        raise RsyslogNotInstalled("rsyslogd not found: install the Debian packages rsyslog and rsyslog-gnutls "
                                  "(`make install` does)")
    return found


def write_test_certificates(directory: Path, hostname: str = "localhost") -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate it signed, for ``hostname`` and 127.0.0.1.
    Returns (CA certificate, server certificate, server key) paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2))

    def certificate(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
                    signer: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(validity[0])
                   .not_valid_after(validity[1])
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                                  critical=False))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
            builder = builder.add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]),
                                            critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "private rsyslog test CA")])
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    paths = (directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    pem = serialization.Encoding.PEM
    paths[0].write_bytes(certificate(ca_name, ca_name, ca_key, ca_key, ca=True).public_bytes(pem))
    paths[1].write_bytes(certificate(server_name, ca_name, server_key, ca_key, ca=False).public_bytes(pem))
    paths[2].write_bytes(server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


def _read_records(path: Path) -> list[SyslogRecord]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    # A last line without its newline is still being written: it is read next time.
    return [SyslogRecord.from_json(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class PrivateRsyslog:
    """``with PrivateRsyslog(tmp_path) as rsyslog: ... rsyslog.wait_for_records(3)``."""

    def __init__(self, work_dir: Path, *, tls: bool = False, udp_port: int | None = None,
                 tcp_port: int | None = None, tls_port: int | None = None, startup_timeout: float = 30.0):
        self.work_dir = Path(work_dir).resolve()
        if '"' in str(self.work_dir):
            raise ValueError(f"work_dir may not contain a double quote (rsyslog config string): {self.work_dir}")
        self.tls = tls
        self.udp_port, self.tcp_port, self.tls_port = udp_port, tcp_port, tls_port
        self.startup_timeout = startup_timeout
        self.records_file = self.work_dir / "records.jsonl"
        self.log_file = self.work_dir / "rsyslogd.log"
        self.ca_file: Path | None = None
        self._probes_file = self.work_dir / "probes.jsonl"
        self._config_file = self.work_dir / "rsyslog.conf"
        self._pid_file = self.work_dir / "rsyslogd.pid"
        self._server_cert: tuple[Path, Path] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "PrivateRsyslog":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> "PrivateRsyslog":
        if self.running:
            return self
        executable = rsyslogd_path()
        (self.work_dir / "spool").mkdir(parents=True, exist_ok=True)
        if self.tls and self._server_cert is None:
            self.ca_file, *server = write_test_certificates(self.work_dir)
            self._server_cert = (server[0], server[1])
        if self.udp_port is None:
            self.udp_port = _free_udp_port()
        for name in ("tcp", "tls"):
            (self.work_dir / f"{name}.port").unlink(missing_ok=True)
        self._config_file.write_text(self._config())
        check = subprocess.run([executable, "-N1", "-f", str(self._config_file)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"rsyslogd refused {self._config_file}:\n{check.stdout}{check.stderr}")
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [executable, "-n", "-f", str(self._config_file), "-i", str(self._pid_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            terminate(process, 15)

    def records(self) -> list[SyslogRecord]:
        """Every message received so far, in arrival order."""
        return _read_records(self.records_file)

    def wait_for_records(self, count: int, timeout: float = 30.0,
                         match: Callable[[SyslogRecord], bool] | None = None) -> list[SyslogRecord]:
        """The records (those ``match`` accepts, when given) once there are at least ``count`` of
        them, or all there are after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            records = [record for record in self.records() if match is None or match(record)]
            if len(records) >= count or time.monotonic() >= deadline:
                return records
            time.sleep(0.02)

    def _config(self) -> str:
        directory = self.work_dir
        properties = "\n".join(f'  property(outname="{key}" name="{name}" format="jsonf"{options})'
                               for key, name, options in _RECORD_FIELDS)
        tcp_port = self.tcp_port or 0
        lines = [
            # maxMessageSize before the inputs: they size their buffers when loaded.
            f'global(workDirectory="{directory}/spool" maxMessageSize="64k")',
            'module(load="imudp")',
            'module(load="imtcp")',
            f'template(name="record" type="list" option.jsonf="on") {{\n{properties}\n}}',
            'ruleset(name="received") {',
            f'  if $app-name == "{PROBE_APP_NAME}" then {{',
            f'    action(type="omfile" file="{self._probes_file}" template="record")',
            '    stop',
            '  }',
            f'  action(type="omfile" file="{self.records_file}" template="record")',
            '}',
            f'input(type="imudp" address="{HOST}" port="{self.udp_port}" name="udp" ruleset="received")',
            (f'input(type="imtcp" address="{HOST}" port="{tcp_port}" listenPortFileName="{directory}/tcp.port" '
             'name="tcp" ruleset="received")'),
        ]
        if self.tls:
            assert self._server_cert is not None and self.ca_file is not None
            lines.append(
                f'input(type="imtcp" address="{HOST}" port="{self.tls_port or 0}" '
                f'listenPortFileName="{directory}/tls.port" name="tls" ruleset="received" '
                'streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon" '
                f'streamDriver.caFile="{self.ca_file}" streamDriver.certFile="{self._server_cert[0]}" '
                f'streamDriver.keyFile="{self._server_cert[1]}")')
        return "\n".join(lines) + "\n"

    def _wait_until_ready(self) -> None:
        """Send a probe through every listener until each has reached the probe file: then the
        inputs are bound, the parsers and the output work."""
        nonce = uuid.uuid4().hex
        inputs = ["udp", "tcp"] + (["tls"] if self.tls else [])
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"rsyslogd exited during startup:\n{self._log_tail()}")
            self._learn_ports()
            arrived = self._probes_arrived(nonce)
            if arrived >= set(inputs):
                return
            for name in inputs:
                if name not in arrived:
                    self._send_probe(name, nonce)
            time.sleep(0.05)
        raise RuntimeError(f"rsyslogd listeners {inputs} not ready within {self.startup_timeout:g} s:\n"
                           f"{self._log_tail()}")

    def _learn_ports(self) -> None:
        """The ports the system gave the TCP and TLS listeners, once rsyslog has written them."""
        for name in ("tcp", "tls"):
            port_file = self.work_dir / f"{name}.port"
            text = port_file.read_text().strip() if port_file.exists() else ""
            if text.isdigit() and int(text) > 0:
                setattr(self, f"{name}_port", int(text))

    def _probes_arrived(self, nonce: str) -> set[str]:
        return {record.input for record in _read_records(self._probes_file) if record.msg == nonce}

    def _send_probe(self, input_name: str, nonce: str) -> None:
        message = f"<14>1 - - {PROBE_APP_NAME} - - - {nonce}".encode()
        try:
            if input_name == "udp":
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.sendto(message, (HOST, self.udp_port))
                return
            port = self.tcp_port if input_name == "tcp" else self.tls_port
            if port is None:
                return  # not listening yet
            with socket.create_connection((HOST, port), timeout=2) as sock:
                stream: socket.socket = sock
                if input_name == "tls":
                    context = ssl.create_default_context(cafile=str(self.ca_file))
                    stream = context.wrap_socket(sock, server_hostname="localhost")
                stream.sendall(b"%d %s" % (len(message), message))
                if input_name == "tls":
                    stream.unwrap()  # a clean close_notify, or rsyslog logs a TLS error
        except OSError:
            pass  # not ready yet: the next round tries again

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"
