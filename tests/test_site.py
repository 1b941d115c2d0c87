"""The static leaderboard page (harness/report/site.py, `make report`): self-contained, and working in a real
browser: headless Chromium (Debian packages chromium + chromium-driver; .ci/run installs them) checks
a row per router, sorting by a column, the filters, and saves a screenshot."""
from __future__ import annotations

import re
import shutil

import pytest

from harness.report import bootstrap as stats, build, ranking
from harness.report import runs as report_runs
from tests.stats_fixtures import build_runs

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1800"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    results = build_runs(tmp_path_factory.mktemp("site"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_RESULTS_DIR", str(results))
        paths = build.write_report(stats.Settings())
        groups = stats.all_group_stats(report_runs.load_runs(results))
    return {"paths": paths, "groups": groups, "results": results}


def test_report_writes_three_files(report):
    names = [p.name for p in report["paths"]]
    assert names == ["leaderboard.md", "analysis.md", "index.html"]
    assert all(p.exists() and p.stat().st_size > 0 for p in report["paths"])


def test_page_is_self_contained(report):
    text = report["paths"][2].read_text(encoding="utf-8")
    assert "<svg" in text and "<script>" in text and "<style>" in text
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|<img[^>]+src=\"?https?:", text)
    assert not re.search(r"(src|href)=\"(https?:)?//", text), "the page must not load anything remotely"


def _expected_rows(groups) -> int:
    return sum(len(keys) for keys in ranking.display_groups(groups).values())


@pytest.fixture
def browser(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("headless Chromium is needed for the leaderboard page test: install the Debian packages "
                    "'chromium' and 'chromium-driver' (apt-get install -y chromium chromium-driver; .ci/run does)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: pip install -e '.[test]'")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    yield driver
    driver.quit()


def _routers(driver) -> list[str]:
    return [row.get_attribute("data-router") for row in driver.find_elements("css selector", "#leaderboard tbody tr")
            if row.is_displayed()]


def _column(driver, title: str) -> int:
    headers = driver.find_elements("css selector", "#leaderboard thead th")
    return next(i for i, h in enumerate(headers) if h.text.startswith(title))


def test_page_in_headless_chromium(report, browser, tmp_path):
    browser.get(report["paths"][2].resolve().as_uri())
    groups = report["groups"]
    initial = _routers(browser)
    assert len(initial) == _expected_rows(groups) == len(groups)  # one pool, one protocol: a row per router
    assert set(initial) == {k[0] for k in groups}

    col = _column(browser, "Avg mu_n")
    header = browser.find_elements("css selector", "#leaderboard thead th")[col]
    header.click()  # ascending
    ascending = _routers(browser)
    avg = {k[0]: s.avg_point() for k, s in groups.items()}
    assert ascending == sorted(ascending, key=lambda r: avg[r]) and ascending != initial
    header.click()  # descending
    assert _routers(browser) == ascending[::-1]
    _column_sort_by_name(browser)

    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "f-protocol")).select_by_value("cv")
    assert len(_routers(browser)) == len(groups)  # reference rows stay beside the cv routers
    Select(browser.find_element("id", "f-pool")).select_by_value("paper5")
    assert len(_routers(browser)) == len(groups)

    shot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def _column_sort_by_name(browser) -> None:
    browser.find_elements("css selector", "#leaderboard thead th")[_column(browser, "Router")].click()
    names = _routers(browser)
    assert names == sorted(names, key=str.lower) or names == sorted(names)
