//! The command line: parsed here (clap), so `refscope` and `python -m refscope` are one call.

pub(crate) mod bench;
pub(crate) mod explain;
pub(crate) mod output;
pub(crate) mod profile;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod size;

use crate::error::Error;
use anstream::eprintln;
use anstyle::{AnsiColor, Style};
use clap::{CommandFactory, Parser, Subcommand};
use pyo3::prelude::*;

const ERR: Style = AnsiColor::Red.on_default().bold();
const HINT: Style = AnsiColor::Cyan.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default().bold();

#[derive(Parser, Debug)]
#[command(
    name = "refscope",
    version,
    about = "See what your Python code does to memory and time.",
    after_help = "Examples:\n  refscope run script.py arg1 arg2     time and count every line of your code\n  refscope profile script.py           call tree, flame graph, pstats: every call counted\n  refscope run -m http.server 8000     run a module, as `python -m`\n  refscope run -c 'sum(range(10**6))'  run a snippet\n  refscope run --json out.json app.py  also write the report as JSON\n  refscope bench 'sum(range(1000))'    time a statement, timeit-style, with a 95% interval\n  refscope bench -s 'xs=list(range(1000))' '[x*x for x in xs]' 'list(map(abs, xs))'\n  refscope size -s 'xs = list(range(10**6))' xs   shallow, deep and retained size\n  refscope explain --html story.html lesson.py   names, objects, references, frees, step by step\n  refscope serve                       a local playground page: the editor, the lesson, every command"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    Run(run::RunArgs),
    Bench(bench::BenchArgs),
    Size(size::SizeArgs),
    // run's --full shapes the annotated source, which heap does not print.
    #[command(mut_arg("full", |a| a.hide(true)))]
    Heap(run::HeapArgs),
    Explain(explain::ExplainArgs),
    Profile(profile::ProfileArgs),
    Serve(serve::ServeArgs),
}

/// `refscope ARGS…`: returns the process exit code; never panics into Python.
#[pyfunction]
pub fn main(py: Python<'_>, argv: Vec<std::ffi::OsString>) -> i32 {
    let mut text = Vec::with_capacity(argv.len());
    for a in argv {
        match a.into_string() {
            Ok(s) => text.push(s),
            Err(a) => {
                let e = Error::ArgNotUtf8(a.to_string_lossy().into_owned());
                report_error(&e, None);
                return e.exit_code();
            }
        }
    }
    let mut argv = text;
    if argv.is_empty() {
        argv.push("refscope".into());
    }
    argv[0] = "refscope".into();
    let argv = run::split_program_args(&Cli::command(), argv);
    let _fds = output::LowFds::hold();
    let cli = match Cli::try_parse_from(&argv.0) {
        Ok(c) => c,
        Err(e) => return clap_error(e, argv.0.get(1).map(String::as_str)),
    };
    let result = match cli.command {
        Command::Run(args) => run::run(py, args, argv.1.clone()),
        Command::Bench(args) => bench::run(py, args),
        Command::Size(args) => size::run(py, args),
        Command::Heap(args) => run::heap(py, args, argv.1),
        Command::Explain(args) => explain::run(py, args, argv.1),
        Command::Profile(args) => profile::run(py, args, argv.1),
        Command::Serve(args) => serve::run(py, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report_error(&e, argv.0.get(1).map(String::as_str));
            e.exit_code()
        }
    }
}

/// One `warning:` line on stderr.
pub fn warn(text: &str) {
    eprintln!("{WARN}warning{WARN:#}: {text}");
}

/// One `error:` line and, where there is a fix, a `hint:` naming `command`'s own flags.
pub fn report_error(e: &Error, command: Option<&str>) {
    eprintln!("{ERR}error{ERR:#}: {e}");
    if let Some(h) = e.hint_for(command) {
        eprintln!("  {HINT}hint{HINT:#}: {h}");
    }
}

/// Clap's error in refscope's form; the hint names the help of the command given (`sub`).
fn clap_error(e: clap::Error, sub: Option<&str>) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            1
        } else {
            0
        };
    }
    let text = e.render().to_string();
    let first = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ")
        .to_string();
    // Clap's "to pass '-q' as a value, use '-- -q'" misleads more often than it helps.
    let tip = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("tip: ").map(str::to_string))
        .filter(|t| !t.starts_with("to pass "));
    eprintln!("{ERR}error{ERR:#}: {first}");
    let hint = tip.unwrap_or_else(|| match sub.filter(|s| Cli::command().find_subcommand(s).is_some()) {
        Some(s) => format!("see `refscope {s} --help`"),
        None => "see `refscope --help`".into(),
    });
    eprintln!("  {HINT}hint{HINT:#}: {hint}");
    1
}
