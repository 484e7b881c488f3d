//! `refscope explain`: runs a small program under the step tracer and tells its story.

use super::output::Output;
use super::run::{check_syntax, script_target, MAX_TIMEOUT};
use crate::error::Error;
use crate::launcher;
use crate::record::explain::{Plan, STEP_CAP_EXIT};
use crate::record::job::{Job, Target};
use crate::record::Ended;
use crate::report::build::{self, Run};
use crate::report::{explain, Html, Program, Render};
use clap::Args;
use pyo3::prelude::*;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    about = "Tell, line by line, what a small program does to names and objects",
    long_about = "Run a small program (as `python` would) and tell, for each line of your code it runs: \
which names changed and the objects they name, with their real id(), type, value, reference count \
and size; objects created, names aliased, rebound and deleted; objects freed and why (the last \
reference went away, or the GC collected a cycle); cycles formed; GC runs; what `is` and `==` on \
the line answer and why they differ; and why CPython made two names share one object (small-int \
cache, interned strings, shared constants, singletons, immortal objects).",
    after_help = "Examples:\n  refscope explain examples/lesson/same_object_vs_same_value.py\n  refscope explain --html story.html examples/lesson/self_referencing_list.py\n  refscope explain -c 'a = 100; b = 100; print(a is b)'\n  refscope explain --json steps.json --max-steps 500 script.py\n\nOnly the main thread is followed. Exit code: the program's own (0 when the step cap stopped it); 1 for bad input."
)]
pub struct ExplainArgs {
    /// Explain CODE, as `python -c`
    #[arg(short = 'c', value_name = "CODE")]
    pub(crate) code: Option<String>,
    /// Also write the steps as JSON to FILE (schema: docs/json-schema.md)
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Also write a self-contained step-through page to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Stop the program after N steps
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_steps: u32,
    /// Show at most N objects per step
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_objects: u32,
    /// Follow references N levels from the names
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub(crate) depth: u32,
    /// Stop the program after SECONDS (a loop on one line may never reach the step cap)
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, default_value_t = 60.0)]
    pub(crate) timeout: f64,
    /// Print no narrative (use with --json or --html)
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// The script and its arguments
    #[arg(value_name = "SCRIPT [ARGS]", trailing_var_arg = true)]
    pub(crate) argv: Vec<String>,
}

pub fn run(py: Python<'_>, args: ExplainArgs, program_args: Vec<String>) -> Result<i32, Error> {
    let cwd = std::env::current_dir().map_err(|_| Error::NoCwd)?;
    if !(args.timeout > 0.0 && args.timeout <= MAX_TIMEOUT) {
        return Err(Error::BadTimeout(args.timeout));
    }
    let mut rest = args.argv.clone();
    rest.extend(program_args);
    let (target, shown, argv) = if let Some(c) = &args.code {
        check_syntax(py, pyo3::types::PyString::new(py, c).into_any(), "<string>", "<string>")?;
        (Target::Code { code: c.clone() }, "-c".to_string(), rest)
    } else if let Some((script, more)) = rest.split_first() {
        (script_target(py, script)?, script.clone(), more.to_vec())
    } else {
        return Err(Error::Usage("nothing to explain: give a script or `-c CODE`".into()));
    };
    let script: Vec<&std::path::Path> = target.path().map(std::path::Path::new).into_iter().collect();
    let [json_file, html_file] = Output::reserve_each([args.json.as_deref(), args.html.as_deref()], &script)?;
    let python: String = py
        .import("sys")
        .and_then(|s| s.getattr("executable")?.extract())
        .map_err(|e| Error::Internal(format!("no sys.executable: {e}")))?;
    let kind = if args.code.is_some() { "code" } else { "script" };
    let plan = Plan {
        max_steps: args.max_steps,
        max_objects: args.max_objects,
        depth: args.depth,
    };
    let program = Program {
        kind: kind.into(),
        target: shown,
        argv,
    };
    let code = args.code.as_deref();
    let (rep, ended) = py.detach(|| explain_program(&python, target, program, plan, args.timeout, &cwd, code))?;
    if !args.quiet {
        let mut err = anstream::stderr();
        let _ = writeln!(err);
        let _ = err.write_all(explain::render(&rep).as_bytes());
    }
    if let Some(f) = json_file {
        f.write(&rep.to_json())?;
    }
    if let Some(f) = html_file {
        f.write(&Html.render(&rep))?;
    }
    Ok(match ended {
        Ended::Exited(STEP_CAP_EXIT) if rep.limits.steps_cut => 0,
        Ended::Exited(c) => c,
        Ended::Signalled(s) => 128 + s,
        Ended::TimedOut(_) => 124,
    })
}

/// Runs `target` in a worker under the step tracer and words its steps.
pub fn explain_program(
    python: &str,
    target: Target,
    program: Program,
    plan: Plan,
    timeout: f64,
    cwd: &std::path::Path,
    code: Option<&str>,
) -> Result<(explain::ExplainReport, Ended), Error> {
    let argv = program.argv.clone();
    let fin = launcher::run(
        python,
        Job {
            capture: String::new(),
            cwd: String::new(),
            target,
            args: argv,
            include: vec![],
            all: false,
            heap: None,
            memory: false,
            explain: Some(plan),
            subprocesses: false,
            profile: false,
        },
        Some(timeout),
    )?;
    // The run's outcome, as `refscope run` words it.
    let base = build::run(
        &fin.capture,
        &Run {
            program: program.clone(),
            ended: fin.ended,
            calibration: fin.calibration,
            end_ticks: fin.end_ticks,
            wall_ns: fin.wall_ns,
            cwd,
            held: None,
            timeline: &[],
            children: &[],
        },
    );
    let mut rep = explain::build(&fin.capture, program, base.outcome, cwd, code);
    if rep.limits.steps_cut {
        let n = rep.steps.len();
        rep.outcome.description = if n as u32 >= rep.limits.max_steps {
            format!("refscope stopped the program at the step cap ({n} steps)")
        } else if rep.outcome.truncated {
            format!("refscope stopped the program after {n} steps: the capture was full")
        } else {
            format!(
                "refscope stopped the program after {n} steps: a loop on one line ran past the step cap ({} iterations)",
                100 * rep.limits.max_steps
            )
        };
        rep.outcome.partial = true;
    }
    Ok((rep, fin.ended))
}
