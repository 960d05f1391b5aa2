"""The demo's receivers: a private rsyslog, snmptrapd and mail catcher on loopback ports, the
configuration rewritten to deliver to them, and what each has received so far.

A receiver whose program is not installed is left out, with a note saying so: its actions then
fail and are dead-lettered, which the demo shows as well.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .receivers.mibs import REPO, mib_dirs
from .receivers.rsyslog import PrivateRsyslog
from .receivers.smtp import MailCatcher
from .receivers.snmptrapd import PrivateSnmptrapd

LATEST_SHOWN = 5
SCRIPTS_DIR = Path("deploy/scripts")


@dataclass
class Received:
    """What one receiver has: how many deliveries, and a line for each of the latest."""

    count: int
    latest: list[str]


@dataclass
class DemoReceivers:
    directory: Path
    rsyslog: PrivateRsyslog | None = None
    snmptrapd: PrivateSnmptrapd | None = None
    mail: MailCatcher | None = None
    notes: list[str] = field(default_factory=list)

    def received(self) -> dict[str, Received]:
        """By receiver name, what arrived so far."""
        seen = {}
        if self.rsyslog:
            records = self.rsyslog.records()
            seen["rsyslog"] = Received(len(records), [f"{r.facility}.{r.severity} {r.msg}"
                                                      for r in records[-LATEST_SHOWN:]])
        if self.snmptrapd:
            notifications = self.snmptrapd.records()
            seen["snmptrapd"] = Received(len(notifications), [_trap_line(n.values)
                                                              for n in notifications[-LATEST_SHOWN:]])
        if self.mail:
            mails = self.mail.mails
            seen["mail"] = Received(len(mails), [f"to {', '.join(m.recipients)}: {m.message['Subject']}"
                                                 for m in mails[-LATEST_SHOWN:]])
        return seen

    def where(self) -> list[str]:
        """Where the user finds what each receiver got."""
        lines = []
        if self.rsyslog:
            lines.append(f"rsyslog: udp/tcp 127.0.0.1:{self.rsyslog.udp_port}/{self.rsyslog.tcp_port}, "
                         f"records in {self.rsyslog.records_file}")
        if self.snmptrapd:
            lines.append(f"snmptrapd: udp 127.0.0.1:{self.snmptrapd.port}, log {self.snmptrapd.log_path}")
        if self.mail:
            lines.append(f"mail catcher: smtp 127.0.0.1:{self.mail.port}, mails in {self.mail.directory}")
        return lines + self.notes


def _trap_line(values: dict[str, str]) -> str:
    def value(name: str) -> str:
        return values.get(f"ADS-ACTIONS-MIB::{name}.0", "?").strip('"')
    return f"event {value('adsEventId')} {value('adsEventType')} from {value('adsEventSource')}"


@contextlib.contextmanager
def demo_receivers(directory: Path) -> Iterator[DemoReceivers]:
    receivers = DemoReceivers(directory)
    for name in ("rsyslog", "snmptrapd", "mail"):
        # What an earlier demo received would be counted as this one's.
        shutil.rmtree(directory / name, ignore_errors=True)
    with contextlib.ExitStack() as stack:
        if shutil.which("rsyslogd"):
            receivers.rsyslog = stack.enter_context(PrivateRsyslog(directory / "rsyslog"))
        else:
            receivers.notes.append("rsyslog is not installed (apt install rsyslog): syslog deliveries fail")
        if shutil.which("snmptrapd"):
            receivers.snmptrapd = stack.enter_context(PrivateSnmptrapd(directory / "snmptrapd", mib_dirs()))
        else:
            receivers.notes.append("snmptrapd is not installed (apt install snmptrapd): SNMP deliveries fail")
        receivers.mail = stack.enter_context(MailCatcher(directory / "mail"))
        yield receivers


def deliver_to(config: dict[str, Any], receivers: DemoReceivers) -> dict[str, Any]:
    """The configuration with every syslog target, SNMP destination and the SMTP server pointing at
    the demo's receivers, and the scripts directory made absolute (the worker may run elsewhere)."""
    config = dict(config)
    if receivers.rsyslog:
        target = {"host": "127.0.0.1", "port": receivers.rsyslog.udp_port, "transport": "udp"}
        config["syslog"] = {**(config.get("syslog") or {}), "default_target": target}
        actions = dict(config.get("actions") or {})
        actions["syslog"] = [{**action, "target": target} if action.get("target") else action
                             for action in actions.get("syslog") or []]
        config["actions"] = actions
    if receivers.snmptrapd:
        snmp = dict(config.get("snmp") or {})
        # v2c to the demo's snmptrapd, which accepts community "public".
        snmp["target_groups"] = {name: [{"address": "127.0.0.1", "port": receivers.snmptrapd.port,
                                         "version": "v2c", "community": "public"}]
                                 for name in (snmp.get("target_groups") or {})}
        config["snmp"] = snmp
    if receivers.mail:
        config["smtp"] = {**(config.get("smtp") or {}), "host": "127.0.0.1", "port": receivers.mail.port,
                          "security": "plain", "username": None, "password": None}
    scripts = dict(config.get("scripts") or {})
    directory = Path(scripts.get("directory") or SCRIPTS_DIR)
    # Relative to the checkout, where the demo scripts are, wherever the demo was started from.
    scripts["directory"] = str(directory if directory.is_absolute() else REPO / directory)
    config["scripts"] = scripts
    return config
