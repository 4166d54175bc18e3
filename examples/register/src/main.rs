//! `register-sim`: the whole clustersim command line (run, sweep, replay, shrink,
//! check-determinism, ...) over this crate's catalog.

fn main() -> std::process::ExitCode {
    clustersim::main(register::catalog())
}
