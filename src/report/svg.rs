//! Pictures as self-contained SVG: the samples of a bench run.

use super::bench::BenchReport;
use super::terminal::{short, Unit};
use super::Render;
use std::fmt::Write;

/// The SVG format.
pub struct Svg;

impl Render<BenchReport> for Svg {
    fn render(&self, r: &BenchReport) -> String {
        plot(r)
    }
}

/// An SVG strip plot of every statement's samples: dots, the interquartile box, the median and
/// its interval, on one shared axis. Self-contained; no scripts, no fonts to fetch.
fn plot(r: &BenchReport) -> String {
    let (w, row, left, right, top) = (900.0, 70.0, 90.0, 30.0, 50.0);
    let h = top + row * r.statements.len() as f64 + 40.0;
    let all: Vec<f64> = r
        .statements
        .iter()
        .flat_map(|s| s.samples.iter().flatten().copied())
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(0.0, f64::max);
    let (k, u) = Unit::auto(lo.max(1e-12)).scale();
    let pad = ((hi - lo) * 0.05).max(hi * 1e-3);
    let (x0, x1) = ((lo - pad).max(0.0), hi + pad);
    let x = |v: f64| left + (v - x0) / (x1 - x0).max(1e-30) * (w - left - right);
    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="22" font-size="15" font-weight="bold">refscope bench: time per loop ({u})</text>
"##
    );
    let colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"];
    for (i, s) in r.statements.iter().enumerate() {
        let cy = top + row * i as f64 + row / 2.0;
        let c = colors[i % colors.len()];
        let _ = writeln!(
            o,
            r##"<text x="10" y="{:.1}" font-weight="bold">{}</text><text x="{left}" y="{:.1}" fill="#555">{}</text>"##,
            cy + 4.0,
            s.label,
            cy - 20.0,
            xml(&short(&s.stmt, 100))
        );
        let _ = writeln!(
            o,
            r#"<rect class="iqr" x="{:.1}" y="{:.1}" width="{:.1}" height="28" fill="{c}" fill-opacity="0.15" stroke="{c}"/>"#,
            x(s.q1),
            cy - 14.0,
            (x(s.q3) - x(s.q1)).max(1.0)
        );
        let _ = writeln!(
            o,
            r#"<rect class="ci" x="{:.1}" y="{:.1}" width="{:.1}" height="28" fill="{c}" fill-opacity="0.35"/>"#,
            x(s.ci_low),
            cy - 14.0,
            (x(s.ci_high) - x(s.ci_low)).max(1.0)
        );
        let _ = writeln!(
            o,
            r#"<line class="median" x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}" stroke="{c}" stroke-width="3"/>"#,
            x(s.median),
            cy - 18.0,
            cy + 18.0
        );
        let mut j = 0u64;
        for v in s.samples.iter().flatten() {
            j = j.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let dy = ((j >> 33) % 21) as f64 - 10.0;
            let _ = writeln!(
                o,
                r#"<circle class="sample" cx="{:.1}" cy="{:.1}" r="2.2" fill="{c}" fill-opacity="0.7"/>"#,
                x(*v),
                cy + dy
            );
        }
    }
    let axis_y = top + row * r.statements.len() as f64 + 5.0;
    let _ = writeln!(
        o,
        r##"<line x1="{left}" x2="{:.1}" y1="{axis_y:.1}" y2="{axis_y:.1}" stroke="#333"/>"##,
        w - right
    );
    for t in 0..=5 {
        let v = x0 + (x1 - x0) * t as f64 / 5.0;
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{:.3}</text>"#,
            x(v),
            axis_y + 18.0,
            v * k
        );
    }
    o.push_str("</svg>\n");
    o
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
