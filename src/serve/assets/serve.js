"use strict";
// The refscope serve page: an editor, five commands, their results in a sandboxed frame.
(() => {
  const $ = (id) => document.getElementById(id);
  const TABS = ["explain", "run", "size", "bench", "profile"];
  const INDENT = 4;
  const STORE = "refscope-serve";

  const ed = $("editor");
  const gutter = $("gutter");
  const code = $("highlight-code");
  const frame = $("result-frame");
  const PLACEHOLDER = [...$("placeholder").childNodes].map((n) => n.cloneNode(true));

  const state = {
    tab: "explain",
    busy: false,
    info: null,
    results: {}, // tab -> the last answer for it
    heat: null, // {lines: Map(line -> figures), max} while the code is the one that ran
    err: null, // {line, text}: where the last run failed in snippet.py, until the next edit
    rows: 0,
    escaped: false, // Escape was pressed: the next Tab leaves the editor
  };

  // ---------------------------------------------------------------- figures

  function fmtNs(ns) {
    if (ns < 1e3) return `${Math.round(ns)} ns`;
    if (ns < 1e6) return `${(ns / 1e3).toFixed(1)} µs`;
    if (ns < 1e9) return `${(ns / 1e6).toFixed(1)} ms`;
    return `${(ns / 1e9).toFixed(2)} s`;
  }
  function fmtBytes(b) {
    if (b < 1024) return `${b} B`;
    if (b < 1024 ** 2) return `${(b / 1024).toFixed(1)} KiB`;
    if (b < 1024 ** 3) return `${(b / 1024 ** 2).toFixed(1)} MiB`;
    return `${(b / 1024 ** 3).toFixed(2)} GiB`;
  }
  const thousands = (n) => Number(n).toLocaleString("en-US");
  // Compact forms for the gutter's narrow columns.
  function shortCount(n) {
    if (n < 10000) return String(n);
    if (n < 1e6) return `${Math.round(n / 1e3)}k`;
    if (n < 1e9) return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)}M`;
    return `${(n / 1e9).toFixed(1)}G`;
  }
  function shortBytes(b) {
    if (b < 1024) return `${b}B`;
    if (b < 1024 ** 2) return `${(b / 1024).toFixed(b < 10240 ? 1 : 0)}K`;
    if (b < 1024 ** 3) return `${(b / 1024 ** 2).toFixed(b < 10 * 1024 ** 2 ? 1 : 0)}M`;
    return `${(b / 1024 ** 3).toFixed(1)}G`;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  // ---------------------------------------------------------------- highlighting

  const KEYWORDS = new Set(
    ("and as assert async await break class continue def del elif else except finally for from global if " +
      "import in is lambda nonlocal not or pass raise return try while with yield match case").split(" "),
  );
  const CONSTANTS = new Set(["True", "False", "None", "Ellipsis", "NotImplemented", "__name__", "__file__"]);
  const BUILTINS = new Set(
    ("abs aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr classmethod compile complex " +
      "delattr dict dir divmod enumerate eval exec filter float format frozenset getattr globals hasattr hash help " +
      "hex id input int isinstance issubclass iter len list locals map max memoryview min next object oct open ord " +
      "pow print property range repr reversed round set setattr slice sorted staticmethod str sum super tuple type " +
      "vars zip __import__ BaseException Exception ArithmeticError AssertionError AttributeError EOFError " +
      "ImportError ModuleNotFoundError IndexError KeyError KeyboardInterrupt MemoryError NameError " +
      "NotImplementedError OSError OverflowError RecursionError RuntimeError StopIteration SyntaxError " +
      "SystemExit TypeError ValueError ZeroDivisionError FileNotFoundError GeneratorExit").split(" "),
  );
  const TOKEN = new RegExp(
    [
      /(#[^\n]*)/.source,
      // Strings with their prefix; an unclosed triple quote runs to the end, an unclosed quote to the line's end.
      /([rRbBuUfF]{0,2}(?:'''[\s\S]*?(?:'''|$)|"""[\s\S]*?(?:"""|$)|'(?:\\[\s\S]|[^'\\\n])*'?|"(?:\\[\s\S]|[^"\\\n])*"?))/
        .source,
      /(@[\p{L}_][\p{L}\p{N}_.]*)/u.source,
      /((?:0[xX][\da-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)[jJ]?)/
        .source,
      /([\p{L}_][\p{L}\p{N}_]*)/u.source,
    ].join("|"),
    "gu",
  );
  const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const span = (cls, s) => `<span class="t-${cls}">${esc(s)}</span>`;

  function fstring(s, prefixLen) {
    // The {...} parts of an f-string as code, roughly: no nesting.
    let out = esc(s.slice(0, prefixLen));
    const body = s.slice(prefixLen);
    let last = 0;
    for (const m of body.matchAll(/\{\{|\}\}|\{[^{}\n]*\}/g)) {
      if (m[0] === "{{" || m[0] === "}}") continue;
      out += esc(body.slice(last, m.index)) + `<span class="t-fx">${esc(m[0])}</span>`;
      last = m.index + m[0].length;
    }
    return `<span class="t-str">${out}${esc(body.slice(last))}</span>`;
  }

  function highlight(src) {
    let out = "";
    let last = 0;
    let after = null; // "def" or "class": the next name is what they define
    TOKEN.lastIndex = 0;
    let m;
    while ((m = TOKEN.exec(src))) {
      const [tok, com, str, dec, num, name] = m;
      if (!tok) {
        TOKEN.lastIndex++;
        continue;
      }
      out += esc(src.slice(last, m.index));
      last = m.index + tok.length;
      if (com) out += span("com", com);
      else if (str) {
        const prefix = /^[rRbBuUfF]*/.exec(str)[0];
        out += /f/i.test(prefix) ? fstring(str, prefix.length) : span("str", str);
      } else if (dec) {
        const lineStart = src.lastIndexOf("\n", m.index - 1) + 1;
        if (/^[ \t]*$/.test(src.slice(lineStart, m.index))) out += span("dec", dec);
        else {
          // `a @ b` or `a@b`: the operator, then the name as a name.
          out += "@";
          last = m.index + 1;
          TOKEN.lastIndex = last;
          continue;
        }
      } else if (num) out += span("num", num);
      else if (name) {
        if (after) out += span(after === "def" ? "fn" : "cls", name);
        else if (KEYWORDS.has(name)) out += span("kw", name);
        else if (CONSTANTS.has(name)) out += span("const", name);
        else if (name === "self" || name === "cls") out += span("self", name);
        else if (BUILTINS.has(name)) out += span("bi", name);
        else out += esc(name);
        after = name === "def" || name === "class" ? name : null;
        continue;
      }
      after = null;
    }
    return out + esc(src.slice(last));
  }

  // ---------------------------------------------------------------- gutter

  function heatRow(row, n) {
    const f = state.heat && state.heat.lines.get(n);
    if (!f) return;
    row.dataset.hits = String(f.hits);
    row.prepend(
      el("span", "hits", shortCount(f.hits)),
      el("span", "time", fmtNs(f.time_ns).replace(" ", "")),
      el("span", "mem", f.alloc_bytes ? shortBytes(f.alloc_bytes) : ""),
    );
    const share = state.heat.total ? f.self_ns / state.heat.total : 0;
    const strength = state.heat.max ? f.self_ns / state.heat.max : 0;
    row.style.backgroundColor = `rgba(255, 140, 30, ${(0.06 + 0.6 * strength).toFixed(3)})`;
    row.title =
      `line ${n}: ${thousands(f.hits)} hits · ${fmtNs(f.time_ns)} (own ${fmtNs(f.self_ns)}, ` +
      `${(share * 100).toFixed(1)}% of the time) · ${fmtBytes(f.alloc_bytes)} allocated, ` +
      `${fmtBytes(f.freed_bytes || 0)} freed`;
  }

  function makeRow(n) {
    const row = el("div", "row");
    row.dataset.line = String(n);
    row.append(el("span", "no", String(n)));
    heatRow(row, n);
    if (state.err && state.err.line === n) {
      row.classList.add("err");
      row.title = state.err.text + (row.title ? `\n${row.title}` : "");
    }
    return row;
  }

  function renderGutter(rebuild) {
    let n = 1;
    for (let i = ed.value.indexOf("\n"); i !== -1; i = ed.value.indexOf("\n", i + 1)) n++;
    if (rebuild) {
      gutter.textContent = "";
      state.rows = 0;
    }
    if (n > state.rows) {
      const frag = document.createDocumentFragment();
      for (let i = state.rows + 1; i <= n; i++) frag.append(makeRow(i));
      gutter.append(frag);
    } else {
      while (gutter.childElementCount > n) gutter.lastElementChild.remove();
    }
    state.rows = n;
    gutter.classList.toggle("heat", !!state.heat);
  }

  function applyHeat(report) {
    const file = (report.files || []).find((f) => /(^|[\\/])snippet\.py$/.test(f.path || ""));
    if (!file) return;
    const lines = new Map(file.lines.map((l) => [l.line, l]));
    let total = 0;
    let max = 0;
    for (const l of file.lines) {
      total += l.self_ns;
      max = Math.max(max, l.self_ns);
    }
    state.heat = { lines, total, max };
    renderGutter(true);
    const note = "gutter: hits · time · allocated; colour: each line's own share of the time";
    $("heat-note").textContent = note;
    $("heat-note").title = note;
  }

  // The innermost line of snippet.py a traceback (or a syntax error) names.
  function markError(stderr) {
    const lines = [...(stderr || "").matchAll(/snippet\.py", line (\d+)/g)];
    if (!lines.length) return;
    const text = (stderr.match(/^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*$/gm) || ["the program failed here"]).pop();
    state.err = { line: Number(lines[lines.length - 1][1]), text };
    renderGutter(true);
  }

  function clearMarks() {
    if (!state.heat && !state.err) return;
    state.heat = null;
    state.err = null;
    renderGutter(true);
    $("heat-note").textContent = "";
  }

  // ---------------------------------------------------------------- editor

  function render() {
    // The trailing space gives a final empty line its height, as the textarea does.
    code.innerHTML = highlight(ed.value) + " ";
    renderGutter(false);
    cursor();
  }

  function cursor() {
    const upto = ed.value.slice(0, ed.selectionStart);
    const line = upto.split("\n").length;
    const col = ed.selectionStart - (upto.lastIndexOf("\n") + 1) + 1;
    const sel = Math.abs(ed.selectionEnd - ed.selectionStart);
    $("cursor").textContent = `Ln ${line}, Col ${col}` + (sel ? ` (${sel} selected)` : "");
  }

  const lineStart = (v, i) => v.lastIndexOf("\n", i - 1) + 1;
  function lineEnd(v, i) {
    const j = v.indexOf("\n", i);
    return j === -1 ? v.length : j;
  }

  // Replace [start, end) through the browser's editing commands, so undo keeps the edit.
  function replace(start, end, text, selStart, selEnd) {
    if (start === end && !text) return;
    ed.focus();
    ed.setSelectionRange(start, end);
    let ok = false;
    try {
      ok = text ? document.execCommand("insertText", false, text) : document.execCommand("delete");
      ok = ok && ed.value.slice(start, start + text.length) === text;
    } catch (e) {
      ok = false;
    }
    if (!ok) {
      ed.setRangeText(text, start, end, "end");
      ed.dispatchEvent(new Event("input", { bubbles: true }));
    }
    if (selStart !== undefined) ed.setSelectionRange(selStart, selEnd === undefined ? selStart : selEnd);
  }

  // The lines a selection touches: a selection ending at a line's start leaves that line out.
  function block() {
    const v = ed.value;
    const s = ed.selectionStart;
    let e = ed.selectionEnd;
    if (e > s && v[e - 1] === "\n") e--;
    const from = lineStart(v, s);
    const to = lineEnd(v, e);
    return { v, s, e: ed.selectionEnd, from, to, lines: v.slice(from, to).split("\n") };
  }

  function indent() {
    const { v, s, e, from, to, lines } = block();
    if (s === e) {
      const n = INDENT - ((s - lineStart(v, s)) % INDENT);
      replace(s, e, " ".repeat(n));
      return;
    }
    const pad = " ".repeat(INDENT);
    const out = lines.map((l) => (l.trim() ? pad + l : l));
    const added = out.join("\n").length - (to - from);
    const firstAdded = out[0].length - lines[0].length;
    replace(from, to, out.join("\n"), s + firstAdded, e + added);
  }

  function dedent() {
    const { s, e, from, to, lines } = block();
    const cut = lines.map((l) => (l.startsWith("\t") ? 1 : Math.min(INDENT, /^ */.exec(l)[0].length)));
    if (!cut.some((c) => c)) return;
    const out = lines.map((l, i) => l.slice(cut[i]));
    const removed = to - from - out.join("\n").length;
    const ns = Math.max(from, s - cut[0]);
    replace(from, to, out.join("\n"), ns, Math.max(ns, e - removed));
  }

  function newline() {
    const v = ed.value;
    const s = ed.selectionStart;
    const before = v.slice(lineStart(v, s), s);
    let pad = /^[ \t]*/.exec(before)[0];
    const text = before.trim();
    if (/:$/.test(text.replace(/\s+#.*$/, ""))) pad += " ".repeat(INDENT);
    else if (/^(return|pass|break|continue|raise)\b/.test(text) && pad.length >= INDENT) pad = pad.slice(INDENT);
    replace(s, ed.selectionEnd, "\n" + pad);
  }

  // Backspace in leading spaces goes back to the previous multiple of four.
  function backspace() {
    const v = ed.value;
    const s = ed.selectionStart;
    if (s !== ed.selectionEnd) return false;
    const from = lineStart(v, s);
    const before = v.slice(from, s);
    if (!/^ +$/.test(before)) return false;
    const col = before.length;
    replace(from + col - (((col - 1) % INDENT) + 1), s, "");
    return true;
  }

  ed.addEventListener("keydown", (e) => {
    if (e.isComposing) return;
    const plain = !e.ctrlKey && !e.metaKey && !e.altKey;
    if (e.key === "Escape") {
      state.escaped = true;
      return;
    }
    const escaped = state.escaped;
    state.escaped = false;
    if (e.key === "Tab" && plain && !escaped) {
      e.preventDefault();
      if (e.shiftKey) dedent();
      else indent();
    } else if (e.key === "Enter" && plain && !e.shiftKey) {
      e.preventDefault();
      newline();
    } else if (e.key === "Backspace" && plain && !e.shiftKey) {
      if (backspace()) e.preventDefault();
    }
  });
  ed.addEventListener("input", () => {
    clearMarks();
    const sel = $("snippets");
    const sn = state.info && sel.value !== "" && state.info.snippets[Number(sel.value)];
    if (sn && sn.code !== ed.value) sel.value = "";
    render();
    save();
  });
  for (const ev of ["keyup", "click", "focus", "select"]) ed.addEventListener(ev, cursor);
  // The textarea is as big as its text; it should never scroll on its own.
  ed.addEventListener("scroll", () => {
    ed.scrollTop = 0;
    ed.scrollLeft = 0;
  });

  // ---------------------------------------------------------------- tabs

  const tabButtons = () => TABS.map((t) => $(`tab-${t}`));

  function setTab(tab) {
    if (!TABS.includes(tab)) tab = "explain";
    state.tab = tab;
    for (const b of tabButtons()) {
      const on = b.dataset.tab === tab;
      b.setAttribute("aria-selected", on ? "true" : "false");
      b.tabIndex = on ? 0 : -1;
    }
    for (const o of document.querySelectorAll("#options .opt")) o.hidden = o.dataset.for !== tab;
    $("result").setAttribute("aria-labelledby", `tab-${tab}`);
    showResult(tab, state.results[tab] || null);
    save();
  }

  $("tabs").addEventListener("click", (e) => {
    const b = e.target.closest("[role=tab]");
    if (b) setTab(b.dataset.tab);
  });
  $("tabs").addEventListener("keydown", (e) => {
    const i = TABS.indexOf(state.tab);
    let j = null;
    if (e.key === "ArrowRight") j = (i + 1) % TABS.length;
    else if (e.key === "ArrowLeft") j = (i + TABS.length - 1) % TABS.length;
    else if (e.key === "Home") j = 0;
    else if (e.key === "End") j = TABS.length - 1;
    if (j === null) return;
    e.preventDefault();
    setTab(TABS[j]);
    $(`tab-${TABS[j]}`).focus();
  });

  // ---------------------------------------------------------------- results

  function stat(key, label, value, shown, note) {
    const d = el("div", "stat");
    d.dataset.stat = key;
    if (value !== null && value !== undefined) d.dataset.value = String(value);
    d.append(el("span", "k", label), el("span", "v", shown));
    if (note) d.append(el("span", "s", note));
    return d;
  }

  function summarize(tab, report) {
    const box = el("div", "stats");
    const r = report;
    if (tab === "explain") {
      const steps = r.steps || [];
      const kinds = {};
      for (const s of steps) for (const ev of s.events || []) kinds[ev.kind] = (kinds[ev.kind] || 0) + 1;
      const cut = r.limits && r.limits.steps_cut;
      box.append(stat("steps", "steps", steps.length, thousands(steps.length), cut ? "stopped at the step limit" : null));
      box.append(stat("created", "objects created", kinds.created || 0, thousands(kinds.created || 0)));
      box.append(stat("freed", "freed", kinds.freed || 0, thousands(kinds.freed || 0)));
    } else if (tab === "run") {
      const mem = r.memory;
      box.append(stat("wall", "wall time", r.wall_ns, fmtNs(r.wall_ns)));
      box.append(stat("line_events", "lines run", r.line_events, thousands(r.line_events)));
      if (mem && mem.peak) {
        const at = mem.peak.at ? `at line ${mem.peak.at.line}` : "outside your code";
        box.append(stat("peak", "peak heap", mem.peak.bytes, fmtBytes(mem.peak.bytes), at));
      }
      if (mem && mem.total) box.append(stat("alloc", "allocated", mem.total.alloc_bytes, fmtBytes(mem.total.alloc_bytes)));
    } else if (tab === "size") {
      box.append(stat("shallow", "shallow", r.shallow, fmtBytes(r.shallow), `${r.type_name} · sys.getsizeof`));
      box.append(stat("deep", "deep", r.deep, fmtBytes(r.deep), `${thousands(r.objects)} objects reachable`));
      if (r.retained === null || r.retained === undefined) box.append(stat("retained", "retained", null, "not measured"));
      else
        box.append(
          stat("retained", "retained", r.retained, fmtBytes(r.retained), `${thousands(r.retained_objects)} objects freed with it`),
        );
    } else if (tab === "bench") {
      for (const s of r.statements || []) {
        const d = stat(`stmt-${s.label}`, `${s.label}: ${s.stmt}`, s.median, fmtNs(s.median * 1e9), `±${(s.rel_half_width * 100).toFixed(1)}% · n=${s.n}`);
        d.title = s.stmt;
        box.append(d);
      }
    } else if (tab === "profile") {
      box.append(stat("wall", "wall time", r.wall_ns, fmtNs(r.wall_ns)));
      const fns = (r.functions || []).slice().sort((a, b) => b.self_ns - a.self_ns);
      const mine = fns.filter((f) => f.yours);
      for (const f of (mine.length ? mine : fns).slice(0, 3)) {
        const d = stat("function", f.name, f.self_ns, fmtNs(f.self_ns), `own time · ${thousands(f.calls)} calls`);
        d.title = f.file && f.file !== "~" ? `${f.file}:${f.line}` : f.name;
        box.append(d);
      }
    }
    const out = [box];
    if (tab === "bench") {
      for (const c of r.comparisons || []) {
        const v = el("div", `verdict verdict-${c.verdict}`, c.text);
        v.dataset.verdict = c.verdict;
        out.push(v);
      }
      const warnings = r.warnings || [];
      if (warnings.length) {
        const d = el("details", "warnings");
        d.append(el("summary", null, warnings.length === 1 ? "1 warning" : `${warnings.length} warnings`));
        for (const w of warnings) {
          const li = el("div", "note warn", typeof w === "string" ? w : w.message || JSON.stringify(w));
          if (w && w.hint) li.title = w.hint;
          d.append(li);
        }
        out.push(d);
      }
    }
    const o = r.outcome;
    if (o && (o.partial || (o.status && o.status !== "exited") || (o.exit_code !== null && o.exit_code !== undefined && o.exit_code !== 0))) {
      out.push(el("div", "note warn", o.description));
    }
    return out;
  }

  function showResult(tab, data) {
    $("error").hidden = true;
    const limit = $("limit");
    const summary = $("summary");
    summary.textContent = "";
    const dl = $("download");
    if (!data) {
      limit.hidden = true;
      frame.hidden = true;
      frame.removeAttribute("src");
      $("placeholder").hidden = false;
      $("placeholder").replaceChildren(...PLACEHOLDER.map((n) => n.cloneNode(true)));
      dl.removeAttribute("href");
      dl.setAttribute("aria-disabled", "true");
      $("exit").textContent = "";
      for (const s of ["stdout", "stderr"]) {
        $(s).textContent = "";
        $(`${s}-cut`).hidden = true;
      }
      return;
    }
    limit.hidden = !data.limit;
    if (data.limit) {
      limit.textContent = "";
      limit.append(el("b", null, `Stopped by the ${data.limit.name} limit: `), document.createTextNode(data.limit.message || ""));
    }
    if (data.report) summary.append(...summarize(tab, data.report));
    else summary.append(el("div", "note warn", "No report: the command wrote none (its stderr below says why)."));
    if (data.html) {
      if (frame.getAttribute("src") !== data.html) frame.src = data.html;
      frame.hidden = false;
      $("placeholder").hidden = true;
      dl.href = `${data.html}?download=1`;
      dl.setAttribute("download", `refscope-${tab}.html`);
      dl.setAttribute("aria-disabled", "false");
    } else {
      frame.hidden = true;
      frame.removeAttribute("src");
      $("placeholder").hidden = false;
      $("placeholder").textContent = "No result page: the output below says why.";
      dl.removeAttribute("href");
      dl.setAttribute("aria-disabled", "true");
    }
    const exit = data.exit_code === null || data.exit_code === undefined ? "no exit code" : `exit ${data.exit_code}`;
    $("exit").textContent = `${exit} · ${thousands(data.wall_ms)} ms`;
    $("exit").classList.toggle("bad", data.exit_code !== 0);
    for (const s of ["stdout", "stderr"]) {
      $(s).textContent = data[s] || "";
      $(`${s}-cut`).hidden = !data[`${s}_truncated`];
    }
  }

  function showError(error, hint) {
    const box = $("error");
    box.textContent = "";
    box.append(el("b", null, error));
    if (hint) box.append(el("div", "hint", hint));
    box.hidden = false;
  }

  const STATUS_HINTS = {
    401: "Open the address refscope serve printed (the one with ?token=).",
    403: "The page must be opened at the server's own address.",
    413: "The code is too big: at most 256 KiB.",
    503: "Every run slot is busy and the queue is full: try again in a moment.",
  };

  // ---------------------------------------------------------------- running

  function selectedLine() {
    const t = ed.value.slice(ed.selectionStart, ed.selectionEnd).trim();
    return t && !t.includes("\n") ? t : "";
  }

  function body(tab) {
    const c = ed.value;
    if (tab === "explain") {
      const n = parseInt($("explain-steps").value, 10);
      return n > 0 ? { code: c, max_steps: n } : { code: c };
    }
    if (tab === "size") {
      const input = $("size-expr");
      if (!input.value.trim() && selectedLine()) input.value = selectedLine();
      const expr = input.value.trim();
      if (!expr) return { error: "Name what to measure", hint: "Write an expression in “size of”, or select it in the code." };
      return { code: c, expr };
    }
    if (tab === "bench") {
      const statements = [$("bench-a").value, $("bench-b").value].filter((s) => s.trim());
      if (!statements.length) return { error: "Write the statements to time", hint: "A and B; the code in the editor is their setup." };
      return { code: c, statements };
    }
    return { code: c };
  }

  function setBusy(on, tab) {
    state.busy = on;
    const btn = $("run");
    btn.disabled = on;
    $("result").setAttribute("aria-busy", on ? "true" : "false");
    document.body.classList.toggle("busy", on);
    clearInterval(state.timer);
    const status = $("status");
    if (!on) {
      status.textContent = "";
      return;
    }
    const t0 = performance.now();
    const tick = () => {
      status.textContent = `running ${tab}… ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    };
    tick();
    state.timer = setInterval(tick, 100);
  }

  async function run() {
    if (state.busy) return;
    const tab = state.tab;
    const req = body(tab);
    if (req.error) {
      showError(req.error, req.hint);
      return;
    }
    setBusy(true, tab);
    $("error").hidden = true;
    try {
      let res;
      try {
        res = await fetch(`/api/${tab}`, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(req),
        });
      } catch (e) {
        showError("The server did not answer", "Is refscope serve still running?");
        return;
      }
      let data = null;
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
      if (!res.ok || !data) {
        const error = (data && data.error) || `HTTP ${res.status} ${res.statusText}`.trim();
        showError(error, (data && data.hint) || STATUS_HINTS[res.status] || "");
        return;
      }
      state.results[tab] = data;
      if (ed.value === req.code) {
        if (state.err) {
          state.err = null;
          renderGutter(true);
        }
        if (tab === "run" && data.report) applyHeat(data.report);
        if (data.exit_code !== 0) markError(data.stderr);
      }
      if (state.tab === tab) showResult(tab, data);
      else $(`tab-${tab}`).classList.add("fresh");
    } finally {
      setBusy(false);
    }
  }

  $("run").addEventListener("click", run);
  $("size-selection").addEventListener("click", () => {
    const sel = selectedLine();
    if (!sel) {
      showError("Nothing selected", "Select an expression on one line of the code.");
      return;
    }
    $("size-expr").value = sel;
    save();
    run();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.altKey) {
      e.preventDefault();
      run();
    }
  });
  for (const t of TABS) $(`tab-${t}`).addEventListener("click", () => $(`tab-${t}`).classList.remove("fresh"));

  // ---------------------------------------------------------------- snippets, info

  function loadSnippet(sn) {
    ed.value = sn.code || "";
    ed.setSelectionRange(0, 0);
    if (sn.expr) $("size-expr").value = sn.expr;
    if (Array.isArray(sn.statements)) {
      $("bench-a").value = sn.statements[0] || "";
      $("bench-b").value = sn.statements[1] || "";
      fitBench();
    }
    state.results = {};
    clearMarks();
    render();
    setTab(sn.tab || "explain");
    for (const t of TABS) $(`tab-${t}`).classList.remove("fresh");
    $("scroller").scrollTo(0, 0);
  }

  function showInfo(info) {
    const about = $("about");
    about.textContent = "";
    const py = info.python || {};
    const lim = info.limits || {};
    const parts = [`refscope ${info.version}`, `Python ${py.version}`];
    if (lim.time_s && lim.memory_mib) parts.push(`a run: ${lim.time_s} s, ${lim.memory_mib} MiB`);
    for (const p of parts) about.append(el("span", "part", p));
    const guards = info.guards || {};
    const names = Object.keys(guards);
    if (names.length) {
      const d = el("details", "guards");
      const sum = el("summary", null, "guards");
      d.append(sum);
      const list = el("dl");
      for (const k of names) {
        const v = typeof guards[k] === "string" ? guards[k] : JSON.stringify(guards[k]);
        list.append(el("dt", null, k), el("dd", null, v));
      }
      d.append(list);
      about.append(d);
      about.title = names.map((k) => `${k}: ${guards[k]}`).join("\n");
    }
    if (py.executable) about.firstChild.nextSibling.title = py.executable;
    if (lim.max_steps) {
      const steps = $("explain-steps");
      steps.max = String(lim.max_steps);
      if (parseInt(steps.value, 10) > lim.max_steps) steps.value = String(lim.max_steps);
    }

    const sel = $("snippets");
    sel.textContent = "";
    const snippets = info.snippets || [];
    const head = el("option", null, snippets.length ? "— the lesson's snippets —" : "no snippets");
    head.value = "";
    head.disabled = true;
    sel.append(head);
    snippets.forEach((sn, i) => {
      const o = el("option", null, sn.title || sn.name);
      o.value = String(i);
      o.title = sn.name;
      sel.append(o);
    });
    sel.value = "";
  }

  $("snippets").addEventListener("change", (e) => {
    const sn = state.info && state.info.snippets[Number(e.target.value)];
    if (sn) loadSnippet(sn);
    save();
  });

  async function loadInfo() {
    try {
      const res = await fetch("/api/info", { credentials: "same-origin" });
      const data = await res.json().catch(() => null);
      if (!res.ok || !data) {
        $("about").textContent = "not connected";
        showError((data && data.error) || `HTTP ${res.status}`, (data && data.hint) || STATUS_HINTS[res.status] || "");
        return;
      }
      state.info = data;
      showInfo(data);
      if (!ed.value.trim() && data.snippets && data.snippets.length) {
        loadSnippet(data.snippets[0]);
        $("snippets").value = "0";
      }
    } catch (e) {
      $("about").textContent = "not connected";
      showError("The server did not answer", "Is refscope serve still running?");
    }
  }

  // ---------------------------------------------------------------- saved work

  let saveTimer = 0;
  function save() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(() => {
      try {
        const s = {
          code: ed.value,
          tab: state.tab,
          expr: $("size-expr").value,
          a: $("bench-a").value,
          b: $("bench-b").value,
          snippet: $("snippets").value,
        };
        localStorage.setItem(STORE, JSON.stringify(s));
      } catch (e) {
        // Storage off or full: the page works without it.
      }
    }, 300);
  }

  function restore() {
    let s = null;
    try {
      s = JSON.parse(localStorage.getItem(STORE) || "null");
    } catch (e) {
      s = null;
    }
    if (!s) return "explain";
    ed.value = s.code || "";
    $("size-expr").value = s.expr || "";
    $("bench-a").value = s.a || "";
    $("bench-b").value = s.b || "";
    return s.tab;
  }

  // Bench statements grow with their lines.
  function fitBench() {
    for (const id of ["bench-a", "bench-b"]) {
      const t = $(id);
      t.rows = Math.min(6, Math.max(1, t.value.split("\n").length));
    }
  }
  for (const id of ["bench-a", "bench-b", "size-expr"]) {
    $(id).addEventListener("input", () => {
      fitBench();
      save();
    });
  }
  $("size-expr").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      run();
    }
  });

  // ---------------------------------------------------------------- pane splitter

  const split = $("split");
  function setSplit(px) {
    const w = $("panes").clientWidth;
    const left = Math.max(240, Math.min(w - 320, px));
    $("panes").style.gridTemplateColumns = `${left}px 6px 1fr`;
  }
  split.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    split.setPointerCapture(e.pointerId);
    document.body.classList.add("dragging");
    const move = (ev) => setSplit(ev.clientX - $("panes").getBoundingClientRect().left);
    const up = () => {
      split.removeEventListener("pointermove", move);
      split.removeEventListener("pointerup", up);
      document.body.classList.remove("dragging");
    };
    split.addEventListener("pointermove", move);
    split.addEventListener("pointerup", up);
  });
  split.addEventListener("keydown", (e) => {
    const d = e.key === "ArrowLeft" ? -40 : e.key === "ArrowRight" ? 40 : 0;
    if (!d) return;
    e.preventDefault();
    setSplit($("left").getBoundingClientRect().width + d);
  });

  // ---------------------------------------------------------------- start

  const tab = restore();
  fitBench();
  render();
  setTab(tab);
  loadInfo();
})();
