"""The HTML rendering of the Art. 30(2) record, read as a person sees it:
opened in headless Chromium (Debian's package, driven by Selenium and
Debian's chromedriver) and printed to PDF.

Outside CI the test skips, saying why, when no browser is installed; in CI
(``CI`` set, as ``.ci/run`` does, which also installs Chromium) a missing
browser fails it.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dpa_client import contact
from tests.harness import Harness
from tests.test_records import _scenario

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[object]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        reason = "headless Chromium not installed: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_html_record_reads_right_in_a_browser(
    registry: Harness, browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    _scenario(registry)
    registry.staff.update_processor_details(
        dpo=contact("Mari Maasikas", "dpo@7plus.one"),
        representative=contact(
            "EU Rep GmbH", "rep@eurep.example", address="Unter den Linden 1, Berlin", country="DE"
        ),
    )
    got = registry.staff.processing_record(format="HTML")
    assert got.media_type == "text/html; charset=utf-8"
    page = tmp_path / "record.html"
    page.write_bytes(got.content)
    browser.get(page.as_uri())

    assert browser.title == "Record of processing activities (Art. 30(2) GDPR)"
    seen = browser.find_element(By.TAG_NAME, "body").text
    assert "Record of the whole processor, as of revision " + str(got.revision) in seen
    assert browser.find_element(By.ID, "revision").text == str(got.revision)
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    by_section: dict[str, list[list[str]]] = {}
    for row in cells:
        by_section.setdefault(row[0], []).append(row)
    controllers = by_section["Controller (Art. 30(2)(a))"]
    assert [(r[1], r[2]) for r in controllers] == [("acme", "Acme AS"), ("globex", "Globex AS")]
    assert "DPO dpo@acme.example" in controllers[0][3]
    transfers = by_section["Transfer to a third country (Art. 30(2)(c))"]
    assert [(r[1], r[2]) for r in transfers] == [
        ("acme", "subprocessors/hostco to IN"),
        ("globex", "subprocessors/hostco to IN"),
    ]
    [measure] = by_section["Technical and organisational measure (Art. 30(2)(d))"]
    assert "Encryption at rest (v1)" in measure[2]
    [processor] = by_section["Processor (Art. 30(2)(a))"]
    assert processor[2] == "7plus.one"
    assert "DPO Mari Maasikas, dpo@7plus.one" in processor[3]
    assert (
        "representative in the Union (Art. 27) EU Rep GmbH, rep@eurep.example, "
        "Unter den Linden 1, Berlin, DE" in processor[3]
    )
    for row in cells:
        assert row[4].split() and all(int(s) < got.revision for s in row[4].split()), row
    # Every line is on screen, not hidden.
    assert all(row.is_displayed() for row in rows)

    pdf = base64.b64decode(browser.print_page())  # type: ignore[no-untyped-call]
    assert pdf.startswith(b"%PDF-")
