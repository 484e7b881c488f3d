//! The HTML format: one self-contained page per report, every page built from the same templates
//! (`templates/base.html` holds the head, the look and the shared scripts), so all of refscope's
//! pages read alike. No network: styles, scripts and data are inside, and the CSP forbids fetches.
//! Each page is readable with JavaScript off (tables, bars and pictures are drawn server-side as
//! HTML and SVG); scripts add sorting, tooltips, zoom and keyboard moves.

mod bench;
mod explain;
pub mod profile;
mod run;
mod size;

use super::numbers::{fmt_bytes, fmt_ns, thousands};
use minijinja::value::{Serde, Value};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::sync::LazyLock;

pub use bench::plot_svg;

/// The HTML format.
pub struct Html;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, text) in [
        ("base.html", include_str!("templates/base.html")),
        ("page.css", include_str!("templates/page.css")),
        ("page.js", include_str!("templates/page.js")),
        ("run.html", include_str!("templates/run.html")),
        ("size.html", include_str!("templates/size.html")),
        ("heap.html", include_str!("templates/heap.html")),
        ("bench.html", include_str!("templates/bench.html")),
        ("bench_plot.svg", include_str!("templates/bench_plot.svg")),
        ("profile.html", include_str!("templates/profile.html")),
        ("explain.html", include_str!("templates/explain.html")),
    ] {
        env.add_template(name, text).expect("templates parse");
    }
    env.add_filter("ns", |v: u64| fmt_ns(v));
    env.add_filter("bytes", |v: u64| fmt_bytes(v));
    env.add_filter("n", |v: u64| thousands(v));
    env.add_filter("signed_bytes", |v: i64| {
        let b = fmt_bytes(v.unsigned_abs());
        match v.signum() {
            1 => format!("+{b}"),
            -1 => format!("−{b}"),
            _ => "0 B".into(),
        }
    });
    env.add_filter("secs", |v: u64| format!("{:.3} s", v as f64 / 1e9));
    env.add_filter("pct", |v: f64| format!("{:.1}%", v * 100.0));
    env
});

/// What every page's header says.
#[derive(Serialize)]
struct Head {
    /// The command: `run`, `size`, …
    command: &'static str,
    title: String,
    /// Facts shown under the title, one phrase each.
    meta: Vec<String>,
    /// Set when the figures stop short of the end: says why.
    partial: Option<String>,
    version: &'static str,
}

impl Head {
    fn new(command: &'static str, title: impl Into<String>, meta: Vec<String>, partial: Option<String>) -> Head {
        Head {
            command,
            title: title.into(),
            meta,
            partial,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// Renders `template` with the header and `page`, the page's own model; `data` goes into the page
/// as JSON for its scripts (never executed as code: `</` is escaped).
fn page(template: &str, head: Head, page: impl Serialize, data: &impl Serialize) -> String {
    let data = serde_json::to_string(data)
        .expect("page data serializes")
        .replace("</", "<\\/");
    let ctx = minijinja::context! {
        head => Serde(head),
        page => Serde(page),
        data => Value::from_safe_string(data),
    };
    TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| panic!("template {template}: {e:#}"))
}

/// A page as a notebook output: in an iframe of its own, so its styles and scripts stay inside
/// and nothing is served; resizable by its corner. Its text reads with scripts blocked.
pub fn embed(page: &str) -> String {
    let doc = page.replace('&', "&amp;").replace('"', "&quot;");
    format!(
        "<div class=\"refscope-output\" style=\"resize:vertical;overflow:hidden;height:640px;min-height:160px;border:1px solid #d9dde5;border-radius:6px\">\
<iframe srcdoc=\"{doc}\" sandbox=\"allow-scripts\" title=\"refscope report\" style=\"width:100%;height:100%;border:0\"></iframe></div>"
    )
}

/// A share (0..=1) as a heat level 0..=5, for colouring rows.
fn heat(share: f64) -> u8 {
    match share {
        s if s >= 0.20 => 5,
        s if s >= 0.10 => 4,
        s if s >= 0.05 => 3,
        s if s >= 0.01 => 2,
        s if s >= 0.001 => 1,
        _ => 0,
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::memory::TimePoint;
    use crate::report::run::sample;
    use crate::report::Render;

    /// What every page must be: one document, no network, the data inside.
    fn check_page(html: &str) {
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
        for fetch in ["src=\"http", "href=\"http", "url(http", "@import", "<link "] {
            assert!(!html.contains(fetch), "{fetch} in the page");
        }
        assert_eq!(html.matches("id=\"refscope-data\"").count(), 1);
    }

    #[test]
    fn a_run_page_holds_every_line_of_the_file_and_escapes_names() {
        let r = sample::report(false);
        let html = Html.render(&r);
        check_page(&html);
        for n in 1..=11 {
            assert!(html.contains(&format!("id=\"L0-{n}\"")), "line {n}");
        }
        // Lines 5–10 did not run: shown, greyed.
        assert!(html.contains("<tr id=\"L0-7\" class=\"cold\">"));
        assert!(html.contains("&lt;module&gt;") && !html.contains("<module>"));
        assert!(!html.contains("PARTIAL"));
        // The hottest line by self time links to its row.
        assert!(html.contains("href=\"#L0-4\""));
    }

    #[test]
    fn a_partial_run_says_so_at_the_top() {
        let html = Html.render(&sample::report(true));
        check_page(&html);
        assert!(html.contains("PARTIAL: the program was killed by SIGKILL"));
    }

    #[test]
    fn a_big_run_stays_within_its_budgets_and_says_so() {
        let mut r = sample::report(false);
        let f = r.files[0].clone();
        for i in 0..8 {
            let mut g = f.clone();
            g.display = format!("big{i}.py");
            g.source = vec!["x = 1".to_string(); 10_000];
            r.files.push(g);
        }
        let m = r.memory.as_mut().expect("memory");
        m.timeline = (0..50_000u64)
            .map(|i| TimePoint {
                t_ns: i * 1000,
                heap_bytes: if i == 31_234 { 99_000_000 } else { i },
                native_bytes: 0,
                rss_bytes: 2 * i,
            })
            .collect();
        let html = Html.render(&r);
        check_page(&html);
        // The page draws the hottest chunks itself; the others are data its script draws.
        let rows = html.matches("<tr id=\"L").count();
        assert!(rows <= run::STATIC_ROWS, "{rows} rows");
        assert!(html.contains("lines that did not run, in the files that took least time, are left out"));
        let data: serde_json::Value = serde_json::from_str(
            html.split("id=\"refscope-data\">")
                .nth(1)
                .unwrap()
                .split("</script>")
                .next()
                .unwrap(),
        )
        .unwrap();
        let chunks = data["chunks"].as_object().unwrap();
        let lazy: usize = chunks
            .values()
            .flat_map(|f| f.as_object().unwrap().values())
            .map(|c| c.as_array().unwrap().len())
            .sum();
        assert!(
            rows + lazy <= run::SOURCE_ROWS && rows + lazy > run::SOURCE_ROWS / 2,
            "{rows} + {lazy}"
        );
        let placeholders: usize = chunks.values().map(|f| f.as_object().unwrap().len()).sum();
        assert_eq!(html.matches("<tbody class=\"lazy\"").count(), placeholders);
        // fib.py, the only file that took time, is drawn in the page.
        assert!(html.contains("id=\"L0-4\""));
        let points = data["timeline"].as_array().unwrap();
        assert!(points.len() <= run::TIMELINE_POINTS);
        // The highest point survives the thinning.
        assert!(points.iter().any(|p| p[1] == 99_000_000));
        assert!(html.contains("Drawn from 1,000 of 50,000 samples"));
    }

    #[test]
    fn script_text_in_data_cannot_close_the_data_block() {
        let mut r = sample::report(false);
        r.files[0].lines[0].source = "s = '</script><script>alert(1)</script>'".into();
        r.memory.as_mut().unwrap().timeline.clear();
        let html = Html.render(&r);
        assert!(!html.contains("<script>alert(1)"));
    }

    #[test]
    fn heat_levels_follow_the_share() {
        assert_eq!(heat(0.0), 0);
        assert_eq!(heat(0.005), 1);
        assert_eq!(heat(0.02), 2);
        assert_eq!(heat(0.5), 5);
    }
}
