"""The `refscope explain --html` step-through page, in a real browser."""

from __future__ import annotations

import sys

from conftest import REPO, run

LESSON = REPO / "examples" / "lesson"


def bindings(page):
    """{name: object ref} as drawn now."""
    return {
        g.get_attribute("data-name"): g.get_attribute("data-object")
        for g in page.query_selector_all("g.binding")
    }


def label(page):
    return page.inner_text("#step-label")


def make_page(tmp_path, script):
    out = tmp_path / "story.html"
    res = run([sys.executable, "-m", "refscope", "explain", "-q", "--html", out, script], cwd=REPO)
    assert res.returncode == 0, res
    assert out.exists() and out.stat().st_size > 1000
    return out


def test_stepping_changes_the_drawn_bindings(tmp_path, page):
    out = make_page(tmp_path, LESSON / "same_object_vs_same_value.py")
    page.goto(out.as_uri())
    assert label(page).startswith("Step 1 of 6 · line 2")
    first = bindings(page)
    assert set(first) == {"a"}
    assert page.query_selector_all("path.arrow"), "the name points at its object"
    assert page.query_selector("g.object.new"), "a new object is highlighted"

    page.click("#next")  # b = a
    assert label(page).startswith("Step 2 of 6 · line 3")
    second = bindings(page)
    assert set(second) == {"a", "b"} and second["a"] == second["b"] == first["a"]
    kinds = [li.get_attribute("class") for li in page.query_selector_all("#events li")]
    assert "event event-aliased" in kinds, kinds

    page.click("#next")  # c = [1, 2, 3]
    third = bindings(page)
    assert set(third) == {"a", "b", "c"} and third["c"] != third["a"]
    lists = page.query_selector_all('g.object[data-type="list"]')
    assert len(lists) == 2
    ids = {g.get_attribute("data-id") for g in lists}
    assert len(ids) == 2, "two lists, two ids"

    page.click("#prev")
    assert bindings(page) == second and label(page).startswith("Step 2 of 6")
    page.keyboard.press("ArrowRight")
    assert bindings(page) == third

    page.fill("#step", "6")
    page.dispatch_event("#step", "input")
    assert label(page).startswith("Step 6 of 6 · line 8")
    assert page.is_disabled("#next") and not page.is_disabled("#prev")
    assert "a is c" in page.inner_text("#events")
    page.click("#first")
    assert bindings(page) == first

    assert page.errors == []
    assert all(u.startswith("file://") for u in page.requests), page.requests
    assert len(page.requests) == 1, "one file, nothing else fetched"


def test_a_cycle_is_drawn_as_an_edge_back_to_itself(tmp_path, page):
    out = make_page(tmp_path, REPO / "tests" / "scripts" / "explain_cycle.py")
    page.goto(out.as_uri())
    while "line 4" not in label(page):
        page.click("#next")
    a = bindings(page)["a"]
    loops = page.query_selector_all(f'path.edge[data-from="{a}"][data-to="{a}"]')
    assert len(loops) == 1, "a.append(a): the list refers to itself"
    assert "cycle" in page.inner_text("#events")
    assert page.errors == []
