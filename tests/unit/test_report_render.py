"""Report mail formats (sinks/reports/render.py): every format rendered and parsed back with the
``email`` package, as a mail client reads it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sinks.reports.render import ReportTemplates, header_text, render_mails
from streams.priorities import Priority
from tests.report_samples import (FROM_ADDRESS, RECIPIENTS, HtmlTables, ads_event, body_text,
                                  catalogue_detail, csv_rows, hostile_event, leaf_parts, report_content,
                                  report_settings, reparsed, subject)

TEMPLATES = ReportTemplates()
TARGETS = [f"192.168.112.{n}" for n in range(1, 14)]  # 13: three more than a mail shows


def sample_events():
    """Two SCANS from 10.0.0.5 (13 targets, flows), one SCANS from an IPv6 host, one DNSANOMALY."""
    return [
        ads_event(5102353, "SCANS", "10.0.0.5", 3, targets=TARGETS, subtype="TCP SYN",
                  flows=[{"src": "10.0.0.5", "dst": "192.168.112.1", "dport": "22", "packets": "3"},
                         {"src": "10.0.0.5", "dst": "192.168.112.2", "dport": "22", "packets": "1"}],
                  userIdentity="alice@corp.example"),
        ads_event(5102354, "DNSANOMALY", "10.0.0.7", 4, targets=["8.8.8.8"]),
        ads_event(5102355, "SCANS", "10.0.0.5", 5, flows=[{"src": "10.0.0.5", "dst": "192.168.112.9",
                                                            "bytes": "120"}]),
        ads_event(5102356, "SCANS", "2001:db8::7", 6),
    ]


def render(settings, events, **kwargs):
    return [reparsed(mail) for mail in render_mails(report_content(settings, events, **kwargs), settings, TEMPLATES)]


def assert_common_headers(mail, report_format):
    assert mail["From"] == FROM_ADDRESS
    assert [address.addr_spec for address in mail["To"].addresses] == RECIPIENTS
    assert mail["Date"].datetime.isoformat() == "2026-11-22T18:00:00+01:00"  # the period's end
    assert mail["Message-ID"].startswith("<ads-actions.") and mail["Message-ID"].endswith("@reports.example.org>")
    assert mail["X-ADS-Actions-Report"] == "soc-reports"
    assert mail["X-ADS-Actions-Priority"] == "HIGH"
    assert mail["X-ADS-Actions-Period"] == "2026-11-22T16:00:00Z/2026-11-22T17:00:00Z"
    assert mail["X-ADS-Actions-Format"] == report_format
    assert mail["Auto-Submitted"] == "auto-generated"
    assert "Bcc" not in mail and "Cc" not in mail


# ---- full ----

def test_full_is_one_multipart_alternative_mail_with_text_and_an_html_table_per_type():
    [mail] = render(report_settings("full"), sample_events())
    assert_common_headers(mail, "full")
    assert subject(mail) == ("[ADS] HIGH hourly report soc-reports: 4 events (3 SCANS, 1 DNSANOMALY), "
                               "2026-11-22 17:00-18:00 CET")
    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in leaf_parts(mail)] == ["text/plain", "text/html"]
    html = HtmlTables(mail.get_body(preferencelist=("html",)).get_content())
    assert html.table("types") == [["Events", "Type", "Description"], ["3", "SCANS", "Port scanning"],
                                   ["1", "DNSANOMALY", "DNS traffic anomaly"]]
    assert html.table("groups")[1:] == [["2", "SCANS", "10.0.0.5"], ["1", "DNSANOMALY", "10.0.0.7"],
                                        ["1", "SCANS", "2001:db8::7"]]
    scans = html.table("events", "SCANS")
    assert scans[0] == ["ID", "Detection time", "First flow", "Subtype", "Source", "Targets", "Detail", "Data feed",
                        "User identity"]
    assert [row[0] for row in scans[1:]] == ["5102353", "5102355", "5102356"]
    first = scans[1]
    assert first[1:5] == ["2026-11-22 17:03:00", "2026-11-22 16:58:00", "TCP SYN", "10.0.0.5"]
    assert first[5] == ", ".join(TARGETS[:10]) + " (+3 more)"
    assert first[6] == catalogue_detail("SCANS", 5102353 % 3)
    assert first[7:] == ["Default", "alice@corp.example"]
    assert [row[0] for row in html.table("events", "DNSANOMALY")[1:]] == ["5102354"]
    text = body_text(mail).splitlines()
    assert "== SCANS - Port scanning: 3 events ==" in text
    assert "5102353  2026-11-22 17:03:00  10.0.0.5  [TCP SYN]" in text
    assert f"    Detail: {catalogue_detail('SCANS', 5102353 % 3)}" in text


def test_active_links_link_event_ids_and_ips_only_when_on_and_only_in_full():
    [mail] = render(report_settings("full", active_links=True), sample_events())
    links = HtmlTables(mail.get_body(preferencelist=("html",)).get_content()).links
    assert ("https://ads.example.org/events/5102353", "5102353") in links
    assert ("https://ads.example.org/hosts/10.0.0.5", "10.0.0.5") in links
    assert ("https://ads.example.org/hosts/192.168.112.10", "192.168.112.10") in links
    assert ("https://ads.example.org/hosts/2001:db8::7", "2001:db8::7") in links
    assert "https://" not in body_text(mail)
    [plain] = render(report_settings("full"), sample_events())
    assert HtmlTables(plain.get_body(preferencelist=("html",)).get_content()).links == []
    ip_links_only = {"links": {"ip": "https://ads.example.org/h?ip={ip}"}}
    [no_event_url] = render(report_settings("full", email_section=ip_links_only, active_links=True), sample_events())
    links = HtmlTables(no_event_url.get_body(preferencelist=("html",)).get_content()).links
    assert links and all(href.startswith("https://ads.example.org/h?ip=") for href, _ in links)


def test_link_values_are_url_quoted():
    event = ads_event(7, "SCANS", "10.0.0.5", 1)
    settings = report_settings("full", email_section={"links": {"event": "https://x.example/e?id={id}&ip={ip}",
                                                                "ip": "https://x.example/h/{ip}"}},
                               active_links=True)
    [mail] = render(settings, [event])
    links = HtmlTables(mail.get_body(preferencelist=("html",)).get_content()).links
    assert ("https://x.example/e?id=7&ip={ip}", "7") in links  # only {id} in the event URL


def test_show_timezone_puts_the_zone_on_every_time():
    [mail] = render(report_settings("full", show_timezone=True), sample_events())
    scans = HtmlTables(mail.get_body(preferencelist=("html",)).get_content()).table("events", "SCANS")
    assert scans[1][1:3] == ["2026-11-22 17:03:00 CET", "2026-11-22 16:58:00 CET"]
    assert "5102353  2026-11-22 17:03:00 CET  10.0.0.5  [TCP SYN]" in body_text(mail).splitlines()
    [summer] = render(report_settings("compact", show_timezone=True, timezone="America/New_York"), sample_events())
    assert "5102353  2026-11-22 11:03:00 EST  10.0.0.5  [TCP SYN]" in body_text(summer).splitlines()


# ---- compact, extra compact ----

def test_compact_is_plain_text_with_targets_and_detail():
    [mail] = render(report_settings("compact"), sample_events())
    assert_common_headers(mail, "compact")
    assert mail.get_content_type() == "text/plain"
    lines = body_text(mail).splitlines()
    assert lines[:2] == ["Report soc-reports (perspective security): HIGH events",
                         "Hourly period 2026-11-22 17:00:00 CET to 2026-11-22 18:00:00 CET (Europe/Prague)"]
    assert "4 events of 2 types:" in lines
    assert "       3  SCANS - Port scanning" in lines
    assert "       2  SCANS         10.0.0.5" in lines
    assert "== DNSANOMALY - DNS traffic anomaly: 1 event ==" in lines
    assert "    Targets: " + ", ".join(TARGETS[:10]) + " (+3 more)" in lines
    assert "    First flow: 2026-11-22 16:58:00  Data feed: Default  User: alice@corp.example" in lines


def test_extra_compact_leaves_out_detail_and_targets():
    [mail] = render(report_settings("extra_compact", show_timezone=True), sample_events())
    assert_common_headers(mail, "extra_compact")
    text = body_text(mail)
    assert "5102353  2026-11-22 17:03:00  10.0.0.5" in text.splitlines()
    assert "== SCANS - Port scanning: 3 events ==" in text.splitlines()
    assert "Detail" not in text and "192.168.112.1" not in text and catalogue_detail("SCANS", 5102353 % 3) not in text


# ---- per event ----

def test_per_event_mails_carry_the_seeds_field_list_and_flows_as_csv():
    events = sample_events()
    mails = render(report_settings("per_event", attach_flows=True), events)
    assert len(mails) == 4
    first = mails[0]
    assert_common_headers(first, "per_event")
    assert subject(first) == "[ADS] HIGH SCANS from 10.0.0.5: Port scanning (event 5102353)"
    assert first["X-ADS-Actions-Event-ID"] == "5102353"
    assert body_text(first).splitlines() == [
        "ID: 5102353", "Category: SCANS", "Type: Port scanning", "Perspective: security", "Severity: HIGH",
        "Time: 2026-11-22 15:58:00", "Protocol: TCP", "Source: 10.0.0.5",
        "Target IPs: " + ", ".join(TARGETS[:10]), "Ports involved: 22"]
    [attachment] = [part for part in first.iter_attachments()]
    assert attachment.get_filename() == "event-5102353-flows.csv"
    assert attachment.get_content_type() == "text/csv"
    assert csv_rows(attachment) == [{"src": "10.0.0.5", "dst": "192.168.112.1", "dport": "22", "packets": "3"},
                                    {"src": "10.0.0.5", "dst": "192.168.112.2", "dport": "22", "packets": "1"}]
    # No flows, no attachment.
    assert list(mails[1].iter_attachments()) == []
    assert len({mail["Message-ID"] for mail in mails}) == 4


def test_per_event_time_is_utc_and_shows_the_zone_when_asked():
    [mail, *_] = render(report_settings("per_event", show_timezone=True), sample_events())
    assert "Time: 2026-11-22 15:58:00 UTC" in body_text(mail).splitlines()
    assert list(mail.iter_attachments()) == []  # attach_flows off


# ---- RT ----

def test_rt_is_one_mail_per_type_and_source_with_the_rt_headers_and_the_leader_first():
    mails = render(report_settings("rt", attach_flows=True), sample_events())
    assert [(m["X-RT-Tool-Name"], m["X-RT-Incident-IP"]) for m in mails] == [
        ("Flowmon ADS Port scanning", "10.0.0.5"), ("Flowmon ADS DNS traffic anomaly", "10.0.0.7"),
        ("Flowmon ADS Port scanning", "2001:db8::7")]
    scans = mails[0]
    assert_common_headers(scans, "rt")
    assert scans["X-RT-Incident-Time"] == "2026-11-22 17:03:00 GMT+0100"  # the leader's detection time
    assert subject(scans) == "[ADS] HIGH Port scanning from 10.0.0.5: 2 events (hourly, 2026-11-22 17:00-18:00 CET)"
    lines = body_text(scans).splitlines()
    leader_detail, second_detail = catalogue_detail("SCANS", 5102353 % 3), catalogue_detail("SCANS", 5102355 % 3)
    assert lines[:7] == ["IP: 10.0.0.5", "Type: Port scanning", "Severity: HIGH", leader_detail,
                         "detail Time: 2026-11-22 17:03:00 GMT+0100", "Incident details:",
                         f"5102353 2026-11-22 17:03:00 GMT+0100 {leader_detail} {', '.join(TARGETS[:10])} (+3 more)"]
    assert lines[7] == f"5102355 2026-11-22 17:05:00 GMT+0100 {second_detail} 192.168.112.10"
    [attachment] = list(scans.iter_attachments())
    assert attachment.get_filename() == "flows-SCANS-10.0.0.5.csv"
    assert [(row["event_id"], row["dst"]) for row in csv_rows(attachment)] == [
        ("5102353", "192.168.112.1"), ("5102353", "192.168.112.2"), ("5102355", "192.168.112.9")]
    assert csv_rows(attachment)[2]["bytes"] == "120" and csv_rows(attachment)[0]["bytes"] == ""
    assert list(mails[2].iter_attachments()) == []  # its event has no flows
    custom = render(report_settings("rt", email_section={"rt_tool_name": "ADS Lab"}), sample_events())
    assert custom[0]["X-RT-Tool-Name"] == "ADS Lab Port scanning"


def test_rt_counts_events_that_were_not_listed():
    events = sample_events() + [ads_event(5102360 + n, "SSHDICT", "10.0.0.9", 10 + n) for n in range(3)]
    mails = render(report_settings("rt"), events, max_rows=5)
    by_group = {(m["X-RT-Tool-Name"], m["X-RT-Incident-IP"]): m for m in mails}
    partly = by_group[("Flowmon ADS SSH attack", "10.0.0.9")]
    assert "... and 2 more events not listed (email.max_rows)" in body_text(partly).splitlines()
    assert len(mails) == 4


def test_rt_group_with_every_event_left_out_still_gets_its_ticket():
    events = sample_events() + [ads_event(5102370, "ALIENDEV", "10.0.0.11", 20)]
    mails = render(report_settings("rt"), events, max_rows=4)
    [alien] = [m for m in mails if m["X-RT-Incident-IP"] == "10.0.0.11"]
    assert alien["X-RT-Incident-Time"] == "2026-11-22 17:00:00 GMT+0100"  # the period start: no leader
    lines = body_text(alien).splitlines()
    assert "Incident details:" in lines and "... and 1 more event not listed (email.max_rows)" in lines


# ---- bounds, empty periods, identity ----

def test_summary_says_how_many_events_were_left_out_and_ungrouped():
    events = sample_events()
    [mail] = render(report_settings("full"), events, max_rows=2, max_groups=1)
    text = body_text(mail).splitlines()
    assert "... and 2 more events not listed (email.max_rows)" in text
    assert "       2  more events counted per type only (email.max_groups)" in text
    assert "== SCANS - Port scanning: 3 events (1 listed) ==" in text
    html = HtmlTables(mail.get_body(preferencelist=("html",)).get_content())
    assert [row[0] for row in html.table("events", "SCANS")[1:]] == ["5102353"]
    html_text = mail.get_body(preferencelist=("html",)).get_content()
    assert "... and 2 more events not listed (email.max_rows)." in html_text
    assert "2 more events counted per type only (email.max_groups)." in html_text


def test_per_event_mails_end_with_a_notice_of_the_events_not_mailed():
    mails = render(report_settings("per_event"), sample_events(), max_rows=3)
    assert len(mails) == 4
    notice = mails[-1]
    assert subject(notice) == ("[ADS] HIGH hourly report soc-reports: 1 more event not mailed one by one "
                                 "(2026-11-22 17:00-18:00 CET)")
    assert "1 of the 4 events in this period got no mail of their own" in body_text(notice)
    assert "       3  SCANS - Port scanning" in body_text(notice).splitlines()


@pytest.mark.parametrize("report_format", ["full", "compact", "extra_compact", "per_event", "rt"])
def test_a_period_without_events_renders_one_no_events_mail(report_format):
    [mail] = render(report_settings(report_format), [], priority=Priority.HIGH)
    assert subject(mail) == "[ADS] HIGH hourly report soc-reports: no events, 2026-11-22 17:00-18:00 CET"
    assert "No events in this period." in body_text(mail).splitlines()
    if report_format == "full":
        assert "No events in this period." in mail.get_body(preferencelist=("html",)).get_content()


def test_subject_names_weekly_daily_and_immediate_periods_in_the_reports_zone():
    settings = report_settings("compact")
    for priority, expected in ((Priority.CRITICAL, "[ADS] CRITICAL report soc-reports: 1 event (1 DOS), "
                                                   "2026-11-22 17:30:00 CET"),
                               (Priority.LOW, "[ADS] LOW daily report soc-reports: 1 event (1 DOS), 2026-11-22"),
                               (Priority.INFORMATION, "[ADS] INFORMATION weekly report soc-reports: 1 event "
                                                      "(1 DOS), week of 2026-11-16")):
        [mail] = render(settings, [ads_event(1, "DOS", "10.0.0.1", 1)], priority=priority)
        assert subject(mail) == expected


def test_message_ids_are_the_same_when_a_period_is_rendered_again():
    settings = report_settings("rt")
    first = [mail["Message-ID"] for mail in render(settings, sample_events())]
    again = [mail["Message-ID"] for mail in render(settings, sample_events())]
    assert first == again and len(set(first)) == 3
    [other_period] = render(settings, sample_events()[:1], priority=Priority.CRITICAL)
    assert other_period["Message-ID"] not in first


# ---- templates ----

def test_a_template_in_the_template_directory_overrides_the_shipped_one(tmp_path: Path):
    (tmp_path / "extra_compact.txt.j2").write_text(
        "Custom {{ report.name }}: {{ total|plural('event') }}\n"
        "{% for section in sections %}{% for row in section.rows %}{{ row.id.text }}\n{% endfor %}{% endfor %}")
    settings = report_settings("extra_compact", email_section={"template_directory": str(tmp_path)})
    templates = ReportTemplates.from_settings(settings)
    [mail] = render_mails(report_content(settings, sample_events()), settings, templates)
    assert reparsed(mail).get_content().splitlines() == ["Custom soc-reports: 4 events", "5102353", "5102355",
                                                         "5102356", "5102354"]
    # The others are still the shipped ones.
    compact = report_settings("compact", email_section={"template_directory": str(tmp_path)})
    [shipped] = render_mails(report_content(compact, sample_events()), compact, templates)
    assert "== SCANS - Port scanning: 3 events ==" in reparsed(shipped).get_content()


def test_html_templates_are_autoescaped_and_undefined_variables_fail(tmp_path: Path):
    (tmp_path / "full.html.j2").write_text("<p>{{ report.name }} {{ nonsense }}</p>")
    settings = report_settings("full", email_section={"template_directory": str(tmp_path)})
    with pytest.raises(Exception, match="nonsense"):
        render_mails(report_content(settings, sample_events()), settings, ReportTemplates.from_settings(settings))
    assert ReportTemplates().environment.get_template("full.html.j2").environment.autoescape("full.html.j2")
    assert not ReportTemplates().environment.autoescape("compact.txt.j2")


# ---- safety ----

@pytest.mark.parametrize("report_format", ["full", "compact", "extra_compact", "per_event", "rt"])
def test_event_fields_cannot_inject_headers_or_break_the_mime_structure(report_format):
    settings = report_settings(report_format, attach_flows=True, active_links=True)
    events = [hostile_event(666, 7), ads_event(5102353, "SCANS", "10.0.0.5", 3)]
    for original in render_mails(report_content(settings, events), settings, TEMPLATES):
        mail = reparsed(original)
        assert "Bcc" not in mail and "X-Injected" not in mail and "Cc" not in mail
        assert [address.addr_spec for address in mail["To"].addresses] == RECIPIENTS
        for name, value in mail.items():
            assert "\n" not in value and "\r" not in value, name
        assert len(subject(mail)) <= 200
        # The parts are exactly the ones rendered: nothing in a field opened another.
        assert [p.get_content_type() for p in leaf_parts(mail)] == [p.get_content_type() for p in
                                                                   leaf_parts(original)]
        for part in leaf_parts(mail):
            if part.get_content_type() == "text/html":
                html = HtmlTables(part.get_content())
                assert "script" not in html.tags and "img" not in html.tags
                assert "</td></table><script>alert(1)</script>" in part.get_content().replace("&lt;", "<") \
                    .replace("&gt;", ">")
    text = "".join(body_text(reparsed(m)) for m in render_mails(report_content(settings, events), settings, TEMPLATES))
    if report_format not in ("extra_compact", "per_event"):
        assert "příliš žluťoučký kůň" in text  # non-ASCII survives


def test_hostile_rt_headers_are_one_bounded_line():
    settings = report_settings("rt")
    # A type ADS does not have: its description comes from the event (a known type has ADS's name).
    hostile = replace(hostile_event(666, 7), type="NEWMETHOD")
    [mail] = [reparsed(m) for m in render_mails(report_content(settings, [hostile]), settings, TEMPLATES)]
    assert mail["X-RT-Incident-IP"] == "10.0.0.66 Bcc: evil@attacker.example"
    assert mail["X-RT-Tool-Name"].strip() == "Flowmon ADS Port scanning Bcc: evil@attacker.example X-Injected: yes"


def test_header_text_removes_control_characters_and_bounds_length():
    assert header_text("a\r\nBcc: x\u2028y\x00z\tw") == "a Bcc: x y z w"
    long = header_text("x" * 500)
    assert len(long) == 200 and long.endswith("…")


def test_short_configured_periods_are_labelled_to_the_second():
    settings = report_settings("compact", email_section={"periods": {"HIGH": "10s"}})
    [mail] = render(settings, [ads_event(1, "SCANS", "10.0.0.1", 1)])
    assert subject(mail) == ("[ADS] HIGH 10-second report soc-reports: 1 event (1 SCANS), "
                             "2026-11-22 17:30:00-17:30:10 CET")
