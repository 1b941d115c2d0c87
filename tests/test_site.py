"""The static leaderboard page (harness/report/site.py, `make report`): self-contained, and working in a
real browser. Headless Chromium (Debian packages chromium + chromium-driver; .ci/run installs them)
checks, as a new user would see it (issue 23): the first screen at 1400 px shows the paper5 / cv board
with scores; at 390 px the page does not overflow sideways (the board scrolls inside its own box);
every plot's labels are distinct and none overlaps another; long pools get a short alias; sorting,
filters, mu_o and the view kept in the URL. Screenshots at both widths are saved.

The run files: the shared ones of tests/stats_fixtures.py, plus ten clones of the learned router
(identical points: the hardest case for labels) and its runs relabelled as a second profile, runs on
a six-candidate pool (a long pool name), and a cost–quality curve file as ``routing-harness
costcurve`` writes it."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from harness.core.pools import PAPER5
from harness.report import bootstrap as stats, build, ranking, site
from harness.report import runs as report_runs
from tests.stats_fixtures import NOISY, build_runs

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,900"]
CLONES = [f"noisy_clone_{c}" for c in "abcdefghij"]
POOL6 = ",".join([*PAPER5, "gemma-2-9b-it"])


def _add_runs(results) -> None:
    """Clones of the learned router's run files (same choices, other names), a six-candidate pool, a curve."""
    from harness.api import EvalConfig, evaluate

    for path in sorted((results / "runs").glob(f"{NOISY}__*.json")):
        run = json.loads(path.read_text())
        for clone in CLONES:
            (results / "runs" / path.name.replace(NOISY, clone)).write_text(json.dumps(dict(run, router=clone)))
        # the same router under a second profile: two rows, two labels, one router name
        (results / "runs" / path.name.replace("__cpu__", "__small__")).write_text(json.dumps(dict(run, profile="small")))
    for router in ("oracle", "random"):
        evaluate(EvalConfig(router=router, pool=POOL6, benchmarks=["gsm8k", "mbpp"]))
    evaluate(EvalConfig(router=NOISY, pool=POOL6, benchmarks=["gsm8k", "mbpp"], protocol="cv", folds=3))
    import numpy as np

    from harness.report import curves

    run = json.loads((results / "runs" / f"{NOISY}__paper5__cv__cpu__seed0.json").read_text())
    price = np.array([0.002, 0.0012, 0.0008, 0.0004, 0.0003])  # USD per item of each candidate
    costs = {b: np.tile(price, (len(r["choice"]), 1)) for b, r in run["benchmarks"].items()}
    curves.write_curves(curves.build_curves(run, costs, "paper"), run, {"source": "test prices", "date": "-"})


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    results = tmp_path_factory.mktemp("site") / "results"
    shutil.copytree(build_runs(tmp_path_factory.mktemp("shared")), results)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_RESULTS_DIR", str(results))
        _add_runs(results)
        paths = build.write_report(stats.Settings())
        groups = stats.all_group_stats(report_runs.load_runs(results))
    return {"paths": paths, "groups": groups, "results": results, "page": paths[2]}


def test_report_writes_its_files(report):
    names = [p.name for p in report["paths"]]
    assert names[:3] == ["leaderboard.md", "analysis.md", "index.html"]  # then conventions.md, costcurve.md
    assert all(p.exists() and p.stat().st_size > 0 for p in report["paths"])


def test_page_is_self_contained(report):
    text = report["page"].read_text(encoding="utf-8")
    assert "<svg" in text and "<script>" in text and "<style>" in text
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|<img[^>]+src=\"?https?:", text)
    assert not re.search(r"(src|href)=\"(https?:)?//", text), "the page must not load anything remotely"
    assert 'href="../leaderboard.csv"' in text and f'href="../runs/{NOISY}__paper5__cv__cpu__seed0.json"' in text


def test_pool_alias():
    assert site.pool_alias("paper5", PAPER5) == "paper5"
    assert site.pool_alias(POOL6, POOL6.split(",")) == "paper5+gemma-2-9b-it"
    assert site.pool_alias("a" * 30 + ",b", ["a" * 30, "b"]) == "2 models"


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


def _open(driver, page, width: int, height: int = 900, hash_: str = "") -> None:
    """The page in a viewport of exactly ``width`` x ``height`` CSS pixels (a window cannot be that narrow)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    driver.get(page.resolve().as_uri() + hash_)


def _routers(driver) -> list[str]:
    return [row.get_attribute("data-router") for row in driver.find_elements("css selector", "#leaderboard tbody tr")
            if row.is_displayed()]


def _column(driver, title: str) -> int:
    headers = driver.find_elements("css selector", "#leaderboard thead th")
    return next(i for i, h in enumerate(headers) if h.text.startswith(title))


def _shot(driver, path) -> None:
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 10_000
    print(f"screenshot: {path}")


FIRST_SCREEN = """
const vh = innerHeight, vw = innerWidth;
return Array.from(document.querySelectorAll('#leaderboard tbody tr')).filter(r => r.offsetParent !== null)
  .map(r => { const c = r.querySelector('td.avg').getBoundingClientRect();
              return {router: r.getAttribute('data-router'), text: r.querySelector('td.avg').textContent,
                      inView: c.top >= 0 && c.bottom <= vh && c.left >= 0 && c.right <= vw}; });"""


def test_chromium_first_screen_at_1400_shows_the_paper5_board(report, browser, tmp_path):
    _open(browser, report["page"], 1400)
    from selenium.webdriver.support.ui import Select

    assert Select(browser.find_element("id", "f-pool")).first_selected_option.get_attribute("value") == "paper5"
    assert Select(browser.find_element("id", "f-protocol")).first_selected_option.get_attribute("value") == "cv"
    rows = browser.execute_script(FIRST_SCREEN)
    visible = [r for r in rows if r["inView"]]
    assert len(visible) >= 8, rows[:3]  # several scored rows on the first screen, not a header wall
    assert all(re.match(r"-?\d+\.\d", r["text"]) for r in visible)
    groups = report["groups"]
    paper5 = ranking.display_groups(groups)[("paper5", "cv")]
    assert sorted(r["router"] for r in rows) == sorted(k[0] for k in paper5)  # only paper5 / cv rows
    mbpp = browser.execute_script("const h=[...document.querySelectorAll('#leaderboard thead th')]"
                                  ".find(h=>h.textContent.startsWith('MBPP')); return h.getBoundingClientRect().right")
    assert mbpp <= 1400  # every benchmark's score in the first screen too
    _shot(browser, tmp_path / "leaderboard-1400.png")


def test_chromium_no_horizontal_overflow_at_390(report, browser, tmp_path):
    _open(browser, report["page"], 390)
    widths = browser.execute_script(
        "const b=document.getElementById('board').getBoundingClientRect();"
        "return [innerWidth, document.documentElement.scrollWidth, b.left, b.right,"
        " document.getElementById('leaderboard').scrollWidth];")
    inner, page_width, left, right, table_width = widths
    assert inner == 390 and page_width <= inner, widths  # the page itself never scrolls sideways
    assert left >= 0 and right <= inner and table_width > right - left  # the board scrolls in its own box
    assert any(r["inView"] for r in browser.execute_script(FIRST_SCREEN))  # a score on the first screen
    _shot(browser, tmp_path / "leaderboard-390.png")


LABELS = """
const out = [];
document.querySelectorAll('figure.plot').forEach(f => {
  if (f.offsetParent === null) return;
  const boxes = Array.from(f.querySelectorAll('[id*="-lbl-"]')).map(g => { const r = g.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom, g.textContent.trim()]; });
  out.push({labels: JSON.parse(f.getAttribute('data-labels')), boxes: boxes});
});
return out;"""


def _overlap(a, b) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[1], b[1]) > 0.5


@pytest.mark.parametrize("pool", ["paper5", POOL6])
def test_chromium_plot_labels_are_distinct_and_apart(report, browser, pool):
    from selenium.webdriver.support.ui import Select

    _open(browser, report["page"], 1400, 5000)
    Select(browser.find_element("id", "f-pool")).select_by_value(pool)
    figures = browser.execute_script(LABELS)
    assert len(figures) >= (4 if pool == "paper5" else 2)  # dot plots, cost plots (and the curves)
    for fig in figures:
        labels, boxes = fig["labels"], fig["boxes"]
        assert len(labels) == len(set(labels)), labels
        assert len(boxes) == len(labels) and all(b[2] > b[0] for b in boxes), (labels, boxes)
        clashes = [(a[4], b[4]) for i, a in enumerate(boxes) for b in boxes[i + 1:] if _overlap(a, b)]
        assert not clashes, clashes
    if pool == "paper5":
        every = {label for fig in figures for label in fig["labels"]}
        assert {f"{c} (cv/cpu)" for c in CLONES} <= every  # identical points, each named
        assert {f"{NOISY} (cv/cpu)", f"{NOISY} (cv/small)"} <= every  # one router, two profiles: two labels
        assert "Qwen2.5-Coder-7B-Instruct alone" in every  # the cost–quality curve file is drawn


def test_chromium_pool_alias_sorting_filters_and_url(report, browser):
    from selenium.webdriver.support.ui import Select

    _open(browser, report["page"], 1400)
    pool = Select(browser.find_element("id", "f-pool"))
    option = next(o for o in pool.options if o.get_attribute("value") == POOL6)
    assert option.text.startswith("paper5+gemma-2-9b-it") and option.get_attribute("title") == POOL6.replace(",", ", ")
    groups = report["groups"]
    initial = _routers(browser)
    assert initial == sorted(initial, key=lambda r: -groups[_key(groups, r, "paper5")].avg_point())

    header = browser.find_elements("css selector", "#leaderboard thead th")[_column(browser, "Avg mu_n")]
    avg = {r: groups[_key(groups, r, "paper5")].avg_point() for r in initial}
    header.click()  # a number column: best first, then the other way round
    values = [avg[r] for r in _routers(browser)]
    assert values == sorted(values, reverse=True) and values[-1] < values[0]
    header.click()
    values = [avg[r] for r in _routers(browser)]
    assert values == sorted(values) and values[-1] > values[0]
    browser.find_elements("css selector", "#leaderboard thead th")[_column(browser, "Router")].click()
    assert _routers(browser) == sorted(_routers(browser), key=str.lower)

    Select(browser.find_element("id", "f-score")).select_by_value("mu_o")  # sort a benchmark by the raw metric
    browser.find_elements("css selector", "#leaderboard thead th")[_column(browser, "GSM8K")].click()
    raw = {r: groups[_key(groups, r, "paper5")].point_mu_o["gsm8k"] for r in _routers(browser)}
    assert list(raw.values()) == sorted(raw.values(), reverse=True)

    Select(browser.find_element("id", "f-kind")).select_by_value("reference")
    assert set(_routers(browser)) == {k[0] for k in groups if k[1] == "paper5" and k[2] == "none"}
    Select(browser.find_element("id", "f-kind")).select_by_value("all")
    Select(browser.find_element("id", "f-profile")).select_by_value("small")  # references stay beside
    assert sorted(_routers(browser)) == sorted([NOISY, *(k[0] for k in groups if k[1] == "paper5" and k[2] == "none")])
    Select(browser.find_element("id", "f-profile")).select_by_value("all")
    browser.find_element("id", "f-search").send_keys("clone_b")
    assert _routers(browser) == ["noisy_clone_b"]
    pool.select_by_value(POOL6)
    assert sorted(_routers(browser)) == []  # the name filter still holds on the other pool
    browser.find_element("id", "f-search").clear()
    browser.execute_script("document.getElementById('f-search').dispatchEvent(new Event('input'))")
    assert sorted(_routers(browser)) == sorted(k[0] for k in ranking.display_groups(groups)[(POOL6, "cv")])

    url = browser.current_url  # the view travels with the link
    assert "pool=" in url and "score=mu_o" in url
    browser.get("about:blank")
    browser.get(url)
    assert Select(browser.find_element("id", "f-pool")).first_selected_option.get_attribute("value") == POOL6


def _key(groups, router: str, pool: str):
    return next(k for k in groups if k[0] == router and k[1] == pool and k[2] in ("cv", "none"))
