"""The `refscope serve` page in a real browser against a real server: type a snippet, Ctrl-Enter,
step through Explain (`b is a` drawn, `del x` freeing), hits in the Run gutter, a Bench verdict,
Size against sys.getsizeof, Profile's flame graph, the editor's keys; no console error and no
request but to the server's loopback address.

`pytest tests/browser --screenshots` also saves docs/images/serve.png.
Heavy (a browser per test): on 3.11 and 3.13 only."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

import pytest
from conftest import REPO, Server

pytestmark = pytest.mark.skipif(sys.version_info[:2] not in ((3, 11), (3, 13)), reason="heavy: 3.11 and 3.13")

RUN_TIMEOUT = 60_000  # ms: a run takes well under a second; a loaded machine may take longer


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def playground(page, server):
    """The page, opened with the token, its editor empty."""
    page.goto(server.url)
    page.wait_for_selector("#snippets option[value='0']", state="attached")
    page.fill("#editor", "")
    yield page
    assert page.errors == [], page.errors
    hosts = {urlsplit(u).hostname for u in page.requests if not u.startswith(("data:", "about:"))}
    assert hosts == {"127.0.0.1"}, page.requests


def type_code(page, text):
    """Types TEXT into the editor key by key (each line's indentation is the editor's own)."""
    page.click("#gutter")
    page.focus("#editor")
    for i, line in enumerate(text.split("\n")):
        if i:
            page.keyboard.press("Enter")
        page.keyboard.type(line)


def run_tab(page, tab):
    page.click(f"#tab-{tab}")
    before = page.get_attribute("#result-frame", "src")
    page.focus("#editor")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        "before => { const f = document.getElementById('result-frame');"
        " return !document.body.classList.contains('busy') && !f.hidden && f.getAttribute('src') !== before; }",
        arg=before,
        timeout=RUN_TIMEOUT,
    )
    return page.frame_locator("#result-frame")


def bindings(frame):
    return {g.get_attribute("data-name"): g.get_attribute("data-object") for g in frame.locator("g.binding").all()}


def test_explain_draws_b_is_a_and_del_freeing(playground, request):
    page = playground
    type_code(page, "a = [1, 2, 3]\nb = a\nprint(b is a)\nx = [4]\ndel x")
    frame = run_tab(page, "explain")
    assert page.inner_text("#stdout").strip() == "True"
    label = frame.locator("#step-label")
    assert label.inner_text().startswith("Step 1 of 5 · line 1")
    frame.locator("#next").click()  # b = a
    assert "line 2" in label.inner_text()
    drawn = bindings(frame)
    assert set(drawn) == {"a", "b"} and drawn["a"] == drawn["b"]
    assert frame.locator("#events li.event-aliased").count() == 1
    while "line 5" not in label.inner_text():
        frame.locator("#next").click()
    events = frame.locator("#events").inner_text()
    assert "freed" in events.lower(), events
    assert "x" not in bindings(frame)
    assert page.get_attribute("[data-stat=freed]", "data-value") == "1"
    href = page.get_attribute("#download", "href")
    assert href == page.get_attribute("#result-frame", "src") + "?download=1"
    if request.config.getoption("--screenshots"):
        page.screenshot(path=str(REPO / "docs" / "images" / "serve.png"))


def test_run_puts_hits_in_the_gutter(playground):
    page = playground
    page.fill("#editor", "total = 0\nfor i in range(5):\n    total += i\nprint(total)\n")
    run_tab(page, "run")
    assert page.inner_text("#stdout").strip() == "10"
    hits = {r.get_attribute("data-line"): r.get_attribute("data-hits") for r in page.query_selector_all("#gutter .row")}
    # As a sys.settrace line counter counts: the loop's line once more than its body.
    assert hits == {"1": "1", "2": "6", "3": "5", "4": "1", "5": None}, hits
    # Editing the code takes the heat away: it no longer matches.
    page.focus("#editor")
    page.keyboard.press("End")
    page.keyboard.type(" ")
    assert page.query_selector("#gutter .row[data-hits]") is None


def test_bench_shows_a_verdict(playground):
    page = playground
    page.fill("#editor", "xs = list(range(2000))")
    page.click("#tab-bench")
    page.fill("#bench-a", "[x * x for x in xs]")
    page.fill("#bench-b", "sum(xs)")
    frame = run_tab(page, "bench")
    verdict = page.inner_text("#summary .verdict")
    assert verdict.startswith("B is ") and "than A" in verdict, verdict
    assert verdict in frame.locator("body").inner_text()


def test_size_is_sys_getsizeof_and_more(playground):
    page = playground
    page.fill("#editor", "xs = [1, 2, 3]\nys = [xs, [4.5] * 10]")
    page.click("#tab-size")
    page.fill("#size-expr", "ys")
    run_tab(page, "size")
    xs = [1, 2, 3]
    ys = [xs, [4.5] * 10]
    shallow = int(page.get_attribute("[data-stat=shallow]", "data-value"))
    deep = int(page.get_attribute("[data-stat=deep]", "data-value"))
    assert shallow == sys.getsizeof(ys)
    # ys, xs, the ten-slot list and one float (4.5 is one object); small ints are shared.
    assert deep == sys.getsizeof(ys) + sys.getsizeof(xs) + sys.getsizeof(ys[1]) + sys.getsizeof(4.5)


def test_profile_draws_the_flame_graph(playground):
    page = playground
    page.fill("#editor", "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\nfib(15)\n")
    frame = run_tab(page, "profile")
    assert frame.locator("#flame svg #frames").count() == 1
    assert "fib" in frame.locator("#functions tbody").inner_text()


def test_a_limit_is_said_plainly(playground):
    page = playground
    page.fill("#editor", "x = bytearray(10**11)")
    run_tab(page, "run")
    assert page.is_visible("#limit")
    assert "memory" in page.inner_text("#limit")
    assert "MemoryError" in page.inner_text("#stderr")


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
    # Highlighting and line numbers follow the text.
    assert page.inner_text("#highlight .t-kw") == "for"
    assert page.eval_on_selector_all("#gutter .row", "rs => rs.length") == 2


def test_a_lesson_snippet_is_one_click_away(playground):
    page = playground
    page.select_option("#snippets", label=page.inner_text("#snippets option[title=loop_vs_comprehension]"))
    assert "squares_loop" in page.input_value("#editor")
    assert page.get_attribute("#tab-bench", "aria-selected") == "true"
    assert page.input_value("#bench-a") == "squares_loop(10_000)"


def test_the_page_needs_its_token(page, server):
    page.goto(server.base + "/")
    assert "token" in page.inner_text("body")
