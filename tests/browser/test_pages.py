"""Every command's `--html` page in a real browser: it opens offline with no console error and no
request but its own file, one interaction works, and it reads with JavaScript off.

`pytest tests/browser --screenshots` also saves each page as docs/images/<command>.png.
Heavy (a browser per test): on 3.11 and 3.13 only; the pages are the same Rust templates on all."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO, SCRIPTS, page_data, run

PROGRAM = SCRIPTS / "page_program.py"

pytestmark = pytest.mark.skipif(sys.version_info[:2] not in ((3, 11), (3, 13)), reason="heavy: 3.11 and 3.13")


def refscope(*args, cwd=REPO):
    res = run([sys.executable, "-m", "refscope", *map(str, args)], cwd=cwd)
    assert res.returncode == 0, res
    return res


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Each command's page (and JSON report), made once for the module."""
    d = tmp_path_factory.mktemp("pages")
    refscope("run", "-q", "--html", d / "run.html", "--json", d / "run.json", PROGRAM)
    refscope("heap", "-q", "--html", d / "heap.html", "--json", d / "heap.json", PROGRAM)
    refscope(
        "size",
        "-s",
        "d = {'rows': [list(range(500)) for _ in range(40)], 'names': ['x' * 50] * 9}",
        "d",
        "--html",
        d / "size.html",
        "--json",
        d / "size.json",
    )
    refscope(
        "bench",
        "--time-budget",
        "0.6",
        "-s",
        "xs = list(range(300))",
        "sum(xs)",
        "sorted(xs)",
        "--html",
        d / "bench.html",
        "--json",
        d / "bench.json",
    )
    refscope("profile", "-q", "--html", d / "profile.html", PROGRAM)
    refscope("explain", "-q", "--html", d / "explain.html", REPO / "examples" / "lesson" / "self_referencing_list.py")
    return d


def open_page(page, path, request):
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    assert page.errors == [], page.errors
    assert page.requests == [path.as_uri()], page.requests
    if request.config.getoption("--screenshots"):
        page.screenshot(path=str(REPO / "docs" / "images" / f"{path.stem}.png"))


@pytest.mark.parametrize("name", ["run", "heap", "size", "bench", "profile", "explain"])
def test_every_page_shares_the_head_and_opens_offline(pages, page, name, request):
    open_page(page, pages / f"{name}.html", request)
    assert page.inner_text("header .brand") == f"refscope {name}"
    csp = page.get_attribute('meta[http-equiv="Content-Security-Policy"]', "content")
    assert csp.startswith("default-src 'none'")
    assert page.title().startswith(f"refscope {name} · ")


def test_run_page_rows_carry_the_reports_figures_and_sort(pages, page, request):
    report = json.loads((pages / "run.json").read_text())
    open_page(page, pages / "run.html", request)
    (f,) = [f for f in report["files"] if f["display"].endswith("page_program.py")]
    fid = [x["display"] for x in report["files"]].index(f["display"])
    for line in f["lines"]:
        cells = page.eval_on_selector(f"#L{fid}-{line['line']}", "tr => [...tr.cells].map(c => c.textContent)")
        assert cells[0] == str(line["line"]) and cells[1] == f"{line['hits']:,}", (line, cells)
    # Every line of the file is on the page, run or not.
    n = len((PROGRAM).read_text().splitlines())
    assert page.eval_on_selector_all(f"tr[id^='L{fid}-']", "rs => rs.length") == n
    # Sorting the function table by calls puts the most called first.
    page.click("#function-table th:first-child")
    first = page.inner_text("#function-table tbody tr:first-child td.code")
    most = max((x for x in report["functions"]), key=lambda x: x["calls"])
    assert first == most["qualname"], (first, most)
    page.click("#function-table th:first-child")
    assert page.inner_text("#function-table tbody tr:first-child td.code") != most["qualname"]


def test_run_page_keys_move_between_hot_lines_and_switch_the_heat(pages, page, request):
    open_page(page, pages / "run.html", request)
    page.keyboard.press("j")
    hot = page.evaluate("location.hash")
    assert hot.startswith("#L"), hot
    assert "at" in page.get_attribute(hot, "class")
    assert page.get_attribute("#files", "class") == "heat-t"
    page.keyboard.press("m")
    assert page.get_attribute("#files", "class") == "heat-m"
    assert page.get_attribute('#heat-switch button[data-heat="m"]', "aria-pressed") == "true"


def test_run_page_timeline_shows_the_peak_and_figures_under_the_pointer(pages, page, request):
    report = json.loads((pages / "run.json").read_text())
    open_page(page, pages / "run.html", request)
    assert page.query_selector("#timeline polyline.heap")
    peak = page.locator("#timeline circle.peak")
    peak.hover()
    tip = page.inner_text("#tip")
    assert tip.startswith("peak heap ") and report["memory"]["peak"]["source"].strip() in tip, tip
    box = page.locator("#timeline svg").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.3)
    assert " s   heap " in page.inner_text("#tip")
    # GC runs are marked on the timeline.
    runs = sum(report["memory"]["gc"]["runs"])
    assert page.eval_on_selector_all("#timeline line.gc", "l => l.length") == min(runs, 2000)
    assert page.query_selector("#rss-split span")


def test_size_page_tree_opens_and_matches_the_report(pages, page, request):
    report = json.loads((pages / "size.json").read_text())
    open_page(page, pages / "size.html", request)
    assert report["tree"][0]["bytes"] == report["deep"]
    # The root is open; its children are closed until clicked.
    rows = page.locator("#tree > details > details")
    assert rows.count() >= 1
    first = rows.first
    assert first.get_attribute("open") is None
    first.locator("summary").first.click()
    assert first.get_attribute("open") is not None
    assert "['rows']" in page.inner_text("#tree")
    types = page.eval_on_selector_all("#type-table tbody td.code", "tds => tds.map(t => t.textContent)")
    assert types == [t["type_name"] for t in report["by_type"]]


def test_heap_page_sorts_types_by_count(pages, page, request):
    report = json.loads((pages / "heap.json").read_text())
    open_page(page, pages / "heap.html", request)
    page.click("#type-table th:nth-child(2)")
    first = page.inner_text("#type-table tbody tr:first-child td.code")
    assert first == max(report["by_type"][:200], key=lambda t: t["count"])["type_name"]


def test_bench_page_draws_every_sample_with_a_tooltip(pages, page, request):
    report = json.loads((pages / "bench.json").read_text())
    open_page(page, pages / "bench.html", request)
    samples = sum(len(s) for st in report["statements"] for s in st["samples"])
    assert page.eval_on_selector_all("#samples-plot circle.sample", "c => c.length") == samples
    page.locator("#samples-plot circle.sample").first.hover(force=True)
    assert page.inner_text("#tip").startswith("A: ")
    assert page.inner_text("#comparisons") and report["comparisons"][0]["verdict"] in page.inner_text("#comparisons")


@pytest.mark.parametrize("name", ["run", "size", "heap", "bench"])
def test_pages_read_with_javascript_off(pages, browser, name):
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    pg.goto((pages / f"{name}.html").as_uri())
    text = pg.inner_text("main")
    want = {"run": "Hottest lines", "size": "Largest parts", "heap": "Top retainers", "bench": "Every sample"}[name]
    assert want in text
    if name in ("run", "bench"):
        assert pg.query_selector("main svg"), "the picture is drawn without scripts"
    context.close()


def test_page_data_is_the_pages_own(pages):
    data = page_data((pages / "run.html").read_text())
    assert data["timeline"] and all(len(p) == 4 for p in data["timeline"])


@pytest.fixture(scope="module")
def big_page(tmp_path_factory):
    """A run page over the static budget: 1,200 small functions (6,000 lines), every one called."""
    d = tmp_path_factory.mktemp("big")
    src = []
    for n in range(1200):
        src += [f"def f{n}(x):", f"    y = [x] * {n % 5 + 1}", "    z = len(y)", "    return z + x", ""]
    src += ["for i in range(1200):", "    globals()[f'f{i}'](i)"]
    (d / "big.py").write_text("\n".join(src) + "\n")
    refscope("run", "-q", "--html", d / "big.html", "--json", d / "big.json", d / "big.py", cwd=d)
    return d


def test_a_big_page_draws_far_chunks_when_they_are_reached(big_page, page):
    path = big_page / "big.html"
    report = json.loads((big_page / "big.json").read_text())
    (f,) = report["files"]
    last = f["lines"][-1]
    page.goto(path.as_uri())
    assert page.errors == [] and page.requests == [path.as_uri()]
    drawn = page.eval_on_selector_all("tr[id^='L0-']", "r => r.length")
    assert drawn <= 1500 < 6002, drawn
    assert page.query_selector("tbody.lazy")
    # Scrolling to the end draws the last lines, with the report's figures.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_selector(f"#L0-{last['line']}", state="attached")
    cells = page.eval_on_selector(f"#L0-{last['line']}", "tr => [...tr.cells].map(c => c.textContent)")
    assert cells[0] == str(last["line"]) and cells[1] == f"{last['hits']:,}"
    # A permalink to a line not drawn yet draws it and goes there.
    middle = f["lines"][len(f["lines"]) // 2]
    page.goto(path.as_uri() + f"#L0-{middle['line']}")
    page.wait_for_selector(f"#L0-{middle['line']}", state="attached")
    assert page.evaluate(f"document.getElementById('L0-{middle['line']}').getBoundingClientRect().top") < 900
    assert page.errors == []


def test_a_big_page_reads_its_drawn_part_with_javascript_off(big_page, browser):
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    pg.goto((big_page / "big.html").as_uri())
    assert "drawn by the page's script when scrolled to" in pg.inner_text("#files")
    drawn = pg.eval_on_selector_all("tr[id^='L0-']", "r => r.length")
    assert 0 < drawn <= 1000, "the hottest chunks are in the page itself"
    context.close()
