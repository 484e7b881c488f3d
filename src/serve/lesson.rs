//! The lesson's snippets (examples/lesson, built into the binary), each with the tab that shows
//! it best.

use serde::Serialize;

#[derive(rust_embed::Embed)]
#[folder = "examples/lesson"]
struct Files;

#[derive(Serialize)]
pub struct Snippet {
    pub name: String,
    pub title: String,
    pub code: String,
    pub tab: &'static str,
    pub expr: Option<&'static str>,
    pub statements: Option<[&'static str; 2]>,
}

/// A file stem, its tab, its Size expression and its Bench statements.
type Place = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<[&'static str; 2]>,
);

/// In the lesson's order.
const ORDER: &[Place] = &[
    ("identity", "explain", None, None),
    ("same_object_vs_same_value", "explain", None, None),
    ("one_object_many_names", "explain", None, None),
    ("registry", "explain", None, None),
    ("del_removes_name", "explain", None, None),
    ("alias_survives_del", "explain", None, None),
    ("reassign_drops_reference", "explain", None, None),
    ("self_referencing_list", "explain", None, None),
    ("gc_collect", "explain", None, None),
    ("shallow_size", "size", Some("lst"), None),
    ("deep_size", "size", Some("data"), None),
    ("perf_counter_block", "run", None, None),
    ("per_step_timing", "run", None, None),
    (
        "timeit_benchmark",
        "bench",
        None,
        Some(["sum(range(1000))", "sum(list(range(1000)))"]),
    ),
    ("profile_sum_range", "profile", None, None),
    ("cprofile_run", "profile", None, None),
    (
        "loop_vs_comprehension",
        "bench",
        None,
        Some(["squares_loop(10_000)", "squares_comprehension(10_000)"]),
    ),
];

pub fn snippets() -> Vec<Snippet> {
    let mut out = Vec::new();
    for &(stem, tab, expr, statements) in ORDER {
        let Some(file) = Files::get(&format!("{stem}.py")) else {
            continue;
        };
        let code = String::from_utf8_lossy(&file.data).into_owned();
        let title = code
            .lines()
            .next()
            .and_then(|l| l.strip_prefix('#'))
            .map(|l| l.trim().trim_start_matches("Lesson ").to_string())
            .unwrap_or_else(|| stem.replace('_', " "));
        out.push(Snippet {
            name: stem.into(),
            title,
            code,
            tab,
            expr,
            statements,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_lesson_file_has_a_place() {
        let listed: Vec<String> = super::Files::iter()
            .map(|f| f.trim_end_matches(".py").to_string())
            .collect();
        for f in &listed {
            assert!(
                super::ORDER.iter().any(|o| o.0 == f),
                "{f}.py is in examples/lesson but not in ORDER"
            );
        }
        assert_eq!(super::snippets().len(), listed.len());
    }
}
