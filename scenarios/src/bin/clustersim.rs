//! `clustersim`: the command line (the `clustersim` library) over the built-in catalog, with
//! the ACK-round benchmark as one more command.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(clustersim::main_with_extension(
        std::env::args_os(),
        &scenarios::catalog(),
        scenarios::bench_cli::run,
    ))
}
