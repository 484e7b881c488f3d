//! Which source files count as the user's code.
//!
//! By default: files under the program's root (the script's directory, or the current directory
//! for `-m` and `-c`), except the interpreter's own trees, installed packages and refscope
//! itself. `--include` adds files, `--all` takes every file.

use globset::{Glob, GlobSet, GlobSetBuilder};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Filter {
    cwd: PathBuf,
    roots: Vec<PathBuf>,
    system: Vec<PathBuf>,
    own: Vec<PathBuf>,
    prefixes: Vec<PathBuf>,
    globs: GlobSet,
    exact: Vec<String>,
    /// The program's own code objects of an `exact` file (`-c` code): other code compiled under
    /// that name (a namedtuple's `eval`, an `exec` of a string) is not the program's.
    programs: rustc_hash::FxHashSet<usize>,
    all: bool,
}

/// Why an `--include` pattern was refused.
#[derive(Debug)]
pub struct BadPattern(pub String, pub String);

impl Filter {
    pub fn new(
        cwd: PathBuf,
        roots: Vec<PathBuf>,
        system: Vec<PathBuf>,
        own: Vec<PathBuf>,
        includes: &[String],
        exact: Vec<String>,
        all: bool,
    ) -> Result<Filter, BadPattern> {
        let mut globs = GlobSetBuilder::new();
        let mut prefixes = Vec::new();
        for p in includes {
            if p.contains(['*', '?', '[', '{']) {
                let abs = if p.starts_with('/') || p.starts_with('*') {
                    p.clone()
                } else {
                    format!("{}/{p}", cwd.display())
                };
                let g = Glob::new(&abs).map_err(|e| BadPattern(p.clone(), e.kind().to_string()))?;
                globs.add(g);
            } else {
                prefixes.push(cwd.join(p));
            }
        }
        let globs = globs
            .build()
            .map_err(|e| BadPattern(includes.join(" "), e.to_string()))?;
        Ok(Filter {
            cwd,
            roots,
            system,
            own,
            prefixes,
            globs,
            exact,
            programs: Default::default(),
            all,
        })
    }

    /// The code objects (by address, each kept alive by the program) of the `exact` files.
    pub fn set_programs(&mut self, codes: rustc_hash::FxHashSet<usize>) {
        self.programs = codes;
    }

    /// False for a code object named like an `exact` file that is not one of the program's own.
    pub fn own_code(&self, filename: &str, code: usize) -> bool {
        self.programs.is_empty() || self.programs.contains(&code) || !self.exact.iter().any(|e| e == filename)
    }

    /// A code object's filename as an absolute path (pseudo-files like `<string>` stay as they are).
    pub fn absolute(&self, filename: &str) -> String {
        if filename.starts_with('<') || filename.starts_with('/') {
            filename.to_string()
        } else {
            self.cwd.join(filename).display().to_string()
        }
    }

    /// Whether code of `filename` counts as yours for calls (`refscope profile`): as `wants`,
    /// and with `--all` also code compiled under a pseudo-file (`<generated>`, `<frozen …>`).
    pub fn wants_calls(&self, filename: &str) -> bool {
        self.wants(filename) || (self.all && filename.starts_with('<'))
    }

    pub fn wants(&self, filename: &str) -> bool {
        if self.exact.iter().any(|e| e == filename) {
            return true;
        }
        if filename.starts_with('<') || filename.is_empty() {
            return false;
        }
        let abs = PathBuf::from(self.absolute(filename));
        if self.own.iter().any(|e| abs.starts_with(e)) {
            return false;
        }
        if self.all || self.explicit(&abs) {
            return true;
        }
        let system = installed(&abs) || self.system.iter().any(|e| abs.starts_with(e));
        !system && self.roots.iter().any(|r| abs.starts_with(r))
    }

    fn explicit(&self, abs: &Path) -> bool {
        self.prefixes.iter().any(|p| abs.starts_with(p)) || self.globs.is_match(abs)
    }
}

/// Packages installed into an environment, even one that lives inside the project directory.
fn installed(path: &Path) -> bool {
    path.components()
        .any(|c| matches!(c.as_os_str().to_str(), Some("site-packages" | "dist-packages")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(includes: &[&str], all: bool) -> Filter {
        let inc: Vec<String> = includes.iter().map(|s| s.to_string()).collect();
        Filter::new(
            "/proj".into(),
            vec!["/proj".into()],
            vec!["/usr/lib/python3.11".into()],
            vec!["/proj/python/refscope".into()],
            &inc,
            vec![],
            all,
        )
        .unwrap()
    }

    #[test]
    fn user_code_is_under_the_root_and_not_installed() {
        let f = filter(&[], false);
        assert!(f.wants("/proj/app.py"));
        assert!(f.wants("pkg/mod.py"));
        assert!(!f.wants("/usr/lib/python3.11/json/__init__.py"));
        assert!(!f.wants("/proj/.venv/lib/python3.11/site-packages/requests/api.py"));
        assert!(!f.wants("/proj/python/refscope/__init__.py"));
        assert!(!f.wants("<frozen importlib._bootstrap>"));
        assert!(!f.wants("/elsewhere/x.py"));
    }

    #[test]
    fn include_and_all_widen_it() {
        let f = filter(&["/elsewhere", "**/requests/*.py"], false);
        assert!(f.wants("/elsewhere/x.py"));
        assert!(f.wants("/proj/.venv/lib/python3.11/site-packages/requests/api.py"));
        assert!(!f.wants("/usr/lib/python3.11/json/__init__.py"));
        let all = filter(&[], true);
        assert!(all.wants("/usr/lib/python3.11/json/__init__.py"));
        assert!(all.wants("/opt/x.py"));
        assert!(!all.wants("/proj/python/refscope/cli.py"));
    }
}
