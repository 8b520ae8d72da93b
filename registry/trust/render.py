"""Renders a signed feed document as Atom (RFC 4287) and as the HTML trust
page. Pure: values in, text out; every value is escaped."""

from __future__ import annotations

from html import escape
from typing import Any
from xml.etree import ElementTree as ET

ATOM = "http://www.w3.org/2005/Atom"


def atom(signed: dict[str, Any], base_url: str) -> bytes:
    feed = signed["feed"]
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")

    def sub(parent: ET.Element, tag: str, text: str = "", **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text:
            el.text = text
        return el

    sub(root, "id", f"tag:{feed['processor']},feed:subprocessors")
    sub(root, "title", f"Sub-processors of {feed['processor']}")
    sub(root, "updated", feed["generated"])
    sub(root, "link", rel="self", href=f"{base_url}/feed.atom")
    sub(root, "link", rel="alternate", type="application/json", href=f"{base_url}/feed.json")
    author = sub(root, "author")
    sub(author, "name", feed["processor"])
    for change in feed["pending_changes"]:
        entry = sub(root, "entry")
        sub(entry, "id", f"tag:{feed['processor']},{change['notice']}")
        title = f"{change['kind']}: {change['subprocessor']}"
        if change["replaced_subprocessor"]:
            title += f" (replaces {change['replaced_subprocessor']})"
        sub(entry, "title", title)
        sub(entry, "updated", change["announced_time"])
        sub(entry, "summary", f"Effective {change['effective_time']}. {change['reason']}".strip())
    for sp in feed["subprocessors"]:
        entry = sub(root, "entry")
        sub(entry, "id", f"tag:{feed['processor']},subprocessors/{sp['id']}")
        sub(entry, "title", f"{sp['display_name']} ({sp['country']})")
        sub(entry, "updated", sp["updated"])
        sub(entry, "summary", f"{sp['service_category']}: {sp['purpose']}")
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text


def html(signed: dict[str, Any]) -> bytes:
    feed = signed["feed"]
    e = escape
    rows = "\n".join(
        f"<tr><td>{e(sp['display_name'])}</td><td>{e(sp['legal_name'])}</td>"
        f"<td>{e(sp['country'])}</td><td>{e(', '.join(sp['locations']))}</td>"
        f"<td>{e(sp['service_category'])}</td><td>{e(sp['purpose'])}</td></tr>"
        for sp in feed["subprocessors"]
    )
    changes = (
        "\n".join(
            f"<tr><td>{e(c['kind'])}</td><td>{e(c['subprocessor'])}</td>"
            f"<td>{e(c['replaced_subprocessor'])}</td>"
            f'<td><time datetime="{e(c["effective_time"])}">'
            f"{e(c['effective_time'][:10])}</time></td>"
            f"<td>{e(c['reason'])}</td></tr>"
            for c in feed["pending_changes"]
        )
        or '<tr><td colspan="5">No pending changes.</td></tr>'
    )
    checkpoint = feed["log"]["checkpoint"]
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sub-processors of {e(feed["processor"])}</title>
<link rel="alternate" type="application/atom+xml" href="feed.atom">
<link rel="alternate" type="application/json" href="feed.json">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 2rem; }}
th, td {{ border-bottom: 1px solid #ccc; padding: .4rem; text-align: left; vertical-align: top; }}
pre {{ background: #f4f4f4; padding: 1rem; overflow-x: auto; }}
</style>
</head>
<body>
<h1>Sub-processors of {e(feed["processor"])}</h1>
<p>As of <time datetime="{e(feed["generated"])}">{e(feed["generated"])}</time>.
These sub-processors process personal data for every customer (GDPR Art. 28(2)).</p>
<h2>Current sub-processors</h2>
<table id="subprocessors">
<thead><tr><th>Name</th><th>Legal entity</th><th>Country</th><th>Locations</th>
<th>Service</th><th>Purpose</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<h2>Pending changes</h2>
<table id="pending-changes">
<thead><tr><th>Change</th><th>Sub-processor</th><th>Replaces</th><th>Effective</th>
<th>Reason</th></tr></thead>
<tbody>
{changes}
</tbody>
</table>
<h2>Verify this list</h2>
<p>This page shows the signed feed <a href="feed.json">feed.json</a> (also as
<a href="feed.atom">Atom</a>). The feed is signed with the processor's Ed25519 key
<code id="vkey">{e(signed["signature"]["vkey"])}</code> and names the audit-log
checkpoint it belongs to, with an inclusion proof of the log entry behind every
item. Check it offline with the registry's client:</p>
<pre>pip install dpa-registry-client
curl -O {e("https://<this host>/feed.json")}
dpa-verify feed feed.json --vkey '{e(signed["signature"]["vkey"])}'</pre>
<p>Audit-log checkpoint:</p>
<pre id="checkpoint">{e(checkpoint)}</pre>
</body>
</html>
"""
    return page.encode()
