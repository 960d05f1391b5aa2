"""The Grafana dashboard has the structure Grafana needs, uses the provisioned datasource and only
metrics the worker exports, and charts every one of them. (Grafana itself cannot be installed
here; the end-to-end test in test_prometheus.py runs every panel query on a real Prometheus.)"""

from __future__ import annotations

import itertools

from .files import GRAFANA_PROVISIONING, dashboard, dashboard_expressions, provisioned_datasources, yaml_file
from .promql import SCRAPE_SERIES, exported_series_names, metric_names_in, series_by_family

GRID_COLUMNS = 24


def prometheus_datasource_uid() -> str:
    (source,) = provisioned_datasources()
    assert source["type"] == "prometheus" and source["uid"]
    return source["uid"]


def test_dashboard_has_the_top_level_fields_grafana_needs() -> None:
    board = dashboard()
    assert isinstance(board["uid"], str) and board["uid"] and board["title"]
    assert isinstance(board["schemaVersion"], int) and board["panels"]
    assert board["time"]["from"] and board["time"]["to"]


def test_panel_ids_are_unique_integers() -> None:
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert all(isinstance(panel_id, int) for panel_id in ids) and len(set(ids)) == len(ids)


def test_panels_fit_the_grid_without_overlapping() -> None:
    boxes = []
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        x, y, w, h = (grid[key] for key in "xywh")
        assert all(isinstance(value, int) for value in (x, y, w, h)), panel["title"]
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= GRID_COLUMNS, panel["title"]
        boxes.append((panel["title"], x, y, w, h))
    for (a, ax, ay, aw, ah), (b, bx, by, bw, bh) in itertools.combinations(boxes, 2):
        overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
        assert not overlap, f"{a!r} overlaps {b!r}"


def test_every_panel_queries_the_provisioned_datasource() -> None:
    uid = prometheus_datasource_uid()
    for panel in dashboard()["panels"]:
        assert panel["type"] and panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        targets = panel["targets"]
        assert targets, panel["title"]
        ref_ids = [target["refId"] for target in targets]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]
        for target in targets:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == uid, panel["title"]


def test_dashboard_uses_only_metrics_the_worker_exports() -> None:
    known = exported_series_names() | SCRAPE_SERIES
    unknown = {name for expr in dashboard_expressions() for name in metric_names_in(expr)} - known
    assert not unknown


def test_dashboard_charts_every_worker_metric() -> None:
    # A metric added to streams/metrics.py or sinks/metrics.py needs a panel in
    # deploy/grafana/dashboards/ads-actions.json.
    charted = {name for expr in dashboard_expressions() for name in metric_names_in(expr)}
    uncharted = {family for family, series in series_by_family().items() if not series & charted}
    assert not uncharted


def test_dashboard_provider_is_a_file_provider() -> None:
    for path in (GRAFANA_PROVISIONING / "dashboards").glob("*.yml"):
        provisioning = yaml_file(path)
        assert provisioning["apiVersion"] == 1
        for provider in provisioning["providers"]:
            assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
