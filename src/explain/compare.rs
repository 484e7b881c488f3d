//! `a is b` and `a == b` on a line: both answers, computed before the line runs, and why they
//! differ. Only plain names are compared, and `==` only between built-in values (a class's own
//! `__eq__` could do anything, and the program must behave as without refscope).

use super::values;
use crate::record::explain::{Change, Comparison};
use pyo3::prelude::*;

#[derive(Debug, PartialEq)]
struct Pair {
    left: String,
    right: String,
}

#[derive(Debug, PartialEq)]
enum Tok {
    Name(String),
    Op(String),
}

/// Tokens of a line, strings and comments dropped.
fn tokens(src: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let cs: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c == '#' {
            break;
        } else if c == '"' || c == '\'' {
            let q = c;
            i += 1;
            while i < cs.len() && cs[i] != q {
                if cs[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Op("str".into()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            out.push(Tok::Name(cs[start..i].iter().collect()));
        } else if c.is_whitespace() {
            i += 1;
        } else if i + 1 < cs.len() && matches!((c, cs[i + 1]), ('=', '=') | ('!', '=')) {
            out.push(Tok::Op(cs[i..i + 2].iter().collect()));
            i += 2;
        } else {
            out.push(Tok::Op(c.to_string()));
            i += 1;
        }
    }
    out
}

const KEYWORDS: &[&str] = &[
    "is", "not", "in", "and", "or", "if", "else", "lambda", "None", "True", "False",
];

fn plain(toks: &[Tok], at: usize, before: bool) -> Option<String> {
    let Some(Tok::Name(n)) = toks.get(at) else { return None };
    if KEYWORDS.contains(&n.as_str()) || n.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    if before {
        if at > 0 && toks.get(at - 1) == Some(&Tok::Op(".".into())) {
            return None;
        }
    } else if matches!(toks.get(at + 1), Some(Tok::Op(o)) if o == "(" || o == "[" || o == ".") {
        return None;
    }
    Some(n.clone())
}

/// Pairs of plain names compared with `is`, `is not`, `==` or `!=`.
fn pairs(src: &str) -> Vec<Pair> {
    let t = tokens(src);
    let mut out: Vec<Pair> = Vec::new();
    for i in 1..t.len() {
        let (op_len, ok) = match &t[i] {
            Tok::Name(n) if n == "is" => {
                if t.get(i + 1) == Some(&Tok::Name("not".into())) {
                    (2, true)
                } else {
                    (1, true)
                }
            }
            Tok::Op(o) if o == "==" || o == "!=" => (1, true),
            _ => (0, false),
        };
        if !ok {
            continue;
        }
        if let (Some(left), Some(right)) = (plain(&t, i - 1, true), plain(&t, i + op_len, false)) {
            let p = Pair { left, right };
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

fn lookup<'py>(frame: &Bound<'py, PyAny>, name: &str) -> Option<Bound<'py, PyAny>> {
    for scope in ["f_locals", "f_globals", "f_builtins"] {
        if let Some(v) = frame.getattr(scope).ok().and_then(|d| d.get_item(name).ok()) {
            return Some(v);
        }
    }
    None
}

/// Built-in values all the way down (bounded), so `==` runs only CPython's own comparisons.
fn builtin_deep(o: &Bound<'_, PyAny>, budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    if !values::is_builtin(o) {
        return false;
    }
    let py = o.py();
    values::children(py, o, 1000)
        .iter()
        .all(|(_, c)| builtin_deep(c, budget))
}

/// The comparisons of plain names on a line, answered before it runs.
pub fn on_line(py: Python<'_>, frame: &Bound<'_, PyAny>, source: &str) -> Vec<Change> {
    let mut out = Vec::new();
    for p in pairs(source) {
        let (Some(a), Some(b)) = (lookup(frame, &p.left), lookup(frame, &p.right)) else {
            continue;
        };
        let same = a.is(&b);
        let mut budget = 1000;
        let equal = if builtin_deep(&a, &mut budget) && builtin_deep(&b, &mut budget) {
            a.eq(&b).ok()
        } else {
            None
        };
        let why = if same {
            let consts = frame.getattr("f_code").and_then(|c| c.getattr("co_consts")).ok();
            values::shared_reason(py, &a, consts.as_ref())
        } else {
            None
        };
        out.push(Change::Compare(Comparison {
            left: p.left,
            right: p.right,
            left_id: a.as_ptr() as u64,
            right_id: b.as_ptr() as u64,
            same,
            equal,
            why,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Vec<(String, String)> {
        pairs(src).into_iter().map(|p| (p.left, p.right)).collect()
    }

    #[test]
    fn finds_comparisons_of_plain_names() {
        assert_eq!(names("print(a is b)  # True"), vec![("a".into(), "b".into())]);
        assert_eq!(names("x = a is not c"), vec![("a".into(), "c".into())]);
        assert_eq!(
            names("if a == c and b != d:"),
            vec![("a".into(), "c".into()), ("b".into(), "d".into())]
        );
        assert!(names("print('a is b')").is_empty(), "inside a string");
        assert!(names("obj.a is b").is_empty(), "an attribute");
        assert!(names("a is f(x)").is_empty(), "a call");
        assert!(names("a is None").is_empty(), "a keyword");
    }
}
