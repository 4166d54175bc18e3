//! `clustersim`: the command line over the scenario catalog (see `scenarios::cli`).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(scenarios::cli::main_with_args(std::env::args_os()))
}
