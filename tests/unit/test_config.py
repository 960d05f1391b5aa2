"""The configuration model: defaults, validation messages with file, path and line, environment
overrides, duplicate YAML keys, cross-section checks, and that every error is reported at once."""

from __future__ import annotations

import re
from textwrap import dedent

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from streams.config import ConfigError, ConfigIssue, Settings, load_settings, parse_settings
from streams.priorities import Priority

MINIMAL = dedent("""\
    perspectives:
      security:
        id: 1
        rules:
          - {types: [SCANS], priority: HIGH}
""")

# Every formatted issue: FILE: dotted.path: expected ..., found ... (line N)
ISSUE_FORMAT = re.compile(r"^cfg\.yaml: \S.*: expected .+ \(line \d+\)$")


def issues_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_settings(text, "cfg.yaml")
    assert raised.value.file == "cfg.yaml"
    formatted = [issue.format("cfg.yaml") for issue in raised.value.issues]
    # str(ConfigError) is what check-config prints: one issue per line.
    assert str(raised.value) == "\n".join(formatted)
    return formatted


# --- valid configurations --------------------------------------------------------------------

def test_minimal_configuration_gets_every_default():
    loaded = parse_settings(MINIMAL, "cfg.yaml")
    assert isinstance(loaded, Settings)
    assert loaded.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert loaded.kafka.partitions == 4
    assert loaded.topics.events == "ads.events"
    assert loaded.topics.actions.script == "ads.action.script"
    assert loaded.input.format == "json"
    assert loaded.input.max_message_bytes == 256 * 1024
    assert loaded.input.dedup_retention == 7 * 86400.0
    assert loaded.metrics.port == 9464
    assert loaded.worker.batch_timeout == 0.05
    assert loaded.filters == {}
    rule = loaded.perspectives["security"].rules[0]
    assert (rule.types, rule.priority, rule.subtypes, rule.source, rule.target) == (["SCANS"], Priority.HIGH, [], None, None)
    assert loaded.actions.by_kind() == {"email": [], "syslog": [], "snmp": [], "script": [], "capture": []}


def test_durations_priorities_and_filter_shorthand_are_converted():
    loaded = parse_settings(MINIMAL + dedent("""\
        input: {dedup_retention: 2d}
        worker: {batch_timeout: 250ms}
        kafka: {session_timeout: 1m}
        filters:
          internal: [10.0.0.0/8, "fd00::/8", 192.168.0.1-192.168.0.9]
          staff: {difference: [internal, guests]}
          guests: [10.99.0.0/16]
          everyone: {union: [internal, guests]}
          external: {not: internal}
        actions:
          email:
            - {name: soc, perspective: security, min_priority: informational, active: false,
               recipients: [soc@example.org]}
    """), "cfg.yaml")
    assert loaded.input.dedup_retention == 172800.0
    assert loaded.worker.batch_timeout == 0.25
    assert loaded.kafka.session_timeout == 60.0
    assert loaded.filters["internal"].networks == ["10.0.0.0/8", "fd00::/8", "192.168.0.1-192.168.0.9"]
    assert loaded.filters["staff"].definition().difference == ("internal", "guests")
    assert loaded.filters["everyone"].definition().union == ("internal", "guests")
    assert loaded.filters["external"].definition().inverse_of == "internal"
    email = loaded.actions.email[0]
    assert (email.name, email.perspective, email.min_priority, email.active) == (
        "soc", "security", Priority.INFORMATION, False)


def test_settings_are_frozen():
    loaded = parse_settings(MINIMAL)
    with pytest.raises(ValidationError):
        loaded.kafka.partitions = 8  # type: ignore[misc]


# --- environment overrides -----------------------------------------------------------------------

def test_environment_overrides_bootstrap_servers_and_metrics_port(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    monkeypatch.setenv("ADS_ACTIONS_METRICS_PORT", "0")
    loaded = parse_settings(MINIMAL + "kafka: {bootstrap_servers: file:9092, partitions: 2}\nmetrics: {port: 1234}\n")
    assert loaded.kafka.bootstrap_servers == "broker-1:9092,broker-2:9092"
    assert loaded.kafka.partitions == 2  # the rest of the section is kept
    assert loaded.metrics.port == 0


def test_empty_environment_variables_do_not_override(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "")
    monkeypatch.setenv("ADS_ACTIONS_METRICS_PORT", "")
    loaded = parse_settings(MINIMAL + "kafka: {bootstrap_servers: file:9092}\n")
    assert (loaded.kafka.bootstrap_servers, loaded.metrics.port) == ("file:9092", 9464)


@pytest.mark.parametrize("port", ["http", "-1", "9464x", "²"])  # "²".isdigit() is true, int("²") is not
def test_invalid_metrics_port_from_environment_is_reported(monkeypatch, port):
    monkeypatch.setenv("ADS_ACTIONS_METRICS_PORT", port)
    with pytest.raises(ConfigError) as raised:
        parse_settings(MINIMAL, "cfg.yaml")
    assert [i.format("cfg.yaml") for i in raised.value.issues] == [
        f"cfg.yaml: metrics.port (from $ADS_ACTIONS_METRICS_PORT): expected a port number, found {port!r}"]


def test_out_of_range_metrics_port_from_environment_is_reported(monkeypatch):
    monkeypatch.setenv("ADS_ACTIONS_METRICS_PORT", "70000")
    with pytest.raises(ConfigError) as raised:
        parse_settings(MINIMAL, "cfg.yaml")
    assert [(i.path, i.message) for i in raised.value.issues] == [
        ("metrics.port", "expected less than or equal to 65535, found 70000")]


@pytest.mark.parametrize("section", ["kafka:\n", "kafka: [a]\n", "kafka: text\n"])
def test_environment_override_with_a_section_that_is_not_a_mapping(monkeypatch, section):
    # Used to raise TypeError while assigning into None / a list / a string; now the section's
    # own type error is reported, exactly as without the environment variable.
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("ADS_ACTIONS_METRICS_PORT", "1")
    found = issues_of(section + MINIMAL)
    assert len(found) == 1
    assert found[0].startswith("cfg.yaml: kafka: expected a valid dictionary or instance of KafkaSettings, found ")


# --- YAML-level problems -------------------------------------------------------------------------

def test_duplicate_keys_are_rejected_with_their_line():
    text = MINIMAL + "metrics: {port: 1}\nmetrics: {port: 2}\n"
    assert issues_of(text) == ["cfg.yaml: (yaml): expected valid YAML, found expected unique keys, "
                               "found 'metrics' twice (line 7)"]


def test_nested_duplicate_keys_are_rejected():
    text = dedent("""\
        perspectives:
          security:
            id: 1
            id: 2
            rules: [{types: [SCANS], priority: HIGH}]
    """)
    assert issues_of(text) == ["cfg.yaml: (yaml): expected valid YAML, found expected unique keys, "
                               "found 'id' twice (line 4)"]


def test_yaml_syntax_error_is_reported_with_its_line():
    found = issues_of(MINIMAL + "kafka: {partitions: 2\n")
    assert len(found) == 1
    assert found[0].startswith("cfg.yaml: (yaml): expected valid YAML, found ")
    assert found[0].endswith("(line 7)")


@pytest.mark.parametrize("text, why", [
    ("? [1]\n: 2\n" + MINIMAL, "a list as a key raised TypeError (unhashable)"),
    (MINIMAL.replace("id: 1", "id: 1\n    description: 2025-02-30"),
     "PyYAML raises a plain ValueError for a date that does not exist"),
    ("kafka: {partitions: " + "1" * 5000 + "}\n" + MINIMAL, "int() refuses more than 4300 digits with ValueError"),
])
def test_yaml_values_pyyaml_cannot_construct_are_config_errors(text, why):
    found = issues_of(text)
    assert len(found) == 1, why
    assert found[0].startswith("cfg.yaml: (yaml): expected valid YAML, found "), why


@pytest.mark.parametrize("text, found", [("[1, 2]\n", "list"), ("just text\n", "str"), ("42\n", "int")])
def test_document_must_be_a_mapping(text, found):
    assert issues_of(text) == [f"cfg.yaml: (top level): expected a mapping of sections, found {found}"]


def test_empty_document_reports_the_missing_perspectives():
    assert issues_of("") == ["cfg.yaml: perspectives: expected this setting, found nothing"]


# --- model validation messages ---------------------------------------------------------------------

@pytest.mark.parametrize("extra, expected", [
    ("kafka: {partitions: 0}\n",
     "cfg.yaml: kafka.partitions: expected greater than or equal to 1, found 0 (line 6)"),
    ("kafka: {partitions: many}\n",
     "cfg.yaml: kafka.partitions: expected a valid integer, unable to parse string as an integer, found 'many' (line 6)"),
    ("kafka: {partitons: 2}\n",
     "cfg.yaml: kafka.partitons: expected no such setting (misspelt?), found 'partitons' (line 6)"),
    ("topics: {events: 'ads events'}\n",
     "cfg.yaml: topics.events: expected a Kafka topic name (letters, digits, . _ -), found 'ads events' (line 6)"),
    ("input: {dedup_retention: soon}\n",
     "cfg.yaml: input.dedup_retention: expected a duration such as 30s, 10m, 7d, found 'soon' (line 6)"),
    ("input: {dedup_retention: .nan}\n",
     "cfg.yaml: input.dedup_retention: expected a finite duration, found nan (line 6)"),
    ("input: {format: xml}\n",
     "cfg.yaml: input.format: expected 'json' or 'avro', found 'xml' (line 6)"),
    ("worker: {log_level: loud}\n",
     "cfg.yaml: worker.log_level: expected 'debug', 'info', 'warn' or 'error', found 'loud' (line 6)"),
    ("filters: {internal: [10.0.0.0/8, 10.0.0.300]}\n",
     "cfg.yaml: filters.internal.networks: item 1: expected an address, CIDR network or range a-b, found "
     "'10.0.0.300' ('10.0.0.300' does not appear to be an IPv4 or IPv6 address) (line 6)"),
    ("filters: {a: [1.2.3.4], both: {networks: [1.2.3.4], not: a}}\n",
     "cfg.yaml: filters.both: expected exactly one of networks, union, difference, not; found networks, not (line 6)"),
    ("filters: {none: {}}\n",
     "cfg.yaml: filters.none: expected exactly one of networks, union, difference, not; found none (line 6)"),
    ("filters: {'bad name!': [1.2.3.4]}\n",
     "cfg.yaml: filters.bad name!.[key]: expected a valid value: string should match pattern "
     "'^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$', found 'bad name!' (line 6)"),
])
def test_each_invalid_setting_is_reported_with_path_expectation_and_line(extra, expected):
    assert issues_of(MINIMAL + extra) == [expected]


def test_rule_problems_point_at_the_rule_line():
    text = dedent("""\
        perspectives:
          security:
            id: 1
            rules:
              - types: [SCANS]
                priority: URGENT
              - types: [scans]
                priority: HIGH
              - priority: LOW
    """)
    assert issues_of(text) == [
        "cfg.yaml: perspectives.security.rules.0.priority: expected one of CRITICAL, HIGH, MEDIUM, LOW, "
        "INFORMATION (or INFORMATIONAL), found 'URGENT' (line 6)",
        "cfg.yaml: perspectives.security.rules.1.types.0: expected a valid value: string should match "
        "pattern '^[A-Z0-9_]{1,32}$', found 'scans' (line 7)",
        "cfg.yaml: perspectives.security.rules.2.types: expected this setting, found nothing (line 9)",
    ]


def test_perspective_id_must_fit_the_avro_int_of_routed_messages():
    # RoutedAction.perspectiveId is an Avro int: a larger ID loaded fine, then every routed message
    # failed to encode.
    assert issues_of(MINIMAL.replace("id: 1", "id: 2147483648")) == [
        "cfg.yaml: perspectives.security.id: expected less than or equal to 2147483647, found 2147483648 (line 3)"]
    assert parse_settings(MINIMAL.replace("id: 1", "id: 2147483647")).perspectives["security"].id == 2**31 - 1


def test_issue_without_a_line_or_path():
    assert ConfigIssue("", "expected x, found y").format("f.yaml") == "f.yaml: (top level): expected x, found y"
    assert ConfigIssue("a.b", "expected x, found y", 3).format("f.yaml") == "f.yaml: a.b: expected x, found y (line 3)"


# --- cross-section checks ----------------------------------------------------------------------

def test_rules_referring_to_unknown_filters_are_reported():
    text = MINIMAL.replace("{types: [SCANS], priority: HIGH}",
                           "{types: [SCANS], priority: HIGH, source: staff, target: nowhere}")
    text += "filters: {staff: [10.0.0.0/8]}\n"
    assert issues_of(text) == [
        "cfg.yaml: perspectives.security.rules.0.target: expected the name of a filter (staff), found 'nowhere' (line 5)"]


def test_unknown_filter_reference_inside_a_filter_is_reported():
    assert issues_of(MINIMAL + "filters:\n  staff: {difference: [internal, guests]}\n  guests: [10.99.0.0/16]\n") == [
        "cfg.yaml: filters.staff.difference: expected the name of a defined filter, found 'internal' (line 7)"]


def test_filter_cycles_are_reported():
    text = MINIMAL + "filters:\n  a: {union: [b]}\n  b: {not: a}\n"
    assert issues_of(text) == [
        "cfg.yaml: filters.b.not: expected filters without cycles, found the cycle a -> b -> a (line 8)"]


def test_every_broken_filter_is_reported_not_only_the_first():
    # compile_filters stops at its first error; the configuration check must still list them all.
    text = MINIMAL + dedent("""\
        filters:
          a: {union: [x]}
          b: {not: y}
          c: {not: c}
          d: {difference: [a, b]}
    """)
    assert issues_of(text) == [
        "cfg.yaml: filters.a.union: expected the name of a defined filter, found 'x' (line 7)",
        "cfg.yaml: filters.b.not: expected the name of a defined filter, found 'y' (line 8)",
        "cfg.yaml: filters.c.not: expected filters without cycles, found the cycle c -> c (line 9)",
    ]


@pytest.mark.parametrize("spec", ["{}", "{not: 5}", "{difference: []}", "{union: 5}", "{union: []}"])
def test_filters_without_a_usable_shape_are_reported_not_crashed_on(spec):
    # These shapes reached compile_filters with no reference and raised IndexError.
    found = issues_of(MINIMAL + f"filters:\n  broken: {spec}\n  user: {{not: broken}}\n")
    assert len(found) == 1
    assert found[0].startswith("cfg.yaml: filters.broken")
    assert found[0].endswith("(line 7)")


def test_actions_referring_to_unknown_perspectives_are_reported():
    text = MINIMAL + "actions:\n  syslog:\n    - {name: siem, perspective: secrity}\n"
    assert issues_of(text) == [
        "cfg.yaml: actions.syslog.0.perspective: expected the name of a perspective (security), found 'secrity' (line 8)"]


def test_duplicate_action_names_are_reported_across_kinds():
    text = MINIMAL + dedent("""\
        actions:
          email:
            - {name: alert, perspective: security, recipients: [soc@example.org]}
          script:
            - {name: other, perspective: security, script: a.sh}
            - {name: alert, perspective: security, script: a.sh}
    """)
    assert issues_of(text) == [
        "cfg.yaml: actions.script.1.name: expected a unique action name, found 'alert' also used at actions.email.0 (line 11)"]


def test_duplicate_perspective_ids_are_reported():
    text = MINIMAL + "  operations:\n    id: 1\n    rules: [{types: [DOS], priority: HIGH}]\n"
    assert issues_of(text) == [
        "cfg.yaml: perspectives.operations.id: expected a unique perspective ID, found 1 also used by 'security' (line 7)"]


def test_unhashable_perspective_id_is_a_type_error_not_a_crash():
    # The duplicate-ID check did `[1] in seen_ids` and raised TypeError.
    text = MINIMAL.replace("id: 1", "id: [1]")
    assert issues_of(text) == ["cfg.yaml: perspectives.security.id: expected a valid integer, found a list (line 3)"]


def test_numeric_yaml_keys_are_reported_not_crashed_on():
    # Listing the known names sorted a mix of numbers and strings and raised TypeError.
    text = ("filters: {1: [1.2.3.4], internal: [10.0.0.0/8]}\n"
            + MINIMAL.replace("priority: HIGH}", "priority: HIGH, source: nowhere}")
            + "  2: {id: 2, rules: [{types: [DOS], priority: LOW}]}\n"
            + "actions: {email: [{name: a, perspective: ghost, recipients: [a@example.org]}]}\n")
    assert issues_of(text) == [
        "cfg.yaml: filters.1.[key]: expected a valid string, found 1 (line 1)",
        "cfg.yaml: perspectives.2.[key]: expected a valid string, found 2 (line 7)",
        "cfg.yaml: perspectives.security.rules.0.source: expected the name of a filter (1, internal), found 'nowhere' (line 6)",
        "cfg.yaml: actions.email.0.perspective: expected the name of a perspective (2, security), found 'ghost' (line 8)",
    ]


def test_all_errors_of_a_file_are_reported_together():
    text = dedent("""\
        kafka:
          partitions: 0
          bogus: 1
        input:
          dedup_retention: soon
        filters:
          loop: {not: loop}
        perspectives:
          p:
            id: 1
            rules:
              - types: [SCANS]
                priority: URGENT
                source: nowhere
          q:
            id: 1
            rules: []
        actions:
          email:
            - {name: a, perspective: p, min_priority: high, recipients: [a@example.org]}
          syslog:
            - {name: a, perspective: ghost}
    """)
    found = issues_of(text)
    assert all(ISSUE_FORMAT.match(line) for line in found), found
    assert [line.split(": ")[1] for line in found] == [
        "kafka.partitions", "kafka.bogus", "input.dedup_retention", "perspectives.p.rules.0.priority",
        "perspectives.q.rules", "filters.loop.not", "perspectives.p.rules.0.source", "perspectives.q.id",
        "actions.syslog.0.perspective", "actions.syslog.0.name"]
    assert [int(line.rsplit("(line ", 1)[1].rstrip(")")) for line in found] == [2, 3, 5, 13, 17, 7, 14, 16, 22, 22]


def test_load_settings_reports_an_unreadable_file(tmp_path):
    missing = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as raised:
        load_settings(missing)
    assert raised.value.file == str(missing)
    assert raised.value.issues[0].message.startswith("expected a readable UTF-8 YAML file, found: ")


# --- property: any document gives Settings or a ConfigError ------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**40), st.floats(allow_nan=True),
                     st.sampled_from(["", "x", "HIGH", "5s", "10.0.0.0/8", "security", "internal", "SCANS", "json"]),
                     st.text(max_size=8))
_keys = st.one_of(st.sampled_from(["id", "rules", "types", "priority", "source", "target", "name", "perspective",
                                   "networks", "union", "difference", "not", "min_priority", "active", "port",
                                   "bootstrap_servers", "partitions", "dedup_retention", "internal", "security"]),
                  st.text(max_size=6), st.integers(0, 3))
_anything = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(_keys, inner, max_size=4)), max_leaves=12)
_rule = st.fixed_dictionaries({}, optional={"types": st.one_of(st.just(["SCANS"]), _anything),
                                            "priority": st.one_of(st.just("HIGH"), _anything),
                                            "source": _anything, "target": _anything, "subtypes": _anything})
# Well-formed rules and perspectives now and then, so that some documents are valid as a whole.
_good_rule = st.fixed_dictionaries({"types": st.just(["SCANS"]), "priority": st.sampled_from(["HIGH", "low"])},
                                   optional={"source": st.sampled_from(["internal", "dmz"]),
                                             "target": st.sampled_from(["internal", "dmz"])})
_perspective = st.one_of(
    st.fixed_dictionaries({"id": st.integers(0, 3), "rules": st.lists(_good_rule, min_size=1, max_size=2)}),
    st.fixed_dictionaries({}, optional={"id": st.one_of(st.integers(0, 3), _anything),
                                        "rules": st.one_of(st.lists(st.one_of(_rule, _good_rule), max_size=3),
                                                           _anything)}))
_filter = st.one_of(st.lists(st.sampled_from(["10.0.0.0/8", "::1", "1.2.3.4-1.2.3.9", "bad"]), max_size=3),
                    st.fixed_dictionaries({}, optional={"networks": _anything, "union": _anything,
                                                        "difference": _anything, "not": _anything}), _anything)
_action = st.fixed_dictionaries({}, optional={"name": st.one_of(st.sampled_from(["a", "b"]), _anything),
                                              "perspective": st.one_of(st.sampled_from(["security", "ops"]), _anything),
                                              "min_priority": _anything, "active": _anything})
_mostly_valid = st.fixed_dictionaries(
    {"perspectives": st.dictionaries(st.sampled_from(["security", "ops"]), _perspective.filter(lambda p: "rules" in p),
                                     min_size=1, max_size=2)},
    optional={"filters": st.fixed_dictionaries({"internal": st.just(["10.0.0.0/8"]), "dmz": _filter}),
              "actions": st.fixed_dictionaries({}, optional={"email": st.lists(_action, max_size=2)}),
              "kafka": st.fixed_dictionaries({}, optional={"partitions": st.integers(0, 3)})})
_any_shape = st.fixed_dictionaries({}, optional={
    "kafka": st.one_of(st.fixed_dictionaries({}, optional={"partitions": _anything, "session_timeout": _anything}),
                       _anything),
    "input": st.one_of(st.fixed_dictionaries({}, optional={"dedup_retention": _anything, "max_targets": _anything}),
                       _anything),
    "metrics": _anything,
    "filters": st.one_of(st.dictionaries(st.one_of(st.sampled_from(["internal", "dmz", "security"]), _keys),
                                         _filter, max_size=3), _anything),
    "perspectives": st.one_of(st.dictionaries(st.sampled_from(["security", "ops"]), _perspective, max_size=2),
                              st.dictionaries(st.one_of(st.sampled_from(["security", "ops"]), _keys),
                                              _perspective, max_size=3), _anything),
    "actions": st.one_of(st.fixed_dictionaries({}, optional={
        kind: st.one_of(st.lists(_action, max_size=3), _anything) for kind in ("email", "syslog", "script")}),
        _anything),
    "unknown": _anything,
})
_documents = st.one_of(_mostly_valid, _any_shape)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_documents, port=st.sampled_from([None, "8080", "x", "²"]),
       bootstrap=st.sampled_from([None, "broker:9092"]))
def test_any_document_gives_settings_or_a_config_error(document, port, bootstrap):
    text = yaml.safe_dump(document)
    try:
        with pytest.MonkeyPatch.context() as environment:
            for name, value in (("ADS_ACTIONS_METRICS_PORT", port), ("KAFKA_BOOTSTRAP_SERVERS", bootstrap)):
                if value is not None:
                    environment.setenv(name, value)
            loaded = parse_settings(text, "cfg.yaml")
    except ConfigError as error:
        assert error.issues
        for issue in error.issues:
            assert issue.format("cfg.yaml").startswith("cfg.yaml: ")
            assert "expected" in issue.message, issue
        return
    assert isinstance(loaded, Settings)
    assert loaded.perspectives
    if bootstrap:
        assert loaded.kafka.bootstrap_servers == bootstrap


def test_email_reports_refuse_addresses_that_could_add_headers_and_periods_that_do_not_divide_a_day():
    text = MINIMAL + dedent("""\
        email:
          periods: {HIGH: 7h}
          links: {event: "javascript:alert(1)"}
        actions:
          email:
            - {name: soc, perspective: security, recipients: ["soc@example.org\\nBcc: x@evil.example"]}
            - {name: noc, perspective: security, recipients: []}
    """)
    found = issues_of(text)
    assert [line.split(": ")[1] for line in found] == [
        "email.periods.HIGH", "email.links.event", "actions.email.0.recipients.0", "actions.email.1.recipients"]
    assert "expected a period that divides a day" in found[0]
    assert "expected an http(s) URL template" in found[1]
