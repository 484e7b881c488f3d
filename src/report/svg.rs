//! Pictures as self-contained SVG: the samples of a bench run.

use super::bench::BenchReport;
use super::Render;

/// The SVG format.
pub struct Svg;

impl Render<BenchReport> for Svg {
    fn render(&self, r: &BenchReport) -> String {
        super::html::plot_svg(r)
    }
}
