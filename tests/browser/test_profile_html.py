"""The `refscope profile --html` page, in a real browser."""

from __future__ import annotations

import sys

from conftest import REPO, run

SCRIPT = REPO / "tests" / "scripts" / "profile_recursion.py"


def make_page(tmp_path):
    out = tmp_path / "profile.html"
    res = run([sys.executable, "-m", "refscope", "profile", "-q", "--html", out, SCRIPT], cwd=REPO)
    assert res.returncode == 0, res
    return out


def test_the_page_opens_offline_without_errors(tmp_path, page):
    page.goto(make_page(tmp_path).as_uri())
    page.wait_for_selector("#functions tbody tr")
    assert page.errors == []
    assert len(page.requests) == 1 and page.requests[0].startswith("file://"), page.requests
    names = page.eval_on_selector_all("#functions tbody td.name", "tds => tds.map(t => t.textContent)")
    assert any(n.startswith("fib ") for n in names), names
    assert page.query_selector("#flame svg #frames"), "the flame graph is inline"


def test_clicking_a_frame_zooms_and_shows_its_callers(tmp_path, page):
    page.goto(make_page(tmp_path).as_uri())
    page.wait_for_timeout(100)
    assert "hide" in (page.get_attribute("#unzoom", "class") or "")
    frame = page.locator("#frames g", has=page.locator("title", has_text="fib (")).first
    frame.click()
    assert "hide" not in (page.get_attribute("#unzoom", "class") or ""), "the graph zoomed"
    detail = page.inner_text("#detail")
    assert detail.startswith("fib") and "Called by" in detail, detail
    assert page.errors == []


def test_search_filters_the_table_and_marks_the_tree(tmp_path, page):
    page.goto(make_page(tmp_path).as_uri())
    page.fill("#fn-search", "is_even")
    rows = page.query_selector_all("#functions tbody tr")
    assert len(rows) == 1 and "is_even" in rows[0].inner_text()
    assert page.query_selector_all("#tree .hit"), "matching tree rows are highlighted"
    page.fill("#fn-search", "profile_recursion.py:3")
    assert [r.inner_text().split("\t")[-1] for r in page.query_selector_all("#functions tbody tr")] != []
    assert "fib" in page.inner_text("#functions tbody")


def test_the_table_sorts_by_a_column(tmp_path, page):
    page.goto(make_page(tmp_path).as_uri())
    page.click("#functions th[data-k=calls]")
    first = page.inner_text("#functions tbody tr:first-child td.name")
    assert first.startswith("fib"), first
    page.click("#functions th[data-k=calls]")
    last_first = page.inner_text("#functions tbody tr:first-child td.name")
    assert not last_first.startswith("fib"), last_first
