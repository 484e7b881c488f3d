"""The `refscope serve` page in a real browser against a real server: type a snippet, Ctrl-Enter,
step through Explain (`b is a` drawn, `del x` freeing), hits in the Run gutter, a Bench verdict,
Size against the CLI and sys.getsizeof, Profile's flame graph, limits and errors, the editor's
keys; no console error and no request but to the server's loopback address.

`pytest tests/browser --screenshots` also saves docs/images/serve.png.
Heavy (a browser per test): on 3.11 and 3.13 only."""

from __future__ import annotations

import json
import sys
from urllib.parse import urlsplit

import pytest
from conftest import REPO, Server, run

pytestmark = pytest.mark.skipif(sys.version_info[:2] not in ((3, 11), (3, 13)), reason="heavy: 3.11 and 3.13")

RUN_TIMEOUT = 60_000  # ms: a run takes about a second (bench three); a loaded machine may take longer


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def playground(page, server):
    """The page, opened with the token, its editor emptied once the first snippet is in."""
    page.goto(server.url)
    page.wait_for_selector("#snippets option[value='0']", state="attached")
    page.fill("#editor", "")
    yield page
    assert page.errors == [], page.errors
    hosts = {urlsplit(u).hostname for u in page.requests if not u.startswith(("data:", "about:"))}
    assert hosts == {"127.0.0.1"}, page.requests


def refscope_json(tmp_path, command, *args):
    """`refscope COMMAND --json FILE ARGS` run as the CLI; the report."""
    out = tmp_path / "report.json"
    res = run([sys.executable, "-m", "refscope", command, "--json", out, *map(str, args)], cwd=tmp_path)
    assert res.returncode == 0, res
    return json.loads(out.read_text())


def type_code(page, text):
    """Types TEXT into the editor key by key; each line's indentation is the editor's own doing."""
    page.focus("#editor")
    for i, line in enumerate(text.split("\n")):
        if i:
            page.keyboard.press("Enter")
        page.keyboard.type(line)


def run_tab(page, tab):
    """Ctrl-Enter on TAB; the result frame once its page has loaded."""
    page.click(f"#tab-{tab}")
    before = page.get_attribute("#result-frame", "src")
    page.focus("#editor")
    page.keyboard.press("Control+Enter")
    # The page's CSP allows no eval, so no wait_for_function: the busy class says when it answered.
    page.wait_for_selector("body:not(.busy)", timeout=RUN_TIMEOUT)
    assert page.is_hidden("#error"), page.inner_text("#error")
    src = page.get_attribute("#result-frame", "src")
    assert src and src != before and src.startswith("/results/"), src
    frame = page.frame_locator("#result-frame")
    frame.locator("header .brand").wait_for()
    assert frame.locator("header .brand").inner_text() == f"refscope {tab}"
    return frame


def stat(page, key):
    return int(page.get_attribute(f"#summary [data-stat={key}]", "data-value"))


def bindings(frame):
    return {g.get_attribute("data-name"): g.get_attribute("data-object") for g in frame.locator("g.binding").all()}


def test_explain_draws_b_is_a_and_del_freeing(playground, request):
    page = playground
    type_code(page, "a = [1, 2, 3]\nb = a\nprint(b is a)\nx = [4]\ndel x")
    frame = run_tab(page, "explain")
    assert page.inner_text("#stdout").strip() == "True"
    assert page.inner_text("#exit").startswith("exit 0 · ")
    label = frame.locator("#step-label")
    assert label.inner_text().startswith("Step 1 of 5 · line 1")
    assert stat(page, "steps") == 5
    frame.locator("#next").click()  # b = a
    assert "line 2" in label.inner_text()
    drawn = bindings(frame)
    assert set(drawn) == {"a", "b"} and drawn["a"] == drawn["b"], "two names, one object"
    assert frame.locator("#events li.event-aliased").count() == 1
    frame.locator("#last").click()  # del x
    assert "line 5" in label.inner_text()
    freed = frame.locator("#events li.event-freed").inner_text()
    assert "freed" in freed and "(was x)" in freed, freed
    assert "x" not in bindings(frame)
    assert stat(page, "freed") == 1
    href = page.get_attribute("#download", "href")
    assert href == page.get_attribute("#result-frame", "src") + "?download=1"
    if request.config.getoption("--screenshots"):
        frame.locator("#first").click()
        frame.locator("#next").click()
        page.screenshot(path=str(REPO / "docs" / "images" / "serve.png"))


def test_run_puts_the_clis_hits_in_the_gutter(playground, tmp_path):
    page = playground
    type_code(page, "total = 0\nfor i in range(5):\ntotal += i\n")
    page.keyboard.press("Backspace")  # back out of the loop's body
    page.keyboard.type("print(total)")
    code = page.input_value("#editor")
    assert code == "total = 0\nfor i in range(5):\n    total += i\nprint(total)"
    run_tab(page, "run")
    assert page.inner_text("#stdout").strip() == "10"
    hits = {r.get_attribute("data-line"): r.get_attribute("data-hits") for r in page.query_selector_all("#gutter .row")}
    (tmp_path / "snippet.py").write_text(code)
    report = refscope_json(tmp_path, "run", "-q", "snippet.py")
    (f,) = [f for f in report["files"] if f["path"].endswith("snippet.py")]
    assert hits == {str(line["line"]): str(line["hits"]) for line in f["lines"]}, hits
    assert hits["3"] == "5", "the loop's body ran five times"
    assert page.inner_text('#gutter .row[data-line="3"] .hits') == "5"
    assert stat(page, "line_events") == report["line_events"]
    # Editing the code takes the heat away: it no longer matches.
    page.focus("#editor")
    page.keyboard.press("End")
    page.keyboard.type(" ")
    assert page.query_selector("#gutter .row[data-hits]") is None
    assert page.eval_on_selector_all("#gutter .row", "rs => rs.length") == 4


def test_bench_shows_a_verdict(playground):
    page = playground
    page.fill("#editor", "xs = list(range(2000))")
    page.click("#tab-bench")
    page.fill("#bench-a", "[x * x for x in xs]")
    page.fill("#bench-b", "sum(xs)")
    frame = run_tab(page, "bench")
    verdict = page.locator("#summary .verdict")
    assert verdict.count() == 1
    text = verdict.inner_text()
    assert "A" in text and "B" in text, text
    assert verdict.get_attribute("data-verdict") in frame.locator("#comparisons").inner_text()
    assert page.inner_text("[data-stat=stmt-A] .k") == "A: [x * x for x in xs]"


def test_size_is_the_clis_and_sys_getsizeof(playground, tmp_path):
    page = playground
    code = "xs = [1, 2, 3]\nys = [xs, [4.5] * 10]"
    page.fill("#editor", code)
    page.click("#tab-size")
    # "ys" selected in the editor is what "Size of selection" measures.
    page.eval_on_selector("#editor", "(e, s) => e.setSelectionRange(s, s + 2)", code.index("ys"))
    page.click("#size-selection")
    assert page.input_value("#size-expr") == "ys"
    page.wait_for_selector("body:not(.busy)", timeout=RUN_TIMEOUT)
    page.frame_locator("#result-frame").locator("header .brand").wait_for()
    xs = [1, 2, 3]
    ys = [xs, [4.5] * 10]
    assert stat(page, "shallow") == sys.getsizeof(ys)
    # ys, xs, the ten-slot list and one float (4.5 is one object); small ints are shared.
    assert stat(page, "deep") == sys.getsizeof(ys) + sys.getsizeof(xs) + sys.getsizeof(ys[1]) + sys.getsizeof(4.5)
    report = refscope_json(tmp_path, "size", "-s", code, "ys")
    assert [stat(page, k) for k in ("shallow", "deep", "retained")] == [
        report["shallow"],
        report["deep"],
        report["retained"],
    ]


def test_profile_draws_the_flame_graph(playground):
    page = playground
    page.fill("#editor", "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\nfib(15)\n")
    frame = run_tab(page, "profile")
    assert frame.locator("#flame svg #frames").count() == 1
    assert "fib" in frame.locator("#functions tbody").inner_text()
    assert page.inner_text("#summary [data-stat=function] .k") == "fib"


def test_a_limit_is_said_plainly(playground):
    page = playground
    page.fill("#editor", "x = bytearray(10**11)")
    run_tab(page, "run")
    assert page.is_visible("#limit")
    assert "memory" in page.inner_text("#limit")
    assert "MemoryError" in page.inner_text("#stderr")
    # The failing line is marked in the gutter until the code changes.
    assert page.get_attribute('#gutter .row[data-line="1"]', "class") == "row err"


def test_output_past_the_cap_is_cut_and_said(playground):
    page = playground
    page.fill("#editor", "print('x' * 2_000_000)")
    run_tab(page, "run")
    assert "output" in page.inner_text("#limit")
    assert page.is_visible("#stdout-cut")
    assert len(page.eval_on_selector("#stdout", "p => p.textContent")) <= 1 << 20


def test_a_request_error_shows_its_error_and_hint(playground):
    page = playground
    page.fill("#editor", "x = 1")
    page.context.clear_cookies()
    page.focus("#editor")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#error:not([hidden])", timeout=RUN_TIMEOUT)
    text = page.inner_text("#error")
    assert "token" in text and "Authorization" in text, text
    # The browser logs the refused request; nothing else may be logged.
    assert all("401" in e for e in page.errors), page.errors
    page.errors.clear()


def test_the_editor_keys(playground):
    page = playground
    type_code(page, "for i in range(3):\nprint(i)")
    assert page.input_value("#editor") == "for i in range(3):\n    print(i)"
    page.keyboard.press("Home")
    page.keyboard.press("Shift+Tab")
    assert page.input_value("#editor") == "for i in range(3):\nprint(i)"
    page.keyboard.press("Tab")
    assert page.input_value("#editor") == "for i in range(3):\n    print(i)"
    page.keyboard.press("Control+z")
    assert page.input_value("#editor") == "for i in range(3):\nprint(i)"
    # A selection indents and dedents every line it touches.
    page.keyboard.press("Control+a")
    page.keyboard.press("Tab")
    assert page.input_value("#editor") == "    for i in range(3):\n    print(i)"
    page.keyboard.press("Shift+Tab")
    assert page.input_value("#editor") == "for i in range(3):\nprint(i)"
    # Backspace in leading spaces goes back to the previous multiple of four.
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.type("      x")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Backspace")
    assert page.input_value("#editor").endswith("\n    x")
    # Highlighting and line numbers follow the text.
    assert page.inner_text("#highlight .t-kw") == "for"
    assert page.inner_text("#highlight .t-bi") == "range"
    assert page.eval_on_selector_all("#gutter .row", "rs => rs.length") == 3
    assert page.get_attribute("#gutter .row:last-child", "data-line") == "3"


def test_a_lesson_snippet_is_one_click_away(playground, server):
    page = playground
    info = server.request("GET", "/api/info")[2]
    assert info["python"]["version"] in page.inner_text("#about")
    page.select_option("#snippets", label=page.inner_text("#snippets option[title=loop_vs_comprehension]"))
    assert "squares_loop" in page.input_value("#editor")
    assert page.get_attribute("#tab-bench", "aria-selected") == "true"
    assert page.get_attribute("#tab-explain", "aria-selected") == "false"
    assert page.input_value("#bench-a") == "squares_loop(10_000)"


def test_the_first_snippet_is_in_an_empty_editor(page, server):
    info = server.request("GET", "/api/info")[2]
    page.goto(server.url)
    page.wait_for_selector("#snippets option[value='0']", state="attached")
    assert page.input_value("#editor") == info["snippets"][0]["code"]
    assert page.errors == []


def test_the_page_needs_its_token(page, server):
    page.goto(server.base + "/")
    assert "token" in page.inner_text("body")
