"""A private net-snmp snmptrapd on a free loopback UDP port, and the notifications it logged.

It reads only its own configuration (``-C -c``), keeps its state in its own directory
(``SNMP_PERSISTENT_DIR``), translates OIDs with the MIBs it is given (``-m``, ``-M``), and logs
each notification as one record of control-character-delimited fields. Event fields cannot hold
those characters (streams/events.py refuses control characters but tab, newline and carriage
return), so a record parses back exactly, multi-line values included.

    with PrivateSnmptrapd(work_dir, [ietf_mibs, "deploy/mibs"]) as receiver:
        ... send to ("127.0.0.1", receiver.port) ...
        [notification] = receiver.wait_for(lambda found: len(found) >= 1)
        notification.values["ADS-ACTIONS-MIB::adsEventId.0"]  # "123"

SNMPv1 traps, SNMPv2c traps and informs (acknowledged by snmptrapd itself) and SNMPv3 traps and
informs of the given users are accepted; anything else is dropped unlogged.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..processes import terminate

# Exactly these (not "+ADS-ACTIONS-MIB"): net-snmp's default list names MIBs Debian does not ship,
# and each missing one is a warning in the log.
DEFAULT_MIBS = ("SNMPv2-MIB", "ADS-ACTIONS-MIB")
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
POLL_INTERVAL_SECONDS = 0.05
# Binding a probe socket to port 0 then freeing it leaves a window in which another process may
# take the port: snmptrapd then fails to bind, and a new port is tried.
START_ATTEMPTS = 5

# Record layout: RECORD_START, header fields and the varbinds separated by FIELD, varbinds
# separated by VARBIND, RECORD_END and a newline.
RECORD_START, RECORD_END, VARBIND, FIELD = "\x1c", "\x1d", "\x1e", "\x1f"
HEADER = ("version", "security_name", "transport", "agent_address", "enterprise", "specific_trap")
# %s version, %u community or v3 user, %b transport, %a agent address (v1), %N enterprise (v1),
# %q specific trap (v1: the notification's name), %V varbind separator, %v varbinds.
LOG_FORMAT = RECORD_START + FIELD.join(("%s", "%u", "%b", "%a", "%N", "%q", f"%V{VARBIND}%v")) + RECORD_END + "\n"
_RECORD = re.compile(f"{RECORD_START}(.*?){RECORD_END}\n", re.DOTALL)
# "NAME = TYPE: value"; net-snmp prints some values without a type ("" for an empty string).
_VARBIND = re.compile(r"(?P<name>\S+) = (?:(?P<type>[A-Za-z][A-Za-z0-9 -]*): )?(?P<value>.*)", re.DOTALL)
SNMP_TRAP_OID = "SNMPv2-MIB::snmpTrapOID.0"
SNMP_VERSIONS = {"0": "v1", "1": "v2c", "3": "v3"}


@dataclass(frozen=True)
class SnmptrapdUser:
    """An SNMPv3 user snmptrapd accepts, at authPriv. ``sender_engine_id`` (hex) is the engine ID
    of the sender of traps; informs need none (snmptrapd is their authoritative engine)."""

    name: str
    auth_key: str
    priv_key: str
    auth_protocol: str = "SHA"
    priv_protocol: str = "AES"
    sender_engine_id: str | None = None


@dataclass(frozen=True)
class LoggedVarbind:
    name: str
    type: str
    value: str


@dataclass(frozen=True)
class Notification:
    """One notification as snmptrapd logged it, OIDs translated to names where its MIBs allow.
    ``agent_address`` and ``enterprise`` are those of SNMPv1 traps, empty for later versions."""

    version: str
    security_name: str
    transport: str
    agent_address: str
    enterprise: str
    notification: str
    varbinds: tuple[LoggedVarbind, ...] = field(default=())

    @property
    def values(self) -> dict[str, str]:
        return {varbind.name: varbind.value for varbind in self.varbinds}


def parse_log(text: str) -> list[Notification]:
    """The notifications in snmptrapd's log, in order; other lines (start, stop) are skipped."""
    return [_parse_record(match.group(1)) for match in _RECORD.finditer(text)]


def _parse_record(record: str) -> Notification:
    *fields, varbind_text = record.split(FIELD, len(HEADER))
    header = dict(zip(HEADER, fields))
    varbinds = []
    for item in varbind_text.split(VARBIND) if varbind_text else ():
        match = _VARBIND.fullmatch(item)
        if match:
            varbinds.append(LoggedVarbind(match["name"], match["type"] or "", match["value"]))
        else:
            varbinds.append(LoggedVarbind(item, "", ""))
    version = SNMP_VERSIONS.get(header["version"], header["version"])
    if version == "v1":
        return Notification(version, header["security_name"], header["transport"], header["agent_address"],
                            header["enterprise"], header["specific_trap"], tuple(varbinds))
    notification = next((v.value for v in varbinds if v.name == SNMP_TRAP_OID), "")
    return Notification(version, header["security_name"], header["transport"], "", "", notification,
                        tuple(varbinds))


def configuration(community: str | None, users: Sequence[SnmptrapdUser]) -> str:
    """snmptrapd.conf: log what the community or the users send."""
    lines = []
    if community is not None:
        lines.append(f"authCommunity log {community}")
    for user in users:
        keys = f"{user.auth_protocol} {user.auth_key} {user.priv_protocol} {user.priv_key}"
        if user.sender_engine_id:
            lines.append(f"createUser -e {user.sender_engine_id} {user.name} {keys}")
        lines.append(f"createUser {user.name} {keys}")
        lines.append(f"authUser log {user.name} priv")
    return "\n".join(lines) + "\n"


def free_udp_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class SnmptrapdError(RuntimeError):
    pass


class PrivateSnmptrapd:
    def __init__(self, work_dir: str | os.PathLike[str], mib_dirs: Sequence[str | os.PathLike[str]], *,
                 community: str | None = "public", v3_users: Sequence[SnmptrapdUser] = (),
                 mibs: Sequence[str] = DEFAULT_MIBS, host: str = "127.0.0.1", port: int = 0,
                 executable: str = "snmptrapd"):
        """``port`` 0 picks a free one at each start; a given port lets a test stop and start the
        receiver where a sender already sends."""
        self.work_dir = Path(work_dir)
        self.mib_dirs = [Path(d).resolve() for d in mib_dirs]
        self.community = community
        self.v3_users = tuple(v3_users)
        self.mibs = tuple(mibs)
        self.host = host
        self.executable = executable
        self.port = port
        self._requested_port = port
        self.log_path = self.work_dir / "snmptrapd.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "PrivateSnmptrapd":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        if self.running:
            raise SnmptrapdError(f"snmptrapd already running on port {self.port}")
        if shutil.which(self.executable) is None:
            raise SnmptrapdError(f"{self.executable} not found (apt package snmptrapd)")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "snmptrapd.conf"
        config.write_text(configuration(self.community, self.v3_users))
        config.chmod(0o600)  # it holds the v3 keys
        requested = self._requested_port
        for _ in range(1 if requested else START_ATTEMPTS):
            if self._start_on(requested or free_udp_port(self.host), config, timeout):
                return
        raise SnmptrapdError(f"snmptrapd did not start: {self._log_text()[-2000:]}")

    def _start_on(self, port: int, config: Path, timeout: float) -> bool:
        # Fresh: no engine boots or users of an earlier run. The log is kept: records() reads
        # every notification since the first start.
        persistent = Path(tempfile.mkdtemp(prefix="persistent-", dir=self.work_dir))
        logged_before = len(self._log_text())
        address = f"udp6:[{self.host}]:{port}" if ":" in self.host else f"udp:{self.host}:{port}"
        command = [self.executable, "-f", "-C", "-c", str(config), "-n", "-X",
                   "-m", ":".join(self.mibs), "-M", "+" + ":".join(map(str, self.mib_dirs)),
                   "-Lf", str(self.log_path), "-F", LOG_FORMAT, address]
        environment = {**os.environ, "SNMP_PERSISTENT_DIR": str(persistent)}
        self._process = subprocess.Popen(command, env=environment, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            # snmptrapd logs its version once its sockets are open; it truncates the log file
            # when it opens it, so a log shorter than before is all new.
            text = self._log_text()
            if "NET-SNMP version" in (text[logged_before:] if len(text) >= logged_before else text):
                self.port = port
                return True
            time.sleep(POLL_INTERVAL_SECONDS)
        self.stop()
        raise SnmptrapdError(f"snmptrapd not ready after {timeout} s: {self._log_text()[-2000:]}")

    def stop(self) -> None:
        if self._process is not None:
            terminate(self._process, STOP_TIMEOUT_SECONDS)
            self._process = None

    def records(self) -> list[Notification]:
        return parse_log(self._log_text())

    def wait_for(self, condition: Callable[[list[Notification]], bool], timeout: float = 10.0) -> list[Notification]:
        """Poll the log until ``condition(records)`` holds; returns the records, or raises
        TimeoutError with what was logged."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.records()
            if condition(found):
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"snmptrapd logged {len(found)} notifications in {timeout} s, not the ones "
                                   f"expected: {found}")
            time.sleep(POLL_INTERVAL_SECONDS)

    def _log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
