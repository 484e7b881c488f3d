fn main() {
    // Gives the crate `#[cfg(Py_3_12)]`-style gates for the interpreter it is built against.
    pyo3_build_config::use_pyo3_cfgs();
}
