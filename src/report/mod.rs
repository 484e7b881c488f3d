//! Reports: the plain models every renderer reads, the builders that make them from records, and
//! one renderer per output format behind `Render`.
//!
//! Nothing here touches the interpreter or the capture file: builders read `record`s only.

pub mod bench;
pub mod build;
pub mod explain;
pub mod flame;
pub mod html;
mod json;
pub mod memory;
pub mod numbers;
pub mod profile;
pub mod pstats;
pub mod run;
mod sentences;
pub mod source;
pub mod speedscope;
mod svg;
pub mod terminal;

pub use html::Html;
pub use json::Json;
pub use run::*;
pub use svg::Svg;
pub use terminal::Terminal;

/// One output format (`Terminal`, `Json`, `Svg`, …). Each report a format can draw is one
/// `impl Render<ThatReport>` in that format's file, so a new format is one file per report.
pub trait Render<R: ?Sized> {
    fn render(&self, report: &R) -> String;
}
