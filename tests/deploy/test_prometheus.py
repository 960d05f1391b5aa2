"""deploy/prometheus: promtool accepts the config and rules, the rules' unit tests pass, the rules
use only exported metrics, and a real Prometheus scrapes RouterMetrics output, evaluates every rule
without error and answers every dashboard query."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from streams.metrics import RouterMetrics
from streams.processes import terminate

from .files import PROMETHEUS_CONFIG, PROMETHEUS_RULES, dashboard_expressions, rule_expressions, yaml_file
from .promql import SCRAPE_SERIES, exported_series_names, metric_names_in

RULES_UNIT_TESTS = Path(__file__).parent / "rules_test.yml"
WORKER_JOB = "ads-actions"
# Bounds, not expectations: the first scrape lands about 6 s after Prometheus starts.
STARTUP_DEADLINE_S = 60.0
# Grafana's range variables, given values a Prometheus query accepts.
GRAFANA_RANGE_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
SAMPLE_LAG = 25000

T = TypeVar("T")


def required_binary(name: str) -> str:
    # `make test` installs the apt package prometheus first: a missing binary is a broken setup, not a skip.
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install the apt package prometheus (`make install` does)")
    return path


def promtool(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([required_binary("promtool"), *arguments], capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_config() -> None:
    checked = promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", str(PROMETHEUS_RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_rules_unit_tests_pass() -> None:
    tested = promtool("test", "rules", str(RULES_UNIT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_rules_use_only_metrics_the_worker_exports() -> None:
    known = exported_series_names() | SCRAPE_SERIES
    unknown = {name: sorted(metric_names_in(expr) - known)
               for name, expr in rule_expressions().items() if metric_names_in(expr) - known}
    assert not unknown


def test_every_alert_has_a_severity_and_a_summary() -> None:
    for group in yaml_file(PROMETHEUS_RULES)["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]


# --- a real Prometheus scraping RouterMetrics --------------------------------------------------

class PrometheusServer:
    def __init__(self, process: subprocess.Popen, url: str, log: Path):
        self.process, self.url, self.log = process, url, log

    def api(self, path: str, **parameters: str) -> dict:
        """The JSON answer of an API call; a 4xx answer (a rejected query) is returned too."""
        try:
            with urlopen(f"{self.url}{path}?{urlencode(parameters)}", timeout=10) as response:
                return json.load(response)
        except HTTPError as error:
            return json.load(error)

    def query(self, expr: str) -> dict:
        return self.api("/api/v1/query", query=expr)

    def wait_for(self, what: str, condition: Callable[[], T | None]) -> T:
        """Poll until condition() returns something truthy; fail at the deadline or if Prometheus exits."""
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while True:
            try:
                result = condition()
            except URLError:  # not listening yet
                result = None
            if result:
                return result
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {STARTUP_DEADLINE_S} s:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def worker_metrics_address() -> Iterator[str]:
    """A stand-in for a worker: RouterMetrics with a sample in every metric, over HTTP."""
    registry = CollectorRegistry()
    metrics = RouterMetrics(registry)
    metrics.child(metrics.consumed, "ads.events").inc(120)
    metrics.child(metrics.skipped, "duplicate").inc(4)
    metrics.child(metrics.rehomed, "ads.events").inc(2)
    metrics.child(metrics.dead_letters, "invalid_json").inc(3)
    metrics.child(metrics.matched, "security", "CRITICAL").inc(100)
    metrics.child(metrics.routed, "security", "CRITICAL", "soc-reports", "email").inc(100)
    metrics.unrouted.inc(16)
    for seconds in (0.004, 0.02, 0.3, 1.5):
        metrics.latency.observe(seconds)
    metrics.child(metrics.lag, "ads.events", "0").set(SAMPLE_LAG)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def prometheus(worker_metrics_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """The shipped prometheus.yml and rules.yml, with the worker job pointed at the stand-in and
    one-second intervals so rules are evaluated soon after the first scrape."""
    binary = required_binary("prometheus")
    directory = tmp_path_factory.mktemp("prometheus")
    config = yaml_file(PROMETHEUS_CONFIG)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_RULES)]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == WORKER_JOB]
    del job["dns_sd_configs"]
    job["static_configs"] = [{"targets": [worker_metrics_address]}]
    config_file = directory / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    log = directory / "prometheus.log"
    with log.open("wb") as log_stream:
        process = subprocess.Popen(
            [binary, f"--config.file={config_file}", f"--web.listen-address=127.0.0.1:{port}",
             f"--storage.tsdb.path={directory / 'data'}"],
            stdout=log_stream, stderr=subprocess.STDOUT)
    try:
        yield PrometheusServer(process, f"http://127.0.0.1:{port}", log)
    finally:
        terminate(process, 30)


def series(prometheus: PrometheusServer, expr: str) -> list[dict]:
    answer = prometheus.query(expr)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_prometheus_scrapes_the_worker_metrics(prometheus: PrometheusServer) -> None:
    consumed = prometheus.wait_for("scraped worker sample", lambda: series(
        prometheus, f'ads_actions_events_consumed_total{{job="{WORKER_JOB}"}}'))
    assert [(s["metric"]["topic"], s["value"][1]) for s in consumed] == [("ads.events", "120")]


def test_an_alert_expression_selects_the_lagging_partition(prometheus: PrometheusServer) -> None:
    expr = rule_expressions()["AdsActionsConsumerLagHigh"]
    lagging = prometheus.wait_for("lag alert result", lambda: series(prometheus, expr))
    assert [(s["metric"], s["value"][1]) for s in lagging] == [
        ({"topic": "ads.events", "partition": "0"}, str(SAMPLE_LAG))]


def test_prometheus_evaluates_every_rule_without_error(prometheus: PrometheusServer) -> None:
    def evaluated_rules() -> list[dict] | None:
        groups = prometheus.api("/api/v1/rules")["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        # After the first scrape, so that the rules see the worker's series.
        scraped = series(prometheus, f'up{{job="{WORKER_JOB}"}} == 1')
        return rules if scraped and rules and all(r["health"] != "unknown" for r in rules) else None

    rules = prometheus.wait_for("evaluation of every rule", evaluated_rules)
    assert {rule["name"] for rule in rules} == set(rule_expressions())
    assert [(rule["name"], rule["health"], rule.get("lastError", "")) for rule in rules] == [
        (rule["name"], "ok", "") for rule in rules]
    # The lag (above the threshold in the samples) makes its alert pending: for 10 minutes.
    alerts = prometheus.wait_for("pending lag alert", lambda: [
        alert for alert in prometheus.api("/api/v1/alerts")["data"]["alerts"]
        if alert["labels"]["alertname"] == "AdsActionsConsumerLagHigh"])
    assert [alert["state"] for alert in alerts] == ["pending"]


@pytest.mark.parametrize("expr", dashboard_expressions())
def test_prometheus_accepts_the_dashboard_query(prometheus: PrometheusServer, expr: str) -> None:
    for variable, value in GRAFANA_RANGE_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unsubstituted Grafana variable in {expr}"
    answer = prometheus.wait_for("query answer", lambda: prometheus.query(expr))
    assert answer["status"] == "success", answer
