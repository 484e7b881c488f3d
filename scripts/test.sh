#!/usr/bin/env bash
# Runs every check and test: lints (rustfmt, clippy on both tracing backends, ruff), Rust unit and
# snapshot tests, then on each supported CPython (3.9 to 3.13), each in its own virtualenv under
# .venv-X.Y with a debug build of refscope, the stub check (mypy.stubtest) and the pytest suite.
# The heaviest tests (real libraries' suites, the browser, the server) run on 3.11 and 3.13 only.
# REFSCOPE_PYTHONS="3.11 3.13" limits the versions; extra arguments go to pytest. Each stage
# prints the minutes since the start.
set -euo pipefail
cd "$(dirname "$0")/.."
stage() { printf -- '--- %s  [%d:%02d]\n' "$1" $((SECONDS / 60)) $((SECONDS % 60)); }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
versions=${REFSCOPE_PYTHONS:-"3.9 3.10 3.11 3.12 3.13"}

interpreter() {
    local v=$1 c
    for c in "$HOME"/.pyenv/versions/"$v".*/bin/python"$v" "$(command -v "python$v" || true)"; do
        if [ -x "$c" ]; then echo "$c"; return 0; fi
    done
    return 1
}

setup() {
    local v=$1 py venv=".venv-$1"
    py=$(interpreter "$v") || { echo "error: no Python $v found (looked in ~/.pyenv/versions and PATH)" >&2; exit 1; }
    stage "setting up Python $v (its virtualenv and the test requirements)"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/requirements.txt
    stage "building refscope (debug) for Python $v"
    VIRTUAL_ENV="$PWD/$venv" PATH="$PWD/$venv/bin:$PATH" "$venv/bin/maturin" develop -q
}

# The browser tests drive Debian's Chromium (never a downloaded browser).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
        stage "installing chromium (apt) for the browser tests"
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "error: /usr/bin/chromium is missing; install it (apt-get install -y chromium) and run again" >&2
        exit 1
    fi
fi

first=${versions%% *}
setup "$first"
stage "lints: rustfmt, ruff, clippy (3.9–3.11 and 3.12+ backends)"
cargo fmt --all -- --check
".venv-$first/bin/ruff" check python tests benches examples
for v in 3.11 3.13; do
    py=$(interpreter "$v") || continue
    PYO3_PYTHON="$py" cargo clippy -q --all-targets -- -D warnings
done
stage "cargo test (Rust unit and snapshot tests)"
PYO3_PYTHON="$PWD/.venv-$first/bin/python" cargo test -q --lib

for v in $versions; do
    [ "$v" = "$first" ] || setup "$v"
    if [ -x ".venv-$v/bin/mypy" ]; then
        stage "stubtest on Python $v (the .pyi matches the extension)"
        ".venv-$v/bin/python" -m mypy.stubtest refscope._refscope
    fi
    stage "pytest on Python $v"
    ".venv-$v/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
done
stage "done"
