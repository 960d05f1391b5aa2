"""The one typed configuration model, loaded from YAML and validated as a whole.

Every problem is reported, not only the first, as ``FILE: path.in.yaml: what was expected, what
was found (line N)``; ``ads-actions check-config`` prints them and the worker refuses to start.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, TypeVar

import yaml
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError,
                      field_validator, model_validator)
from pydantic import ByteSize, TypeAdapter

from .durations import parse_duration
from .filters import FilterDefinition, FilterError, compile_filters, parse_entry
from .priorities import Priority

ENV_BOOTSTRAP = "KAFKA_BOOTSTRAP_SERVERS"
ENV_METRICS_PORT = "ADS_ACTIONS_METRICS_PORT"

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
ACTION_KINDS = ("email", "syslog", "snmp", "script", "capture")


def _priority(value: Any) -> Priority:
    if isinstance(value, Priority):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a priority word such as HIGH, found {value!r}")
    return Priority.parse(value)


def _seconds(value: Any) -> float:
    return parse_duration(value)


def _time_zone(value: Any) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"expected an IANA time zone such as Europe/Prague, found {value!r}") from None
    return value


PriorityField = Annotated[Priority, BeforeValidator(_priority)]
TimeZone = Annotated[str, AfterValidator(_time_zone)]
Seconds = Annotated[float, BeforeValidator(_seconds)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    app_id: Name = "ads-actions"
    partitions: int = Field(4, ge=1, le=1024, description="partition count of every topic we create")
    replication_factor: int = Field(1, ge=1, le=16)
    session_timeout: Seconds = 30.0
    # Faust's own 1.5 s made every hop wait up to that long on brokers that answer a fetch only
    # when the wait is over (streams/faust_transport.py).
    fetch_max_wait: Seconds = Field(0.1, ge=0.001, le=30, description="longest wait for a fetch to fill")


class ActionTopics(_Section):
    email: str = "ads.action.email"
    syslog: str = "ads.action.syslog"
    snmp: str = "ads.action.snmp"
    script: str = "ads.action.script"
    capture: str = "ads.action.capture"


class TopicSettings(_Section):
    events: str = "ads.events"
    ids_events: str = "ids.events"
    dead_letter: str = "ads.dead-letter"
    # Internal: triggers that arrived on a partition other than their event ID's home partition
    # are forwarded here, so that duplicate detection is partition-local (docs/architecture.md).
    events_by_id: str = "ads.events.by-id"
    ids_events_by_id: str = "ids.events.by-id"
    actions: ActionTopics = ActionTopics()

    @field_validator("*")
    @classmethod
    def _topic_name(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.match(r"^[A-Za-z0-9._-]{1,249}$", value):
            raise ValueError(f"expected a Kafka topic name (letters, digits, . _ -), found {value!r}")
        return value


class InputSettings(_Section):
    format: Literal["json", "avro"] = "json"
    max_message_bytes: int = Field(256 * 1024, ge=1024, le=16 * 1024 * 1024)
    max_field_chars: int = Field(16 * 1024, ge=64)
    max_targets: int = Field(4096, ge=1)
    max_flows: int = Field(1000, ge=0)
    dedup_retention: Seconds = 7 * 86400.0


class MetricsSettings(_Section):
    host: str = "0.0.0.0"
    port: int = Field(9464, ge=0, le=65535, description="0 disables the endpoint")


class WorkerSettings(_Section):
    # Which agents this worker runs: routers and sinks can be scaled apart (docs/architecture.md).
    roles: list[Literal["router", "sinks"]] = Field(["router", "sinks"], min_length=1)
    batch_size: int = Field(1000, ge=1, le=100_000)
    batch_timeout: Seconds = 0.05
    data_dir: str = "var/worker"
    max_waiting_deliveries: int = Field(10_000, ge=1, description="per sink agent: reading pauses above this")
    log_level: Literal["debug", "info", "warn", "error"] = "info"


def _filter_shorthand(value: Any) -> Any:
    # A bare list is the common case: a set of networks.
    return {"networks": value} if isinstance(value, list) else value


class FilterSpec(_Section):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    networks: list[str] | None = None
    union: list[str] | None = Field(None, min_length=1)
    difference: list[str] | None = Field(None, min_length=2)
    not_: str | None = Field(None, alias="not")

    @field_validator("networks")
    @classmethod
    def _entries(cls, entries: list[str] | None) -> list[str] | None:
        for index, entry in enumerate(entries or []):
            try:
                parse_entry(entry)
            except ValueError as exc:
                raise ValueError(f"item {index}: expected an address, CIDR network or range a-b, "
                                 f"found {entry!r} ({exc})") from None
        return entries

    @model_validator(mode="after")
    def _one_shape(self) -> "FilterSpec":
        shapes = [n for n in ("networks", "union", "difference", "not_") if getattr(self, n) is not None]
        if len(shapes) != 1:
            found = ", ".join(s.rstrip("_") for s in shapes) or "none"
            raise ValueError(f"expected exactly one of networks, union, difference, not; found {found}")
        return self

    def definition(self) -> FilterDefinition:
        return FilterDefinition(
            networks=tuple(self.networks) if self.networks is not None else None,
            union=tuple(self.union) if self.union is not None else None,
            difference=tuple(self.difference) if self.difference is not None else None,
            inverse_of=self.not_,
        )


class Rule(_Section):
    types: list[Annotated[str, Field(pattern=r"^[A-Z0-9_]{1,32}$")]] = Field(min_length=1)
    priority: PriorityField
    subtypes: list[str] = []
    method_instances: list[str] = []
    data_feeds: list[str] = []
    source: str | None = None
    target: str | None = None


class Perspective(_Section):
    # le: RoutedAction.perspectiveId is an Avro int; a larger ID made encoding every routed message fail.
    id: int = Field(ge=0, le=2**31 - 1, description="the perspective ID carried in CEF cn3 and routed messages")
    description: str = ""
    rules: list[Rule] = Field(min_length=1)


class RetryPolicy(_Section):
    """Exponential backoff between tries of one delivery; after the last try, or once the
    deadline (counted from the first try) has passed, the delivery goes to the dead-letter topic."""

    max_attempts: int = Field(10, ge=1, le=1000)
    initial_backoff: Seconds = 1.0
    max_backoff: Seconds = 60.0
    deadline: Seconds = 600.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        return min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))


class Action(_Section):
    """What every action has; each sink adds its own settings in a subclass."""

    name: Name
    perspective: str
    active: bool = True
    min_priority: PriorityField = Priority.INFORMATION
    mute: list[str] = Field([], description="names of mute_windows during which this action does not fire")
    retry: RetryPolicy = RetryPolicy()


REPORT_FORMATS = ("full", "compact", "extra_compact", "per_event", "rt")
# An address as SMTP carries it: no spaces, commas, angle brackets or line breaks, so that a
# recipient can never add a header or another recipient.
_EMAIL_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def _email_address(value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL_ADDRESS.fullmatch(value):
        raise ValueError(f"expected an email address (local@domain, without spaces, commas, angle brackets or "
                         f"line breaks), found {value!r}")
    return value


EmailAddress = Annotated[str, BeforeValidator(_email_address)]


def _period_length(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0 or (86400 % seconds and seconds != 7 * 86400):
        raise ValueError(f"expected a period that divides a day (such as 10s, 15m, 1h, 6h, 1d) or 7d, "
                         f"found {value!r}")
    return seconds


PeriodLength = Annotated[float, BeforeValidator(_period_length)]


class ReportPeriods(_Section):
    """How long a summary period is, per priority (CRITICAL is ``email.immediate_window``).
    The seed's cadence is the default; tests and demos shorten it."""

    HIGH: PeriodLength = 3600.0
    MEDIUM: PeriodLength = 6 * 3600.0
    LOW: PeriodLength = 86400.0
    INFORMATION: PeriodLength = 7 * 86400.0


class ReportLinks(_Section):
    """URL templates of "active links": ``{id}`` is the event ID, ``{ip}`` an IP address."""

    event: str | None = Field(None, description="e.g. https://ads.example.org/events/{id}")
    ip: str | None = Field(None, description="e.g. https://ads.example.org/hosts/{ip}")

    @field_validator("event", "ip")
    @classmethod
    def _http_template(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s\"'<>]+$", value):
            raise ValueError(f"expected an http(s) URL template without spaces or quotes, found {value!r}")
        return value


class EmailSettings(_Section):
    """Shared by every email report (``actions.email``)."""

    timezone: TimeZone = Field("UTC", description="periods align to this zone's clock; mails show times in it")
    immediate_window: Seconds = Field(5.0, gt=0, le=300, description="CRITICAL events routed within this many "
                                      "seconds of each other go in one mail")
    close_delay: Seconds = Field(3.0, ge=0, le=600, description="a period is sent this long after it ends, "
                                 "for events still on their way")
    periods: ReportPeriods = ReportPeriods()
    max_rows: int = Field(1000, ge=1, le=100_000, description="events listed per report period; "
                          "the rest are counted only")
    max_groups: int = Field(5000, ge=1, le=1_000_000, description="(type, source IP) counts kept per report "
                            "period; the rest are counted per type only")
    template_directory: str | None = Field(None, description="templates here override the shipped ones by name")
    links: ReportLinks = ReportLinks()
    rt_tool_name: str = Field("Flowmon ADS", pattern=r"^[^\r\n]{1,100}$",
                              description="X-RT-Tool-Name is this and the event name")
    subject_prefix: str = Field("[ADS]", pattern=r"^[^\r\n]{0,100}$")


class EmailAction(Action):
    """An email report. ``retry`` governs the sending of one period's mails: while the mail server
    is down or answers 4xx they are tried again until ``retry.deadline`` after the first try; a 5xx
    answer dead-letters the mail at once."""

    # A mail server down for maintenance must not lose a report: tries every 5 minutes at most,
    # for 6 hours.
    retry: RetryPolicy = RetryPolicy(max_attempts=1000, initial_backoff=5.0, max_backoff=300.0, deadline=6 * 3600.0)

    recipients: list[EmailAddress] = Field(min_length=1)
    format: Literal[REPORT_FORMATS] = "full"  # type: ignore[valid-type]
    do_not_send_empty: bool = Field(False, description="skip empty daily and weekly reports "
                                    "(empty immediate, hourly and 6-hourly ones are never sent)")
    active_links: bool = False
    show_timezone: bool = False
    attach_flows: bool = Field(False, description="flow samples as CSV on RT and per-event mails")
    timezone: TimeZone | None = Field(None, description="this report's zone; email.timezone when unset")


SYSLOG_SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


class TlsClientSettings(_Section):
    ca_file: str | None = Field(None, description="CA bundle to verify the server; the system's when unset")
    cert_file: str | None = Field(None, description="client certificate, for servers that ask for one")
    key_file: str | None = None
    verify: bool = True
    server_name: str | None = Field(None, description="name to verify in the server certificate; the host when unset")


class SyslogTarget(_Section):
    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=1, le=65535, description="514 for udp and tcp, 6514 for tls when unset")
    transport: Literal["udp", "tcp", "tls"] = "udp"
    framing: Literal["rfc3164", "rfc5424"] = "rfc3164"
    tls: TlsClientSettings = TlsClientSettings()
    timeout: Seconds = 5.0

    @property
    def effective_port(self) -> int:
        return self.port or (6514 if self.transport == "tls" else 514)


class SyslogSettings(_Section):
    """What every syslog action shares: the global default target and the CEF header."""

    default_target: SyslogTarget = SyslogTarget()
    hostname: str = Field("", description="HOSTNAME field of the syslog header; this machine's name when empty")
    app_name: str = Field("ADS", pattern=r"^[!-~]{1,48}$")
    cef_vendor: str = "Flowmon Networks"
    cef_product: str = "Flowmon ADS Ultimate"
    cef_version: str = "13.00.00"
    timezone: TimeZone = Field("UTC", description="zone of message times (syslog header, CEF start=); "
                                                   "ADS itself writes local time")


class SyslogAction(Action):
    priority_as_severity: bool = True
    severity: Literal[SYSLOG_SEVERITIES] = Field(  # type: ignore[valid-type]
        "notice", description="the syslog severity of every message when priority_as_severity is off")
    target: SyslogTarget | None = Field(None, description="own target; syslog.default_target when unset")
    use_event_id: bool = False
    divide_by_targets: bool = False
    max_messages_per_event: int = Field(5, ge=1, le=10_000)
    machine_readable_detail: bool = False


class SnmpUser(_Section):
    name: str = Field(min_length=1, max_length=32)
    auth_protocol: Literal["SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"] = "SHA"
    auth_key: SecretStr = Field(description="at least 8 characters")
    priv_protocol: Literal["AES", "AES-192", "AES-256"] = "AES"
    priv_key: SecretStr

    @field_validator("auth_key", "priv_key")
    @classmethod
    def _key_length(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("expected a key of at least 8 characters (RFC 3414), found a shorter one")
        return value


class SnmpDestination(_Section):
    address: str
    port: int = Field(162, ge=1, le=65535)
    version: Literal["v1", "v2c", "v3"] = "v2c"
    community: SecretStr = SecretStr("public")
    user: SnmpUser | None = None
    notification: Literal["trap", "inform"] = "trap"
    timeout: Seconds = 2.0
    retries: int = Field(2, ge=0, le=10, description="informs: resends before the try counts as failed")

    @model_validator(mode="after")
    def _consistent(self) -> "SnmpDestination":
        if self.version == "v3" and self.user is None:
            raise ValueError("expected a user (name, auth_key, priv_key) for version v3, found none")
        if self.version == "v1" and self.notification == "inform":
            raise ValueError("expected notification: trap for version v1 (SNMPv1 has no informs), found inform")
        return self


class SnmpSettings(_Section):
    target_groups: dict[Name, list[SnmpDestination]] = {}
    engine_id: str | None = Field(None, pattern=r"^(0x)?([0-9A-Fa-f]{2}){5,32}$",
                                  description="SNMPv3 engine ID of this sender, in hex: receivers create "
                                              "v3 users for it (snmptrapd: createUser -e); derived from the "
                                              "host name when unset")


class SnmpAction(Action):
    target_groups: list[str] = Field(min_length=1)


class ScriptsSettings(_Section):
    directory: str = Field("scripts", description="the only directory scripts are run from")


class ScriptParameter(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    value: str = ""


class ScriptAction(Action):
    # Scripts may not be idempotent: one try unless the action asks for more.
    retry: RetryPolicy = RetryPolicy(max_attempts=1)
    script: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$",
                        description="file name in scripts.directory (no path)")
    input_format: Literal["tsv", "tsv-extended", "json"] = "tsv"
    parameters: list[ScriptParameter] = []
    timeout: Seconds = 30.0
    concurrency: int = Field(1, ge=1, le=256, description="runs of this action at the same time")
    batch_size: int = Field(100, ge=1, le=100_000, description="events given to one run; 1 = a run per event")
    environment: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(
        ["PATH", "LANG", "LC_ALL", "TZ"], description="worker environment variables passed to the script")


class SmtpSettings(_Section):
    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=1, le=65535, description="25 (plain), 587 (starttls), 465 (tls) when unset")
    security: Literal["plain", "starttls", "tls"] = "plain"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = "ads-actions@localhost"
    timeout: Seconds = 30.0
    tls: TlsClientSettings = TlsClientSettings()

    @property
    def effective_port(self) -> int:
        return self.port or {"plain": 25, "starttls": 587, "tls": 465}[self.security]


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MuteWindow(_Section):
    """A one-off window (``start`` and ``end``, dates with times) or a weekly recurring one
    (``weekdays``, ``start_time``, ``end_time`` in ``timezone``; an end before the start runs past
    midnight)."""

    start: datetime | None = None
    end: datetime | None = None
    weekdays: list[Literal[WEEKDAYS]] | None = None  # type: ignore[valid-type]
    start_time: time | None = None
    end_time: time | None = None
    timezone: TimeZone = "UTC"

    @model_validator(mode="after")
    def _one_shape(self) -> "MuteWindow":
        one_off = (self.start, self.end)
        weekly = (self.weekdays, self.start_time, self.end_time)
        if all(v is not None for v in one_off) and all(v is None for v in weekly):
            if self.end <= self.start:  # type: ignore[operator]
                raise ValueError(f"expected end after start, found {self.end} <= {self.start}")
            return self
        if all(v is not None for v in weekly) and all(v is None for v in one_off):
            if not self.weekdays:
                raise ValueError("expected at least one weekday, found none")
            return self
        raise ValueError("expected either start and end (one-off) or weekdays, start_time and end_time (weekly)")


_BYTE_SIZE = TypeAdapter(ByteSize)
# A network interface as `ip link` names it; never starts with "-", so it cannot pass for an option.
INTERFACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,62}$"


def _byte_count(value: Any) -> int:
    try:
        return int(_BYTE_SIZE.validate_python(value))
    except ValidationError:
        raise ValueError(f"expected a size such as 500MB or 2GiB, found {value!r}") from None


ByteCount = Annotated[int, BeforeValidator(_byte_count)]
InterfaceName = Annotated[str, Field(pattern=INTERFACE_PATTERN)]


class CaptureInterface(_Section):
    """A monitored interface's ring buffer: its last ``ttl`` of traffic, in at most ``max_disk``
    (the bound that wins under heavy traffic). dumpcap keeps ``ring_files`` files of
    ttl / (ring_files - 1) seconds each, each at most max_disk / ring_files bytes."""

    ttl: Seconds = Field(3600.0, gt=0, le=30 * 86400, description="how long packets stay in the ring buffer")
    max_disk: ByteCount = Field(1_000_000_000, ge=1_000_000)
    ring_files: int = Field(10, ge=2, le=1000)


class CaptureGroup(_Section):
    """A named group of interfaces (the seed's "agency"), chosen by actions with its numeric id."""

    id: int = Field(ge=0, le=2**31 - 1)
    interfaces: list[InterfaceName] = Field(min_length=1)


class CaptureListen(_Section):
    host: str = "127.0.0.1"
    port: int = Field(9465, ge=1, le=65535)


class CaptureServerTls(_Section):
    cert_file: str
    key_file: str


class CaptureRetention(_Section):
    """Finished captures are deleted, oldest first, once older than max_age or while all of them
    together are larger than max_disk."""

    max_age: Seconds = Field(30 * 86400.0, gt=0)
    max_disk: ByteCount = Field(10_000_000_000, ge=1_000_000)
    interval: Seconds = Field(60.0, gt=0, le=86400, description="how often retention runs (also after each capture)")


class CaptureSettings(_Section):
    """The capture agent (``ads-actions capture-agent``, or the worker itself for ``agent: local``)
    and the worker's capture download server: both listen on ``listen`` with bearer ``token``."""

    directory: str = Field("var/captures", description="ring buffers and finished captures")
    token: SecretStr = Field(description="bearer token of the HTTP API, at least 16 characters")
    listen: CaptureListen = CaptureListen()
    tls: CaptureServerTls | None = Field(None, description="serve HTTPS with this certificate; plain HTTP when unset")
    interfaces: dict[InterfaceName, CaptureInterface] = {}
    groups: dict[Name, CaptureGroup] = {}
    retention: CaptureRetention = CaptureRetention()
    max_running: int = Field(16, ge=1, le=1000, description="captures running at once; more wait their turn")
    max_live_duration: Seconds = Field(3600.0, gt=0, le=86400, description="longest live recording accepted")
    extraction_timeout: Seconds = Field(600.0, gt=0, description="bound on reading, filtering and merging one capture")

    @field_validator("token")
    @classmethod
    def _token_length(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("expected a token of at least 16 characters, found a shorter one")
        return value

    @model_validator(mode="after")
    def _groups_consistent(self) -> "CaptureSettings":
        seen: dict[int, str] = {}
        for name, group in self.groups.items():
            unknown = [i for i in group.interfaces if i not in self.interfaces]
            if unknown:
                raise ValueError(f"groups.{name}.interfaces: expected names of capture.interfaces "
                                 f"({', '.join(self.interfaces) or 'none defined'}), found {', '.join(unknown)}")
            if group.id in seen:
                raise ValueError(f"groups.{name}.id: expected a unique group id, found {group.id} "
                                 f"also used by {seen[group.id]!r}")
            seen[group.id] = name
        return self

    def group_by_id(self, group_id: int) -> CaptureGroup | None:
        return next((group for group in self.groups.values() if group.id == group_id), None)


class RemoteCaptureAgent(_Section):
    url: str = Field(pattern=r"^https?://[^\s/?#]+/?$", description="e.g. https://sensor-1:9465")
    token: SecretStr
    ca_file: str | None = Field(None, description="CA bundle to verify an https agent; the system's when unset")


class CaptureAction(Action):
    """Traffic recording: for each event, a capture agent records the event's hosts' packets from
    ``recording_start_offset`` before its detection (from its ring buffer) until
    ``live_recording_duration`` after the live capture started."""

    agent: Literal["local"] | RemoteCaptureAgent = Field(
        "local", description="local: the worker runs the agent (capture section); or a remote agent's url and token")
    group: int = Field(ge=0, le=2**31 - 1, description="numeric id of the capture group (the seed's agency ID)")
    live_recording_duration: Seconds = Field(60.0, gt=0, le=86400)
    recording_start_offset: Seconds = Field(0.0, ge=0, le=30 * 86400, description="0: live traffic only")
    timeout: Seconds = Field(10.0, gt=0, le=300, description="bound on one request to the agent")


class ActionsSettings(_Section):
    email: list[EmailAction] = []
    syslog: list[SyslogAction] = []
    snmp: list[SnmpAction] = []
    script: list[ScriptAction] = []
    capture: list[CaptureAction] = []

    def by_kind(self) -> dict[str, list[Action]]:
        return {kind: list(getattr(self, kind)) for kind in ACTION_KINDS}


class Settings(_Section):
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    input: InputSettings = InputSettings()
    metrics: MetricsSettings = MetricsSettings()
    worker: WorkerSettings = WorkerSettings()
    filters: dict[Name, Annotated[FilterSpec, BeforeValidator(_filter_shorthand)]] = {}
    perspectives: dict[Name, Perspective] = Field(min_length=1)
    mute_windows: dict[Name, MuteWindow] = {}
    syslog: SyslogSettings = SyslogSettings()
    snmp: SnmpSettings = SnmpSettings()
    scripts: ScriptsSettings = ScriptsSettings()
    smtp: SmtpSettings = SmtpSettings()
    email: EmailSettings = EmailSettings()
    capture: CaptureSettings | None = None
    actions: ActionsSettings = ActionsSettings()

    def action(self, name: str) -> Action | None:
        for actions in self.actions.by_kind().values():
            for action in actions:
                if action.name == name:
                    return action
        return None


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    message: str
    line: int | None = None

    def format(self, file: str) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{file}: {self.path or '(top level)'}: {self.message}{where}"


class ConfigError(Exception):
    def __init__(self, file: str, issues: list[ConfigIssue]):
        self.file = file
        self.issues = issues
        super().__init__("\n".join(issue.format(file) for issue in issues))


class _LineTrackingLoader(yaml.SafeLoader):
    """Refuses duplicate keys (PyYAML would silently keep the last) and remembers line numbers."""


def _construct_mapping(loader: _LineTrackingLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:  # a list or mapping as a key (``? [1]``) would escape as TypeError
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a scalar key, found a {type(key).__name__}", key_node.start_mark) from None
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"expected unique keys, found {key!r} twice", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_LineTrackingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_index(node: yaml.Node | None, path: tuple[str, ...] = (), index: dict | None = None) -> dict:
    """Map every dotted path in the document to the 1-based line where its value starts."""
    index = {} if index is None else index
    if node is None:
        return index
    index[".".join(path)] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            index[".".join(path + (str(key_node.value),))] = key_node.start_mark.line + 1
            _line_index(value_node, path + (str(key_node.value),), index)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _line_index(item, path + (str(position),), index)
    return index


def _pydantic_message(error: dict[str, Any]) -> str:
    kind, message = error["type"], error["msg"]
    found = error.get("input")
    if kind == "missing":
        return "expected this setting, found nothing"
    if kind == "extra_forbidden":
        return f"expected no such setting (misspelt?), found {error['loc'][-1]!r}"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if message.startswith("Input should be "):
        message = "expected " + message.removeprefix("Input should be ")
    elif not message.startswith("expected"):
        message = "expected a valid value: " + message[0].lower() + message[1:]
    shown = repr(found) if not isinstance(found, (dict, list)) else f"a {type(found).__name__}"
    return f"{message}, found {shown}"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _raw_filter_definitions(raw_filters: dict[str, Any]) -> dict[str, FilterDefinition]:
    """Filter shapes from the raw document, enough to find unknown references and cycles even
    when other parts of the file fail validation (their errors are reported separately)."""
    def names(spec: dict[str, Any], key: str) -> tuple[str, ...] | None:
        return tuple(str(n) for n in spec[key]) if isinstance(spec.get(key), list) else None

    definitions = {}
    for name, spec in raw_filters.items():
        spec = _filter_shorthand(spec)
        if not isinstance(spec, dict):
            continue
        # Addresses are validated by the model; an empty set is enough to check references.
        definition = FilterDefinition(
            networks=() if "networks" in spec else None,
            union=names(spec, "union"), difference=names(spec, "difference"),
            inverse_of=str(spec["not"]) if isinstance(spec.get("not"), str) else None)
        if not definition.references():
            # No shape, or one without references (``{}``, ``not: 5``, ``difference: []``): the
            # model reports it; compile_filters would index an empty reference list (IndexError).
            # An empty set keeps references to this filter resolvable.
            definition = FilterDefinition(networks=())
        definitions[str(name)] = definition
    return definitions


def _cross_checks(raw: dict[str, Any]) -> list[ConfigIssue]:
    """References between sections (filters, perspectives, action names, perspective IDs), checked
    on the raw document so they are reported together with every other error."""
    issues: list[ConfigIssue] = []
    filters = _mapping(raw.get("filters"))
    definitions = _raw_filter_definitions(filters)
    while True:
        try:
            compile_filters(definitions)
            break
        except FilterError as exc:
            issues.append(ConfigIssue(f"filters.{exc.name}.{exc.field}", exc.message))
            # compile_filters stops at the first error; every problem must be reported, so the
            # filter just reported stands in as an empty set (which also breaks its cycle) and the
            # rest are compiled again. Each round removes one reference-holding filter: it ends.
            definitions[exc.name] = FilterDefinition(networks=())
    perspectives = _mapping(raw.get("perspectives"))
    seen_ids: dict[Any, str] = {}
    for name, perspective in perspectives.items():
        perspective = _mapping(perspective)
        # Only integer IDs are compared: an unhashable one (``id: [1]``) raised TypeError here;
        # the model reports its type.
        if isinstance(perspective.get("id"), int) and perspective["id"] in seen_ids:
            issues.append(ConfigIssue(f"perspectives.{name}.id", f"expected a unique perspective ID, found "
                                      f"{perspective['id']} also used by {seen_ids[perspective['id']]!r}"))
        if isinstance(perspective.get("id"), int):
            seen_ids.setdefault(perspective["id"], name)
        rules = perspective.get("rules") if isinstance(perspective.get("rules"), list) else []
        for position, rule in enumerate(rules):
            for side in ("source", "target"):
                reference = _mapping(rule).get(side)
                if isinstance(reference, str) and reference not in filters:
                    # str: YAML keys may be numbers (``1: [...]``, reported by the model), and
                    # sorting a mix of numbers and strings raised TypeError.
                    known = ", ".join(sorted(map(str, filters))) or "none defined"
                    issues.append(ConfigIssue(f"perspectives.{name}.rules.{position}.{side}",
                                              f"expected the name of a filter ({known}), found {reference!r}"))
    seen_actions: dict[str, str] = {}
    actions = _mapping(raw.get("actions"))
    for kind in ACTION_KINDS:
        entries = actions.get(kind) if isinstance(actions.get(kind), list) else []
        for position, action in enumerate(entries):
            action, path = _mapping(action), f"actions.{kind}.{position}"
            reference = action.get("perspective")
            if isinstance(reference, str) and reference not in perspectives:
                known = ", ".join(sorted(map(str, perspectives))) or "none defined"  # as for filters
                issues.append(ConfigIssue(f"{path}.perspective", f"expected the name of a perspective "
                                          f"({known}), found {reference!r}"))
            for field, section, known_names in (("mute", "mute_windows", _mapping(raw.get("mute_windows"))),
                                                ("target_groups", "snmp.target_groups",
                                                 _mapping(_mapping(raw.get("snmp")).get("target_groups")))):
                references = action.get(field) if isinstance(action.get(field), list) else []
                for index, reference in enumerate(references):
                    if isinstance(reference, str) and reference not in known_names:
                        known = ", ".join(sorted(map(str, known_names))) or "none defined"
                        issues.append(ConfigIssue(f"{path}.{field}.{index}", f"expected the name of one of "
                                                  f"{section} ({known}), found {reference!r}"))
            name = action.get("name")
            if isinstance(name, str) and name in seen_actions:
                issues.append(ConfigIssue(f"{path}.name", f"expected a unique action name, found "
                                          f"{name!r} also used at {seen_actions[name]}"))
            if isinstance(name, str):
                seen_actions.setdefault(name, path)
    issues += _capture_checks(raw)
    return issues


def _capture_checks(raw: dict[str, Any]) -> list[ConfigIssue]:
    """Capture actions need the capture section (its token guards the worker's download server),
    and a local agent must have the group they name."""
    entries = _mapping(raw.get("actions")).get("capture")
    entries = entries if isinstance(entries, list) else []
    if not entries:
        return []
    if not isinstance(raw.get("capture"), dict):
        return [ConfigIssue("capture", "expected a capture section (token, listen; interfaces and groups for "
                                       "agent: local) since actions.capture is used, found none")]
    groups = _mapping(raw["capture"].get("groups"))
    known_ids = {_mapping(group).get("id") for group in groups.values()}
    issues = []
    for position, action in enumerate(entries):
        action = _mapping(action)
        group = action.get("group")
        if action.get("agent", "local") == "local" and isinstance(group, int) and group not in known_ids:
            known = ", ".join(f"{_mapping(g).get('id')} ({n})" for n, g in groups.items()) or "none defined"
            issues.append(ConfigIssue(f"actions.capture.{position}.group", f"expected the id of one of "
                                      f"capture.groups ({known}), found {group}"))
    return issues


def _environment_overrides(raw: dict[str, Any]) -> list[ConfigIssue]:
    issues = []
    # A section that is present but not a mapping (``kafka:`` alone is None) is left as it is for
    # the model to report; assigning into it raised TypeError.
    if os.environ.get(ENV_BOOTSTRAP):
        kafka = raw.setdefault("kafka", {})
        if isinstance(kafka, dict):
            kafka["bootstrap_servers"] = os.environ[ENV_BOOTSTRAP]
    port = os.environ.get(ENV_METRICS_PORT)
    if port:
        # isascii: str.isdigit() is also true for "²", which int() rejects with ValueError.
        if port.isascii() and port.isdigit():
            metrics = raw.setdefault("metrics", {})
            if isinstance(metrics, dict):
                metrics["port"] = int(port)
        else:
            issues.append(ConfigIssue(f"metrics.port (from ${ENV_METRICS_PORT})",
                                      f"expected a port number, found {port!r}"))
    return issues


def parse_settings(text: str, file: str = "<config>") -> Settings:
    """Validate YAML text; raises ConfigError listing every problem found."""
    return parse_document(text, file, Settings, _cross_checks)


DocumentT = TypeVar("DocumentT", bound=BaseModel)


def parse_document(text: str, file: str, model: type[DocumentT],
                   cross_checks: Callable[[dict[str, Any]], list[ConfigIssue]] | None = None) -> DocumentT:
    """YAML text validated as ``model``, with the environment overrides applied; raises
    ConfigError listing every problem found, each with its line."""
    try:
        node = yaml.compose(text, Loader=_LineTrackingLoader)
        raw = yaml.load(text, Loader=_LineTrackingLoader)
    except (yaml.YAMLError, ValueError) as exc:
        # ValueError: PyYAML's scalar constructors raise it, not a YAMLError, for values they
        # recognise but cannot build (a date 2025-02-30, an integer of more than 4300 digits).
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(file, [ConfigIssue("(yaml)", f"expected valid YAML, found {problem}",
                                             mark.line + 1 if mark else None)]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(file, [ConfigIssue("", f"expected a mapping of sections, found {type(raw).__name__}")])
    lines = _line_index(node)
    issues = _environment_overrides(raw)
    document = None
    try:
        document = model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            path = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
            issues.append(ConfigIssue(path, _pydantic_message(error)))
    if cross_checks is not None:
        issues += cross_checks(raw)
    if issues:
        raise ConfigError(file, [ConfigIssue(i.path, i.message, _nearest_line(lines, i.path)) for i in issues])
    assert document is not None
    return document


def _nearest_line(lines: dict[str, int], path: str) -> int | None:
    parts = path.split(".")
    while parts:
        if ".".join(parts) in lines:
            return lines[".".join(parts)]
        parts.pop()
    return None


def read_config_file(path: str | os.PathLike[str]) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [ConfigIssue("", f"expected a readable UTF-8 YAML file, found: {exc}")]) from None


def load_settings(path: str | os.PathLike[str]) -> Settings:
    return parse_settings(read_config_file(path), str(path))
