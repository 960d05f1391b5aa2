"""The sink of every action kind that delivers per event. Email reports are not one: their events
are gathered into periods and mailed later (streams/report_agents.py, sinks/reports/)."""

from __future__ import annotations

from .base import Sink
from .capture import CaptureSink
from .script import ScriptSink
from .snmp import SnmpSink
from .syslog import SyslogSink

SINK_CLASSES: dict[str, type[Sink]] = {"syslog": SyslogSink, "snmp": SnmpSink, "script": ScriptSink,
                                      "capture": CaptureSink}
