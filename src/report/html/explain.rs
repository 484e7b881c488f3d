//! The explain page: the program's steps, one at a time, with the names, objects and references
//! after each drawn as a graph.

use super::{page, Head, Html};
use crate::report::explain::ExplainReport;
use crate::report::Render;

impl Render<ExplainReport> for Html {
    fn render(&self, r: &ExplainReport) -> String {
        let mut title = r.program.target.clone();
        for a in &r.program.argv {
            title.push(' ');
            title.push_str(a);
        }
        let meta = vec![
            format!("Python {}", r.python.version),
            format!("{} steps", r.steps.len()),
            r.outcome.description.clone(),
        ];
        let partial = r
            .limits
            .steps_cut
            .then(|| format!("stopped early: {}.", r.outcome.description));
        page("explain.html", Head::new("explain", title, meta, partial), (), r)
    }
}
