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


def test_the_flame_chart_draws_calls_in_order_and_a_click_zooms_to_one(tmp_path, page):
    page.goto(make_page(tmp_path).as_uri())
    canvas = page.locator("#chart canvas")
    assert canvas.count() == 1, "one thread, one chart"
    assert "in the order they ran" in page.inner_text("#chart-note")
    box = canvas.bounding_box()
    # Not blank: the chart drew coloured rows.
    painted = page.evaluate(
        """() => { const c = document.querySelector('#chart canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] && d[i] > d[i + 2] + 60) n++; return n; }"""
    )
    assert painted > 1000, painted
    # Depth 0 holds the module's body (and what runs at exit, threading._shutdown, whose length
    # varies with the machine's load): hover the middle of the module's span, which names it.
    x = page.evaluate(
        """() => { const D = refscope.data, spans = D.chart.threads.flatMap(t => t.spans);
        const t0 = Math.min(...spans.map(s => s[2])), t1 = Math.max(...spans.map(s => s[3]));
        const m = spans.find(s => s[1] === 0 && D.functions[s[0]].name === '<module>');
        return ((m[2] + m[3]) / 2 - t0) / (t1 - t0); }"""
    )
    at = {"x": box["width"] * x, "y": 16 + 8}
    canvas.hover(position=at)
    assert page.inner_text("#chart-tip").startswith("<module>"), page.inner_text("#chart-tip")
    canvas.click(position=at)
    assert page.inner_text("#detail").startswith("<module>")
    # Zoomed to the module (with 2% to each side): its first call at depth 1 is fib(15).
    x = page.evaluate(
        """() => { const D = refscope.data, spans = D.chart.threads.flatMap(t => t.spans);
        const m = spans.find(s => s[1] === 0 && D.functions[s[0]].name === '<module>');
        const pad = (m[3] - m[2]) * 0.02, v0 = m[2] - pad, v1 = m[3] + pad;
        const f = spans.filter(s => s[1] === 1).sort((a, b) => a[2] - b[2])[0];
        return ((f[2] + f[3]) / 2 - v0) / (v1 - v0); }"""
    )
    canvas.click(position={"x": box["width"] * x, "y": 16 + 17 + 8})
    assert page.inner_text("#detail").startswith("fib"), page.inner_text("#detail")
    assert page.errors == []


def test_a_function_shows_its_source_with_the_run_reports_lines(tmp_path, page):
    run_json, out = tmp_path / "run.json", tmp_path / "p.html"
    assert run([sys.executable, "-m", "refscope", "run", "-q", "--json", run_json, SCRIPT], cwd=REPO).returncode == 0
    argv = ["profile", "-q", "--html", out, "--lines-from", run_json, SCRIPT]
    res = run([sys.executable, "-m", "refscope", *argv], cwd=REPO)
    assert res.returncode == 0, res
    page.goto(out.as_uri())
    page.click('#functions tbody tr:has(td.name:text-matches("^fib "))')
    code = page.eval_on_selector_all("#detail table.src tr[id] td.code", "tds => tds.map(t => t.textContent)")
    assert code[0].startswith("def fib(n):") and code[-1].strip() == "return fib(n - 1) + fib(n - 2)", code
    rows = page.eval_on_selector_all(
        "#detail table.src tr[id]", "trs => trs.map(t => [...t.children].map(c => c.textContent))"
    )
    body = next(r for r in rows if r[-1].strip().startswith("return fib"))
    assert body[1] == "986", body  # hits, from the run report
    assert page.errors == []


def test_without_a_run_report_the_source_says_how_to_get_figures(tmp_path, page):
    page.goto(make_page(tmp_path).as_uri())
    page.click('#functions tbody tr:has(td.name:text-matches("^is_even "))')
    detail = page.inner_text("#detail")
    assert "def is_even(n):" in detail and "def is_odd" not in detail, detail
    assert "--lines-from" in detail
