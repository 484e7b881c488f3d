//! The run page: every line of every traced file with a heat colour for time and for memory, the
//! heap and RSS over time with the peak and GC runs on it, the RSS split, functions, hottest lines,
//! survivors and processes.

use super::{heat, page, share, Head, Html};
use crate::report::memory::{Memory, TimePoint};
use crate::report::numbers::{fmt_bytes, fmt_ns, thousands};
use crate::report::run::{Function, Line, Location, Report};
use crate::report::Render;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Source rows the page holds at most; past it, the files that took least time show only the
/// lines that ran.
pub const SOURCE_ROWS: usize = 60_000;
/// Points of the heap/RSS timeline drawn at most (each the largest of its stretch of time).
pub const TIMELINE_POINTS: usize = 1_000;
/// Function rows, survivors and GC marks at most.
pub const FUNCTION_ROWS: usize = 300;
pub const SURVIVOR_ROWS: usize = 200;
pub const GC_MARKS: usize = 2_000;

#[derive(Serialize)]
struct Row<'a> {
    n: u32,
    src: &'a str,
    ran: bool,
    hits: u64,
    time_ns: u64,
    self_ns: u64,
    per_hit_ns: u64,
    share: f64,
    alloc: u64,
    net: i64,
    procs: u32,
    /// Heat levels 0..=5 by self time and by bytes allocated.
    ht: u8,
    hm: u8,
}

impl<'a> Row<'a> {
    fn blank(n: u32, src: &'a str) -> Row<'a> {
        Row {
            n,
            src,
            ran: false,
            hits: 0,
            time_ns: 0,
            self_ns: 0,
            per_hit_ns: 0,
            share: 0.0,
            alloc: 0,
            net: 0,
            procs: 0,
            ht: 0,
            hm: 0,
        }
    }

    fn ran(l: &Line, src: &'a str, wall: u64, total_alloc: u64) -> Row<'a> {
        Row {
            n: l.line,
            src,
            ran: true,
            hits: l.hits,
            time_ns: l.time_ns,
            self_ns: l.self_ns,
            per_hit_ns: l.time_ns.checked_div(l.hits).unwrap_or(0),
            share: share(l.time_ns, wall),
            alloc: l.memory.alloc_bytes,
            net: l.memory.net(),
            procs: l.processes,
            ht: heat(share(l.self_ns, wall)),
            hm: heat(share(l.memory.alloc_bytes, total_alloc)),
        }
    }
}

impl Row<'_> {
    /// The row as the page's script draws it: [line, source] for a line that did not run, else
    /// [line, time heat, memory heat, hits, time, self, per hit, % run, alloc, net, processes, source].
    fn cells(&self) -> serde_json::Value {
        if !self.ran {
            return serde_json::json!([self.n, self.src]);
        }
        let net = match self.net.signum() {
            1 => format!("+{}", fmt_bytes(self.net as u64)),
            -1 => format!("−{}", fmt_bytes(self.net.unsigned_abs())),
            _ if self.alloc > 0 => "0 B".into(),
            _ => String::new(),
        };
        serde_json::json!([
            self.n,
            self.ht,
            self.hm,
            thousands(self.hits),
            fmt_ns(self.time_ns),
            fmt_ns(self.self_ns),
            fmt_ns(self.per_hit_ns),
            format!("{:.1}%", self.share * 100.0),
            if self.alloc > 0 {
                fmt_bytes(self.alloc)
            } else {
                String::new()
            },
            net,
            self.procs,
            self.src
        ])
    }
}

#[derive(Serialize)]
struct File<'a> {
    id: usize,
    display: &'a str,
    /// Rows in chunks of `CHUNK`, a `tbody` each.
    chunks: Vec<Chunk<'a>>,
    ran: usize,
    self_ns: u64,
    alloc: u64,
    /// Lines of the file not held (over the budget: only lines that ran are).
    left_out: usize,
}

/// A `tbody` of the source: drawn in the page, or (`lazy`) drawn by the page's script from the
/// data when it comes near the screen.
#[derive(Serialize)]
struct Chunk<'a> {
    first: u32,
    last: u32,
    n: usize,
    lazy: bool,
    rows: Vec<Row<'a>>,
}

#[derive(Serialize)]
struct Mark {
    x: f64,
    tip: String,
    generation: u8,
}

#[derive(Serialize)]
struct Tick {
    at: f64,
    label: String,
}

#[derive(Serialize)]
struct Timeline {
    w: f64,
    /// Where the plot area ends.
    right: f64,
    h: f64,
    left: f64,
    bottom: f64,
    heap: String,
    heap_area: String,
    /// Heap plus native blocks, drawn above the heap when extension modules allocated any.
    native: Option<String>,
    rss: String,
    peak: Option<(f64, f64, String)>,
    gc: Vec<Mark>,
    x_ticks: Vec<Tick>,
    y_ticks: Vec<Tick>,
    note: Option<String>,
}

#[derive(Serialize)]
struct Part {
    name: &'static str,
    class: &'static str,
    bytes: u64,
    share: f64,
}

#[derive(Serialize)]
struct Link {
    /// `file:line` as the report names it, and the row's id on this page when it has one.
    place: String,
    anchor: Option<String>,
}

#[derive(Serialize)]
struct Card {
    k: &'static str,
    v: String,
    s: String,
}

#[derive(Serialize)]
struct RunPage<'a> {
    r: &'a Report,
    cards: Vec<Card>,
    files: Vec<File<'a>>,
    files_note: Option<String>,
    functions: Vec<(Link, &'a Function, f64)>,
    functions_left: usize,
    hottest: Vec<(Link, &'a Line, f64)>,
    allocating: Vec<(Link, &'a Line, f64)>,
    timeline: Option<Timeline>,
    rss: Vec<Part>,
    survivors: Vec<(Link, &'a crate::report::memory::Survivor)>,
    gc_lines: Vec<(Link, u64, u64)>,
    peak: Option<(Link, &'a crate::report::memory::Peak)>,
    many: bool,
}

impl Render<Report> for Html {
    fn render(&self, r: &Report) -> String {
        let ids: FxHashMap<&str, usize> = r
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.display.as_str(), i))
            .collect();
        let link = |at: &Option<Location>| match at {
            Some(l) => Link {
                place: format!("{}:{}", l.file, l.line),
                anchor: ids.get(l.file.as_str()).map(|i| format!("L{i}-{}", l.line)),
            },
            None => Link {
                place: "outside your code".into(),
                anchor: None,
            },
        };
        let at = |file: &str, line: u32| {
            link(&Some(Location {
                file: file.into(),
                line,
            }))
        };
        let wall = r.wall_ns.max(1);
        let mem = r.memory.as_ref();
        let total_alloc = mem.map_or(0, |m| m.total.alloc_bytes);
        let (mut files, files_note) = files(r, wall, total_alloc);
        let lazy = make_lazy(&mut files);

        let mut lines: Vec<_> = r
            .files
            .iter()
            .flat_map(|f| f.lines.iter().map(move |l| (f, l)))
            .collect();
        lines.sort_by(|a, b| b.1.self_ns.cmp(&a.1.self_ns).then(a.1.line.cmp(&b.1.line)));
        let hottest = lines
            .iter()
            .take(10)
            .filter(|(_, l)| l.hits > 0)
            .map(|(f, l)| (at(&f.display, l.line), *l, share(l.self_ns, wall)))
            .collect();
        lines.sort_by(|a, b| {
            b.1.memory
                .alloc_bytes
                .cmp(&a.1.memory.alloc_bytes)
                .then(a.1.line.cmp(&b.1.line))
        });
        let allocating = lines
            .iter()
            .take(10)
            .filter(|(_, l)| l.memory.alloc_bytes > 0)
            .map(|(f, l)| (at(&f.display, l.line), *l, share(l.memory.alloc_bytes, total_alloc)))
            .collect();
        let functions = r
            .functions
            .iter()
            .take(FUNCTION_ROWS)
            .map(|f| (at(&f.file, f.line), f, share(f.total_ns, wall)))
            .collect();

        let mut cards = vec![
            Card {
                k: "wall time",
                v: fmt_ns(r.wall_ns),
                s: format!("{} line events", thousands(r.line_events)),
            },
            Card {
                k: "lines that ran",
                v: thousands(r.files.iter().map(|f| f.lines.len() as u64).sum()),
                s: format!("in {} files", r.files.len()),
            },
        ];
        let mut gc_lines = Vec::new();
        if let Some(m) = mem {
            if let Some(p) = &m.peak {
                cards.push(Card {
                    k: "peak heap",
                    v: fmt_bytes(p.bytes),
                    s: link(&p.at).place,
                });
            }
            cards.push(Card {
                k: "allocated",
                v: fmt_bytes(m.total.alloc_bytes),
                s: format!("{} objects created", thousands(m.total.objects_created)),
            });
            cards.push(Card {
                k: "GC runs",
                v: thousands(m.gc.runs.iter().sum()),
                s: format!(
                    "{} objects collected, {}",
                    thousands(m.gc.collected),
                    fmt_ns(m.gc.time_ns)
                ),
            });
            let mut by: Vec<(Link, u64, u64)> = Vec::new();
            for run in &m.gc.list {
                let l = link(&run.at);
                match by.iter_mut().find(|e| e.0.place == l.place) {
                    Some(e) => {
                        e.1 += 1;
                        e.2 += run.collected;
                    }
                    None => by.push((l, 1, run.collected)),
                }
            }
            by.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)));
            by.truncate(10);
            gc_lines = by;
        }
        cards.push(Card {
            k: "exit",
            v: match (r.outcome.exit_code, &r.outcome.signal) {
                (_, Some(s)) => s.clone(),
                (Some(c), _) => format!("code {c}"),
                _ => r.outcome.status.clone(),
            },
            s: r.outcome.description.clone(),
        });

        let model = RunPage {
            r,
            cards,
            files,
            files_note,
            functions,
            functions_left: r.functions.len().saturating_sub(FUNCTION_ROWS),
            hottest,
            allocating,
            timeline: mem.and_then(|m| timeline(m, &link)),
            rss: mem.map(rss).unwrap_or_default(),
            survivors: mem
                .map(|m| {
                    m.survivors
                        .iter()
                        .take(SURVIVOR_ROWS)
                        .map(|s| (link(&s.at), s))
                        .collect()
                })
                .unwrap_or_default(),
            gc_lines,
            peak: mem.and_then(|m| m.peak.as_ref()).map(|p| (link(&p.at), p)),
            many: r.processes.len() > 1,
        };
        let mut meta = vec![
            fmt_ns(r.wall_ns),
            format!("{} line events", thousands(r.line_events)),
            format!("Python {}", r.python.version),
            r.outcome.description.clone(),
        ];
        if r.processes.len() > 1 {
            meta.insert(2, format!("{} processes", r.processes.len()));
        }
        let head = Head::new("run", &r.program.target, meta, partial(r));
        let points: Vec<_> = mem
            .map(|m| budget(&m.timeline, TIMELINE_POINTS))
            .unwrap_or_default()
            .iter()
            .map(|p| [p.t_ns, p.heap_bytes, p.rss_bytes, p.native_bytes])
            .collect();
        page(
            "run.html",
            head,
            model,
            &serde_json::json!({ "timeline": points, "chunks": lazy }),
        )
    }
}

fn partial(r: &Report) -> Option<String> {
    let oc = &r.outcome;
    if let Some(u) = &oc.unmeasured {
        let after = u
            .after
            .as_ref()
            .map(|l| format!(" after {}:{}", l.file, l.line))
            .unwrap_or_default();
        return Some(format!("refscope stopped measuring{after}: {}.", u.reason));
    }
    if oc.partial {
        let at = oc
            .last_line
            .as_ref()
            .map(|l| format!(" It was last at {}:{}.", l.file, l.line))
            .unwrap_or_default();
        return Some(format!(
            "{}; the figures cover everything measured until then.{at}",
            oc.description
        ));
    }
    oc.truncated
        .then(|| "the capture ran out of room; lines first seen after that were not recorded.".into())
}

/// Every line of every file (the budget permitting), with the figures of those that ran.
fn files(r: &Report, wall: u64, total_alloc: u64) -> (Vec<File<'_>>, Option<String>) {
    let total_rows: usize = r.files.iter().map(|f| f.source.len().max(f.lines.len())).sum();
    // Over budget, the files that took most time are held whole first.
    let mut order: Vec<usize> = (0..r.files.len()).collect();
    let self_of = |i: usize| r.files[i].lines.iter().map(|l| l.self_ns).sum::<u64>();
    order.sort_by_key(|&i| std::cmp::Reverse(self_of(i)));
    let mut whole = vec![true; r.files.len()];
    if total_rows > SOURCE_ROWS {
        let mut room = SOURCE_ROWS.saturating_sub(r.files.iter().map(|f| f.lines.len()).sum());
        for &i in &order {
            let extra = r.files[i].source.len().saturating_sub(r.files[i].lines.len());
            whole[i] = extra <= room;
            room = room.saturating_sub(if whole[i] { extra } else { 0 });
        }
    }
    let mut cut = 0usize;
    let out = r
        .files
        .iter()
        .enumerate()
        .map(|(id, f)| {
            let text = |n: u32| f.source.get(n as usize - 1).map(String::as_str);
            let mut rows = Vec::new();
            if whole[id] {
                let count = f.source.len().max(f.lines.last().map_or(0, |l| l.line as usize));
                let mut by_line = f.lines.iter().peekable();
                for n in 1..=count as u32 {
                    match by_line.next_if(|l| l.line == n) {
                        Some(l) => rows.push(Row::ran(l, text(n).unwrap_or(&l.source), wall, total_alloc)),
                        None => rows.push(Row::blank(n, text(n).unwrap_or(""))),
                    }
                }
            } else {
                cut += f.source.len().saturating_sub(f.lines.len());
                for l in &f.lines {
                    rows.push(Row::ran(l, text(l.line).unwrap_or(&l.source), wall, total_alloc));
                }
            }
            File {
                id,
                display: &f.display,
                ran: f.lines.len(),
                self_ns: f.lines.iter().map(|l| l.self_ns).sum(),
                alloc: f.lines.iter().map(|l| l.memory.alloc_bytes).sum(),
                left_out: if whole[id] {
                    0
                } else {
                    f.source.len().saturating_sub(f.lines.len())
                },
                chunks: chunks(rows),
            }
        })
        .collect();
    let note = (cut > 0).then(|| {
        format!(
            "This page holds at most {} source lines: {} lines that did not run, in the files that took least time, are left out (marked in each file).",
            thousands(SOURCE_ROWS as u64),
            thousands(cut as u64)
        )
    });
    (out, note)
}

/// Source rows per `tbody`.
const CHUNK: usize = 200;

fn chunks(rows: Vec<Row<'_>>) -> Vec<Chunk<'_>> {
    let mut out = Vec::with_capacity(rows.len().div_ceil(CHUNK));
    let mut it = rows.into_iter().peekable();
    while it.peek().is_some() {
        let rows: Vec<Row<'_>> = it.by_ref().take(CHUNK).collect();
        out.push(Chunk {
            first: rows.first().map_or(0, |r| r.n),
            last: rows.last().map_or(0, |r| r.n),
            n: rows.len(),
            lazy: false,
            rows,
        });
    }
    out
}

/// Source rows drawn in the page itself (the hottest chunks); the others are drawn by its script
/// as they come near the screen, so a big run opens fast.
pub const STATIC_ROWS: usize = 1_000;

/// Keeps the hottest chunks (by self time, then bytes allocated) in the page, up to
/// `STATIC_ROWS`; the rest become data: per file, per chunk, rows of formatted cells.
fn make_lazy(files: &mut [File<'_>]) -> serde_json::Value {
    let mut all: Vec<(usize, usize, u64, u64)> = Vec::new();
    for (fi, f) in files.iter().enumerate() {
        for (ci, c) in f.chunks.iter().enumerate() {
            let t = c.rows.iter().map(|r| r.self_ns).sum();
            let m = c.rows.iter().map(|r| r.alloc).sum();
            all.push((fi, ci, t, m));
        }
    }
    if files.iter().flat_map(|f| &f.chunks).map(|c| c.n).sum::<usize>() <= STATIC_ROWS {
        return serde_json::Value::Null;
    }
    all.sort_by(|a, b| {
        b.2.cmp(&a.2)
            .then(b.3.cmp(&a.3))
            .then(a.0.cmp(&b.0))
            .then(a.1.cmp(&b.1))
    });
    let mut room = STATIC_ROWS;
    let mut keep = std::collections::HashSet::new();
    for &(fi, ci, _, _) in &all {
        let n = files[fi].chunks[ci].n;
        if n <= room {
            room -= n;
            keep.insert((fi, ci));
        }
    }
    let mut data = serde_json::Map::new();
    for (fi, f) in files.iter_mut().enumerate() {
        let mut per = serde_json::Map::new();
        for (ci, c) in f.chunks.iter_mut().enumerate() {
            if keep.contains(&(fi, ci)) {
                continue;
            }
            c.lazy = true;
            let rows: Vec<serde_json::Value> = std::mem::take(&mut c.rows).iter().map(Row::cells).collect();
            per.insert(ci.to_string(), rows.into());
        }
        if !per.is_empty() {
            data.insert(f.id.to_string(), per.into());
        }
    }
    data.into()
}

/// At most `n` points: each stretch of time keeps its point of highest heap (peaks stay visible).
fn budget(points: &[TimePoint], n: usize) -> Vec<TimePoint> {
    if points.len() <= n {
        return points.to_vec();
    }
    let per = points.len().div_ceil(n);
    points
        .chunks(per)
        .map(|c| {
            let top = c
                .iter()
                .max_by_key(|p| p.heap_bytes + p.native_bytes)
                .expect("chunks are not empty");
            TimePoint {
                rss_bytes: c.iter().map(|p| p.rss_bytes).max().unwrap_or(0),
                ..top.clone()
            }
        })
        .collect()
}

fn timeline(m: &Memory, link: &dyn Fn(&Option<Location>) -> Link) -> Option<Timeline> {
    if m.timeline.len() < 2 {
        return None;
    }
    let pts = budget(&m.timeline, TIMELINE_POINTS);
    let (w, h, left, right, top, bottom) = (900.0, 220.0, 70.0, 40.0, 10.0, 190.0);
    let t_max = pts.last().map_or(1, |p| p.t_ns).max(1) as f64;
    let y_max = pts
        .iter()
        .map(|p| (p.heap_bytes + p.native_bytes).max(p.rss_bytes))
        .chain(m.peak.as_ref().map(|p| p.bytes))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let x = |t: u64| left + (t as f64 / t_max).min(1.0) * (w - left - right);
    let y = |b: u64| bottom - (b as f64 / y_max) * (bottom - top);
    let line = |f: &dyn Fn(&TimePoint) -> u64| {
        pts.iter()
            .map(|p| format!("{:.1},{:.1}", x(p.t_ns), y(f(p))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let heap = line(&|p| p.heap_bytes);
    let heap_area = format!(
        "{:.1},{bottom} {heap} {:.1},{bottom}",
        x(pts[0].t_ns),
        x(pts[pts.len() - 1].t_ns)
    );
    let native = pts
        .iter()
        .any(|p| p.native_bytes > 0)
        .then(|| line(&|p| p.heap_bytes + p.native_bytes));
    let peak = m.peak.as_ref().map(|p| {
        (
            x(p.t_ns),
            y(p.bytes),
            format!(
                "peak {} {} at {:.3} s, {}  {}",
                if native.is_some() { "heap + native" } else { "heap" },
                fmt_bytes(p.bytes),
                p.t_ns as f64 / 1e9,
                link(&p.at).place,
                p.source.trim()
            ),
        )
    });
    let gc =
        m.gc.list
            .iter()
            .take(GC_MARKS)
            .map(|g| Mark {
                x: x(g.t_ns),
                generation: g.generation,
                tip: format!(
                    "GC generation {} at {:.3} s: {} collected, {} uncollectable, {}; {}",
                    g.generation,
                    g.t_ns as f64 / 1e9,
                    thousands(g.collected),
                    g.uncollectable,
                    fmt_ns(g.duration_ns),
                    link(&g.at).place
                ),
            })
            .collect();
    let x_ticks = (0..=5)
        .map(|i| {
            let t = (t_max * i as f64 / 5.0) as u64;
            Tick {
                at: x(t),
                label: if t == 0 { "0".into() } else { fmt_ns(t) },
            }
        })
        .collect();
    let y_ticks = (0..=4)
        .map(|i| {
            let b = (y_max * i as f64 / 4.0) as u64;
            Tick {
                at: y(b),
                label: fmt_bytes(b),
            }
        })
        .collect();
    let note = (m.timeline.len() > pts.len() || m.gc.list.len() > GC_MARKS).then(|| {
        format!(
            "Drawn from {} of {} samples (each the highest of its stretch) and {} of {} GC runs; the JSON report has them all.",
            thousands(pts.len() as u64),
            thousands(m.timeline.len() as u64),
            thousands(m.gc.list.len().min(GC_MARKS) as u64),
            thousands(m.gc.list.len() as u64)
        )
    });
    Some(Timeline {
        right: w - right,
        w,
        h,
        left,
        bottom,
        heap,
        heap_area,
        native,
        rss: line(&|p| p.rss_bytes),
        peak,
        gc,
        x_ticks,
        y_ticks,
        note,
    })
}

/// RSS at the end, split into what refscope can tell apart (refscope's own left out).
fn rss(m: &Memory) -> Vec<Part> {
    let Some(e) = &m.rss_end else {
        return Vec::new();
    };
    let whole = e.rss_bytes.saturating_sub(e.refscope_bytes).max(1);
    [
        ("small objects (pymalloc)", "p-live", e.pymalloc_live_bytes),
        ("pymalloc free space", "p-free", e.pymalloc_free_bytes),
        ("large blocks", "p-large", e.large_live_bytes),
        (
            "interpreter, C libraries, malloc's free memory",
            "p-other",
            e.other_bytes,
        ),
    ]
    .into_iter()
    .map(|(name, class, bytes)| Part {
        name,
        class,
        bytes,
        share: share(bytes, whole),
    })
    .collect()
}
