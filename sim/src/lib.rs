//! The clustersim harness on madsim: a seeded world of named nodes, a network model with
//! faults, serializable fault plans, a deterministic trace of typed events, and checkers
//! that observe it.
//!
//! Everything here runs inside madsim's simulator and must be compiled with
//! `--cfg madsim` (the workspace's `.cargo/config.toml` sets it).

// A `RUSTFLAGS` environment variable replaces the rustflags of `.cargo/config.toml`, which
// silently builds the real (non-simulated) madsim: wall clock, real threads, no
// determinism. Refuse to build instead.
#[cfg(not(madsim))]
compile_error!(
    "clustersim must be built with `--cfg madsim`. A RUSTFLAGS environment variable \
     replaces .cargo/config.toml's flags: unset it, or add `--cfg madsim` to it."
);

// Everything below needs simulation mode; gating it keeps the guard's message the only
// error a wrong build prints.
#[cfg(madsim)]
pub mod chan;
#[cfg(madsim)]
pub mod check;
#[cfg(madsim)]
pub mod chrome;
#[cfg(madsim)]
pub mod clock;
pub mod cost;
#[cfg(madsim)]
pub mod event;
#[cfg(madsim)]
pub mod explain;
#[cfg(madsim)]
pub mod fault;
#[cfg(madsim)]
pub mod html;
#[cfg(madsim)]
pub mod isolate;
// Checks a finished history: needs no simulator.
pub mod linearizability;
#[cfg(madsim)]
pub mod local;
#[cfg(madsim)]
pub mod net;
#[cfg(madsim)]
pub mod scenario;
#[cfg(madsim)]
pub mod shell;
#[cfg(madsim)]
pub mod sweep;
#[cfg(madsim)]
pub mod task;
#[cfg(madsim)]
pub mod time;
#[cfg(madsim)]
pub mod trace;
#[cfg(madsim)]
pub mod world;

#[cfg(madsim)]
pub use check::{Checker, RunEnd, Violation};
pub use cost::{CostModel, ServiceTime};
#[cfg(madsim)]
pub use event::{Event, EventRef, NodeId, Recorded, TraceField};
#[cfg(madsim)]
pub use fault::{
    seed_stream, Fault, FaultKind, FaultPlan, PartitionSymmetry, PlanConfig, WorkFaultMode,
};
#[cfg(madsim)]
pub use net::{
    DeliveryObserver, DropCause, Envelope, LinkLatency, MsgId, NetConfig, NetEvent, NetStats,
};
#[cfg(madsim)]
pub use scenario::{
    check_mutant, run_checked, Catalog, Counters, Entry, Mutant, Scenario, ScenarioRef,
};
#[cfg(madsim)]
pub use time::{SimDuration, SimTime};
#[cfg(madsim)]
pub use trace::{hash_hex, Detail, Trace, WORLD_NODE};
#[cfg(madsim)]
pub use world::{
    report_phase, run_work_thread, run_world, FaultEvent, NodeCtx, NodeEvent, Phase, PlanSource,
    ProtoEvent, RunReport, RunSpec, StopSignal, WorkFault, WorkFaultHook, WorkFaultResponse,
    WorldConfig, WorldEvent,
};

/// Marks a panic as injected by the fault plan, so the process's panic hook stays quiet
/// about it: it is expected, caught at a task boundary, and recorded in the trace.
pub const INJECTED_PANIC: &str = "injected work-thread panic";

/// Installs (once per process) a panic hook that silences injected work-thread panics and
/// reports every other panic as usual.
pub fn install_panic_filter() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let injected = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.contains(INJECTED_PANIC))
                .or_else(|| {
                    info.payload()
                        .downcast_ref::<String>()
                        .map(|s| s.contains(INJECTED_PANIC))
                })
                .unwrap_or(false);
            if !injected {
                world::note_panic_time(clock::now_ns_at_panic());
                if std::env::var_os("CLUSTERSIM_QUIET_PANICS").is_none() {
                    default(info);
                }
            }
        }));
    });
}
