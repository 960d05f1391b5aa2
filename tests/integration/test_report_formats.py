"""Every report format sent through a real SMTP server (aiosmtpd): what arrives, parsed with the
``email`` package, is what was rendered, and event fields added no header and no recipient."""

from __future__ import annotations

import asyncio

import pytest

from sinks.reports.render import ReportTemplates, render_mails
from sinks.smtp_send import send_messages
from streams.config import SmtpSettings
from tests.integration.smtp_server import running_smtp_server
from tests.report_samples import (FROM_ADDRESS, RECIPIENTS, HtmlTables, ads_event, body_text, csv_rows,
                                  hostile_event, leaf_parts, report_content, report_settings, subject)

# Headers every report mail has; RT mails add the X-RT-* ones, per-event mails the event ID.
COMMON_HEADERS = {"From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "X-ADS-Actions-Report",
                  "X-ADS-Actions-Priority", "X-ADS-Actions-Period", "X-ADS-Actions-Format", "MIME-Version",
                  "Content-Type", "Content-Transfer-Encoding"}
EXTRA_HEADERS = {"rt": {"X-RT-Tool-Name", "X-RT-Incident-IP", "X-RT-Incident-Time"},
                 "per_event": {"X-ADS-Actions-Event-ID"}}


def events():
    # The hostile event first: the type description of a report is the last listed event's.
    return [
        hostile_event(666, 7),
        ads_event(5102353, "SCANS", "10.0.0.5", 3, targets=["192.168.112.10", "192.168.112.11"],
                  flows=[{"src": "10.0.0.5", "dst": "192.168.112.10", "dport": "22"}]),
        ads_event(5102354, "DNSANOMALY", "10.0.0.7", 4, targets=["8.8.8.8"]),
        ads_event(5102355, "SCANS", "10.0.0.5", 5),
    ]


def sent_and_received(report_format: str):
    settings = report_settings(report_format, attach_flows=True, active_links=True, show_timezone=True)
    rendered = render_mails(report_content(settings, events()), settings, ReportTemplates())
    with running_smtp_server() as server:
        asyncio.run(send_messages(SmtpSettings(host="127.0.0.1", port=server.port, timeout=10), rendered))
        received = list(server.mails)
    assert len(received) == len(rendered)
    return rendered, received


@pytest.mark.parametrize("report_format", ["full", "compact", "extra_compact", "per_event", "rt"])
def test_every_format_arrives_as_rendered_with_no_injected_header_or_recipient(report_format):
    rendered, received = sent_and_received(report_format)
    for original, mail in zip(rendered, received):
        assert mail.mail_from == FROM_ADDRESS
        assert mail.recipients == RECIPIENTS
        message = mail.message
        headers = {name for name, _ in message.items()}
        assert headers - {"Content-Transfer-Encoding"} <= COMMON_HEADERS | EXTRA_HEADERS.get(report_format, set())
        assert "Bcc" not in message and "X-Injected" not in message
        for name in ("From", "Subject", "Message-ID", "X-ADS-Actions-Period", *EXTRA_HEADERS.get(report_format, ())):
            if name in original:
                assert str(message[name]).strip() == str(original[name]).strip(), name
        assert [address.addr_spec for address in message["To"].addresses] == RECIPIENTS
        assert [(p.get_content_type(), p.get_filename()) for p in leaf_parts(message)] == \
            [(p.get_content_type(), p.get_filename()) for p in leaf_parts(original)]
        for sent_part, received_part in zip(leaf_parts(original), leaf_parts(message)):
            # Lines end in \n in both: the server's copy is stored as a mailbox stores it.
            assert received_part.get_content().replace("\r\n", "\n") == sent_part.get_content().replace("\r\n", "\n")


def test_full_arrives_with_its_tables_links_and_escaped_fields():
    _, [mail] = sent_and_received("full")
    message = mail.message
    assert subject(message) == ("[ADS] HIGH hourly report soc-reports: 4 events (3 SCANS, 1 DNSANOMALY), "
                                "2026-11-22 17:00-18:00 CET")
    html = HtmlTables(message.get_body(preferencelist=("html",)).get_content())
    scans = html.table("events", "SCANS")
    assert [row[0] for row in scans[1:]] == ["666", "5102353", "5102355"]
    assert scans[2][1] == "2026-11-22 17:03:00 CET"
    assert scans[1][6].startswith("</td></table><script>alert(1)</script>")  # shown as text, not markup
    assert "script" not in html.tags
    assert ("https://ads.example.org/events/5102353", "5102353") in html.links
    assert "== SCANS - Port scanning: 3 events ==" in body_text(message).splitlines()


def test_rt_tickets_arrive_one_per_type_and_source_with_flows_attached():
    _, received = sent_and_received("rt")
    tickets = {(m.message["X-RT-Tool-Name"].strip(), m.message["X-RT-Incident-IP"]): m.message for m in received}
    scans = tickets[("Flowmon ADS Port scanning", "10.0.0.5")]
    assert scans["X-RT-Incident-Time"] == "2026-11-22 17:03:00 GMT+0100"
    lines = body_text(scans).splitlines()
    assert lines[:3] == ["IP: 10.0.0.5", "Type: Port scanning", "Severity: HIGH"]
    assert [line.split()[0] for line in lines[lines.index("Incident details:") + 1:] if line[:1].isdigit()] == \
        ["5102353", "5102355"]
    [attachment] = list(scans.iter_attachments())
    assert attachment.get_filename() == "flows-SCANS-10.0.0.5.csv"
    assert csv_rows(attachment) == [{"event_id": "5102353", "src": "10.0.0.5", "dst": "192.168.112.10",
                                     "dport": "22"}]
    hostile = [m for m in received if m.message["X-RT-Incident-IP"].startswith("10.0.0.66")]
    [ticket] = hostile
    [flows] = list(ticket.message.iter_attachments())
    assert flows.get_filename() == "flows-SCANS-10.0.0.66_Bcc_evil_attacker.example.csv"


def test_per_event_mails_arrive_with_the_field_list_and_flows():
    _, received = sent_and_received("per_event")
    first = received[1].message
    assert body_text(first).splitlines()[:3] == ["ID: 5102353", "Category: SCANS", "Type: Port scanning"]
    assert "Time: 2026-11-22 15:58:00 UTC" in body_text(first).splitlines()
    [attachment] = list(first.iter_attachments())
    assert csv_rows(attachment) == [{"src": "10.0.0.5", "dst": "192.168.112.10", "dport": "22"}]
    assert [m.message["X-ADS-Actions-Event-ID"] for m in received] == ["666", "5102353", "5102354", "5102355"]
