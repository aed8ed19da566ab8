"""The page in a real headless browser: Debian's Chromium, driven by Selenium, against `screener serve`.

Starts the real server on a free loopback port, types a patient in as a person would (keyboard only where
it matters), reads the report, and saves screenshots at phone (390 px) and desktop (1280 px) widths into
`test-artifacts/` (gitignored). Skipped, with the reason, where Chromium, chromedriver or Selenium is
missing; under CI (`CI` set, as `.ci/run` runs) a missing browser fails instead, so it cannot pass unseen.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MARKER = "Markerpatientdrug"


def _missing() -> str:
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "Chromium is not installed (apt-get install chromium chromium-driver)"
    return ""


if _missing():
    if os.environ.get("CI"):
        pytest.fail(f"the browser test cannot run under CI: {_missing()}", pytrace=False)
    pytest.skip(_missing(), allow_module_level=True)

from selenium import webdriver  # noqa: E402 - only once the browser is known to be there
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """`screener serve` on a free loopback port: (base URL, its log so far as a callable)."""
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - read back and closed after the server stops
    env = {k: v for k, v in os.environ.items() if k != "SCREENER_PAGE_TOKEN"}
    proc = subprocess.Popen([sys.executable, "-m", "screener", "serve", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/"

    def logged() -> str:
        log.seek(0)
        return log.read()

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "api/page/info", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"screener serve did not start:\n{logged()}")
                time.sleep(0.2)
        yield base, logged
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--lang=en-US"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, server):
    """The page, freshly loaded, at desktop width."""
    base, _ = server
    width(browser, 1280)
    browser.get(base)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "fieldset[data-kind=medication] li.row input"))
    return browser


def width(driver, pixels: int, height: int = 900) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": pixels, "height": height, "deviceScaleFactor": 1, "mobile": pixels < 600})


def wait(driver, until, seconds: float = 15):
    return WebDriverWait(driver, seconds).until(until)


def by_label(driver, text: str):
    """The input whose <label> reads `text` (how a person finds it, and proof that it has one)."""
    (label,) = [el for el in driver.find_elements(By.TAG_NAME, "label") if el.text == text]
    return driver.find_element(By.ID, label.get_attribute("for"))


def report_shown(driver):
    return driver.find_element(By.ID, "report-body").is_displayed()


def screenshot(driver, name: str, pixels: int) -> Path:
    """A full-page screenshot at `pixels` wide into test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    width(driver, pixels)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width(driver, pixels, min(int(height), 8000))
    path = ARTIFACTS / f"{name}-{pixels}px.png"
    driver.save_screenshot(str(path))
    width(driver, pixels)
    assert path.stat().st_size > 5000
    return path


def test_type_submit_and_read_the_findings(page, server):
    by_label(page, "Medication 1").send_keys("Soma 350 mg qid")
    page.find_element(By.XPATH, "//button[text()='Add a medication']").click()
    second = page.switch_to.active_element
    assert second == by_label(page, "Medication 2")  # the new row has the focus
    second.send_keys("Xanax")
    condition = by_label(page, "Condition 1")
    condition.send_keys("pregnancy")
    wait(page, lambda d: "Read as: Pregnancy" in d.find_element(By.ID, condition.get_attribute("id") + "-read").text)
    condition.send_keys(Keys.ESCAPE, Keys.ENTER)  # Enter in a field submits the form
    wait(page, report_shown)

    status = page.find_element(By.ID, "status").text
    assert status == "Status: Cautions found\n2 cautions found."
    groups = [el.text for el in page.find_elements(By.CSS_SELECTOR, "#findings .severity > h3")]
    assert groups == ["MAJOR (1)", "MODERATE (1)"]
    titles = [el.text for el in page.find_elements(By.CSS_SELECTOR, ".finding h4")]
    assert titles == ["drug-drug · carisoprodol + alprazolam", "drug-condition · carisoprodol + Pregnancy"]
    first = page.find_element(By.CSS_SELECTOR, ".sev-major .finding")
    assert ('"Soma 350 mg qid" → soma → carisoprodol ⟷ benzodiazepines ← alprazolam ← xanax ← "Xanax"'
            in first.find_element(By.CSS_SELECTOR, ".path").text)
    assert "DailyMed setid 6297cf20-830a-11dc-94c8-0002a5d5c51b" in first.find_element(By.CSS_SELECTOR,
                                                                                          ".sources").text
    colour = first.value_of_css_property("background-color")
    assert colour != page.find_element(By.CSS_SELECTOR, ".sev-moderate .finding").value_of_css_property(
        "background-color")
    assert not page.find_element(By.ID, "incomplete").is_displayed()
    report = page.find_element(By.ID, "report").text
    assert "safe" not in report.lower()
    counsel = page.find_elements(By.CSS_SELECTOR, "#counselling summary")
    assert counsel[0].text.startswith("driving: ")  # one line per topic; the full point opens under it
    rows = [el.text for el in page.find_elements(By.CSS_SELECTOR, "#screened tbody tr")]
    assert rows[0] == "medication Soma 350 mg qid carisoprodol; 350 mg/dose; 4×/day; 1,400 mg/day"

    screenshot(page, "report", 1280)
    screenshot(page, "report", 390)
    assert page.execute_script("return document.documentElement.scrollWidth") <= 390  # no sideways scrolling


def test_the_keyboard_reaches_every_control_and_enter_screens(page):
    seen, outlines = [], []  # from a freshly loaded page: Tab starts at the top
    for _ in range(40):
        page.switch_to.active_element.send_keys(Keys.TAB)
        active = page.switch_to.active_element
        seen.append(active.get_attribute("id") or active.text)
        outlines.append(active.value_of_css_property("outline-style"))
        if active.text == "Screen":
            break
    assert seen[-1] == "screen", seen  # the submit button
    assert seen[:4] == ["Skip to the report", "medication-1", "Remove", "Add a medication"], seen
    assert seen.index("age") == len(seen) - 2  # age, then Screen
    assert all(style != "none" for style in outlines[1:]), list(zip(seen, outlines))  # focus is always visible

    # Type with the keyboard only: a suggestion is taken with the arrow and Enter, which does not submit.
    medication = by_label(page, "Medication 1")
    medication.send_keys("xan")
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "[role=listbox]:not([hidden]) [role=option]"))
    options = [el.text for el in page.find_elements(By.CSS_SELECTOR, "[role=listbox]:not([hidden]) [role=option]")]
    assert options[0] == "Xanax"
    assert medication.get_attribute("aria-expanded") == "true"
    medication.send_keys(Keys.ARROW_DOWN)
    assert medication.get_attribute("aria-activedescendant").endswith("-option-0")
    medication.send_keys(Keys.ENTER)
    assert medication.get_attribute("value") == "Xanax"
    assert not report_shown(page)
    medication.send_keys(Keys.ENTER)  # no list open now: Enter submits
    wait(page, report_shown)
    assert page.switch_to.active_element.get_attribute("id") == "report"  # the focus moves to the answer


def test_every_control_has_a_name(page):
    unnamed = page.execute_script("""
        const out = [];
        for (const el of document.querySelectorAll('input, button, select, textarea')) {
          if (el.closest('[hidden]')) continue;
          const label = el.labels && el.labels.length ? el.labels[0].textContent.trim() : '';
          const name = label || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' ? el.textContent.trim() : '');
          if (!name) out.push(el.outerHTML.slice(0, 80));
        }
        return out;""")
    assert unnamed == []
    remove = page.find_element(By.CSS_SELECTOR, "fieldset[data-kind=medication] button.remove")
    assert remove.get_attribute("aria-label") == "Remove medication 1"


def test_an_unrecognised_entry_cannot_be_missed(page):
    by_label(page, "Medication 1").send_keys("Soma 350 mg qid")
    page.find_element(By.XPATH, "//button[text()='Add a medication']").click()
    page.switch_to.active_element.send_keys(f"{MARKER}\n")
    wait(page, report_shown)
    banner = page.find_element(By.ID, "incomplete")
    assert banner.is_displayed() and banner.get_attribute("role") == "alert"
    assert banner.text.startswith("Screen incomplete: 1 entry not recognised or not checked\n"
                                  "Cautions involving these may be missing. This is not a clean screen.\n"
                                  f"“{MARKER}” (medication): not found in the knowledge base or the FDA vocabulary")
    assert page.find_element(By.ID, "status").text.startswith("Status: Incomplete: not every entry was screened")
    # The patient's sheet lists only what was checked, and says that something was not.
    assert page.find_element(By.ID, "sheet-medicines").get_attribute("textContent") == "Soma 350 mg qid"
    assert page.find_element(By.ID, "sheet-incomplete").get_attribute("hidden") is None
    screenshot(page, "incomplete", 390)


def test_the_print_view_is_the_patients_sheet(page):
    by_label(page, "Medication 1").send_keys("Soma 350 mg qid")
    page.find_element(By.XPATH, "//button[text()='Add a medication']").click()
    page.switch_to.active_element.send_keys("Xanax\n")
    wait(page, report_shown)
    page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not page.find_element(By.ID, "patient").is_displayed()
        assert not page.find_element(By.ID, "report").is_displayed()
        sheet = page.find_element(By.ID, "patient-sheet")
        assert sheet.is_displayed()
        lines = [el.text for el in sheet.find_elements(By.CSS_SELECTOR, "#sheet-lines li")]
        assert lines[0] == "Taking this with a benzodiazepine (such as alprazolam or diazepam) can make you dangerously drowsy."
        assert "Medicines checked: Soma 350 mg qid; Xanax" in sheet.text
        ARTIFACTS.mkdir(exist_ok=True)
        page.save_screenshot(str(ARTIFACTS / "print-sheet-1280px.png"))
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_nothing_is_loaded_from_elsewhere_and_the_docs_work_offline(page, server):
    base, _ = server
    loaded = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(base) for url in loaded), loaded
    page.get(base + "docs")
    title = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"), 30)[0]
    assert title.text.startswith("screener CDS Hooks service")
    loaded = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(url.startswith(base) for url in loaded), loaded


def test_nothing_typed_reaches_the_server_log(server):
    # Runs last: the tests above typed these into the page (suggestions and screens).
    _, logged = server
    assert "POST /api/page/screen" in logged()
    assert MARKER not in logged() and "Xanax" not in logged() and "Soma" not in logged()
