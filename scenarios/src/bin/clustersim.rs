//! `clustersim`: the command line (the `clustersim` library) over the built-in catalog, with
//! the ACK-round benchmark as one more command.

/// Counts allocations per thread, so `clustersim bench` can state allocations per delivered
/// message (a thread-local increment per allocation, nothing more).
#[global_allocator]
static ALLOCATOR: benches::alloc::Counting = benches::alloc::Counting;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(clustersim::main_with_extension(
        std::env::args_os(),
        &scenarios::catalog(),
        scenarios::bench_cli::run,
    ))
}
