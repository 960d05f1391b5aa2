"""The metric-name check of rules.yml and the dashboard is only as good as its lexer."""

from __future__ import annotations

from .promql import SCRAPE_SERIES, exported_series_names, metric_names_in, series_by_family


def test_lexer_finds_metric_names_and_skips_functions_labels_keywords_and_numbers() -> None:
    expr = ('histogram_quantile(0.99, sum by (le) (rate(foo_bucket{job="x", le=~"1.0|+Inf"}[$__rate_interval])))'
            ' > 1e3 and on(instance) bar offset 5m or absent(up{job="a"} == 1) > bool 2'
            ' unless sum without (reason) (baz) + max_over_time(qux[5m:1m])')
    assert metric_names_in(expr) == {"foo_bucket", "bar", "up", "baz", "qux"}


def test_a_misspelt_metric_name_is_not_among_the_exported_ones() -> None:
    known = exported_series_names() | SCRAPE_SERIES
    misspelt = 'sum by (reason) (increase(ads_actions_dead_letter_total{reason!="x"}[10m])) > 0'
    assert metric_names_in(misspelt) - known == {"ads_actions_dead_letter_total"}


def test_exported_names_carry_the_series_suffixes_of_each_metric_type() -> None:
    names = exported_series_names()
    assert {"ads_actions_dead_letters_total", "ads_actions_routing_latency_seconds_bucket",
            "ads_actions_routing_latency_seconds_count", "ads_actions_consumer_lag_messages"} <= names
    # Counter families are named without _total; the bare name is no series.
    assert "ads_actions_dead_letters" in series_by_family() and "ads_actions_dead_letters" not in names
