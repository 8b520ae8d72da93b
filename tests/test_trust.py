"""The public trust port: the signed feed (JSON, Atom) over plain HTTPS with
caching headers, offline verification with ``dpa-verify feed``, and the trust
page in a real headless browser (Chromium from the distribution)."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dpa_client.cli import main as verify_main
from registry import clock, keys, pki
from tests import factories, harness

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def trust(dev_pki: pki.DevPki, database_url: str) -> Iterator[harness.Harness]:
    h = harness.start(dev_pki, database_url, trust_listen="127.0.0.1:0")
    try:
        factories.controller(h.staff, "acme")
        factories.dpa_terms_direct("acme", notice_days=10, objection_days=10)
        factories.engaged_subprocessor_direct(h, "hostco")
        factories.engaged_subprocessor_direct(h, "secretco", controllers=("acme",))
        factories.subprocessor(h.staff, "newco")
        h.staff.propose_subprocessor_change(
            "ADDITION", "newco", effective=clock.now() + timedelta(days=11), reason="Backups"
        )
        yield h
    finally:
        h.close()
        clock.reset()


def _url(h: harness.Harness, path: str) -> str:
    return f"https://localhost:{h.running.trust_port}{path}"


def _get(h: harness.Harness, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTPS GET: the dev CA is trusted, no client certificate is sent."""
    context = ssl.create_default_context(cafile=str(h.pki.ca_cert))
    request = urllib.request.Request(_url(h, path), headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), b""


def test_feed_lists_platform_subprocessors_and_verifies_offline(
    trust: harness.Harness, tmp_path: Path
) -> None:
    status, headers, body = _get(trust, "/feed.json")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "public, max-age=60"
    assert headers["ETag"] and headers["Last-Modified"]
    feed = json.loads(body)["feed"]
    assert [sp["id"] for sp in feed["subprocessors"]] == ["hostco"]
    assert [c["subprocessor"] for c in feed["pending_changes"]] == ["newco"]
    assert "secretco" not in body.decode()
    # Unchanged: 304 for the same ETag; the same bytes again.
    assert _get(trust, "/feed.json", **{"If-None-Match": headers["ETag"]})[0] == 304
    assert _get(trust, "/feed.json")[2] == body

    path = tmp_path / "feed.json"
    path.write_bytes(body)
    vkey = keys.active().vkey
    assert verify_main(["feed", str(path), "--vkey", vkey]) == 0
    # Tampering with any item breaks the signature.
    doc = json.loads(body)
    doc["feed"]["subprocessors"][0]["country"] = "US"
    path.write_text(json.dumps(doc))
    assert verify_main(["feed", str(path), "--vkey", vkey]) == 1
    # A key that is not the processor's is refused.
    other = keys.from_private("7plus.one/dpa-registry", Ed25519PrivateKey.generate()).vkey
    path.write_bytes(body)
    assert verify_main(["feed", str(path), "--vkey", other]) == 1

    status, headers, atom = _get(trust, "/feed.atom")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    titles = [e.findtext(f"{ATOM}title") for e in ET.fromstring(atom).iter(f"{ATOM}entry")]
    assert titles == ["ADDITION: newco", "Hostco (EE)"]
    assert _get(trust, "/nothing")[0] == 404


def test_feed_changes_when_the_list_changes(trust: harness.Harness) -> None:
    _, first, _ = _get(trust, "/feed.json")
    factories.engaged_subprocessor_direct(trust, "mailco")
    _, second, body = _get(trust, "/feed.json")
    assert second["ETag"] != first["ETag"]
    ids = [sp["id"] for sp in json.loads(body)["feed"]["subprocessors"]]
    assert ids == ["hostco", "mailco"]


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def test_trust_page_in_a_real_browser(trust: harness.Harness) -> None:
    found = _chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have chromium and chromedriver (.ci/run installs them)")
        pytest.skip("no chromium/chromedriver on this machine: apt-get install chromium")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    browser, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    # The dev CA is not in the browser's store; the page is what is tested.
    options.add_argument("--ignore-certificate-errors")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.get(_url(trust, "/"))
        assert driver.title == "Sub-processors of 7plus.one/dpa-registry"
        listed = driver.find_element(By.ID, "subprocessors").text
        assert "Hostco" in listed and "Secretco" not in listed
        pending = driver.find_element(By.ID, "pending-changes").text
        effective = (clock.now() + timedelta(days=11)).date().isoformat()
        assert "ADDITION" in pending and "newco" in pending and effective in pending
        assert keys.active().vkey in driver.find_element(By.ID, "vkey").text
    finally:
        driver.quit()
