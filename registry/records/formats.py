"""Renderings of the Art. 30(2) record: canonical JSON (RFC 8785; schema in
docs/records.schema.json), CSV for spreadsheets, and a printable HTML
document. Pure."""

from __future__ import annotations

import csv
import enum
import html
import io
from collections.abc import Mapping
from typing import Any

from registry.audit.events import canonical
from registry.records.record import lines


class Format(enum.Enum):
    JSON = "application/json"
    CSV = "text/csv"
    HTML = "text/html"

    @property
    def media_type(self) -> str:
        return f"{self.value}; charset=utf-8"


CSV_HEADER = ("section", "controller", "subject", "detail", "audit_entries")


def to_json(record: Mapping[str, Any]) -> bytes:
    return canonical(dict(record))


def _sources(seqs: list[int]) -> str:
    return " ".join(str(s) for s in seqs)


def to_csv(record: Mapping[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["revision", str(record["revision"]), "scope", record["scope"], ""])
    writer.writerow(CSV_HEADER)
    for section, controller, subject, detail, seqs in lines(record):
        writer.writerow([section, controller, subject, detail, _sources(seqs)])
    return out.getvalue().encode()


_SECTION_TITLES = {
    "processor": "Processor (Art. 30(2)(a))",
    "controller": "Controller (Art. 30(2)(a))",
    "processing": "Categories of processing (Art. 30(2)(b))",
    "subprocessor": "Sub-processor engaged (Art. 28(2))",
    "transfer": "Transfer to a third country (Art. 30(2)(c))",
    "measure": "Technical and organisational measure (Art. 30(2)(d))",
}

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #111; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #999; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #eee; }
td.sources { font-family: monospace; white-space: nowrap; }
@media print { body { margin: 0; } tr { page-break-inside: avoid; } }
"""


def to_html(record: Mapping[str, Any]) -> bytes:
    e = html.escape
    scope = record["scope"]
    who = "the whole processor" if scope == "processor" else e(scope)
    rows = "\n".join(
        f'<tr data-section="{e(section)}"><td>{e(_SECTION_TITLES[section])}</td>'
        f"<td>{e(controller)}</td><td>{e(subject)}</td><td>{e(detail)}</td>"
        f'<td class="sources">{e(_sources(seqs)) or "template"}</td></tr>'
        for section, controller, subject, detail, seqs in lines(record)
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Record of processing activities (Art. 30(2) GDPR)</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Record of processing activities (Art. 30(2) GDPR)</h1>
<p id="scope">Record of {who}, as of revision <strong id="revision">{record["revision"]}</strong>
of the audit log (its last entry {e(record["as_of_time"])}).</p>
<p>Every line names the audit-log entries it comes from; the processor's own details
come from the DPA template.</p>
<table>
<thead><tr><th>Section</th><th>Controller</th><th>Subject</th><th>Details</th>
<th>Audit entries</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""
    return page.encode()


def render(record: Mapping[str, Any], fmt: Format) -> bytes:
    if fmt is Format.CSV:
        return to_csv(record)
    if fmt is Format.HTML:
        return to_html(record)
    return to_json(record)
