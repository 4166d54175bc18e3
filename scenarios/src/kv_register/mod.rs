//! The `kv-register` scenario: five engine nodes run a replicated key-value register on the
//! replicated-service layer ([`service`]: a replica of the map each, writes ordered through
//! the group, reads served by the master under its lease); four client nodes outside the
//! engine ([`client`]) issue gets, puts and compare-and-sets on three keys, following the
//! master across failovers. Crashes, pauses and work-thread faults hit the engine nodes
//! (often the master); partitions, clogs and message faults hit everyone. The clients'
//! history is checked for linearizability on every seed ([`checker`]), beside the engine's
//! own guarantees.

pub mod checker;
pub mod client;
pub mod events;
pub mod service;

use client::{KvClient, KvClientConfig};
use protocols::engine::CeConfig;
use protocols::service::external::run_external;
use protocols::service::replica::ReplicaDisk;
use protocols::service::shell::{run_node, ServiceConfig, SvcMsg};
use service::{KvBugs, KvService, KvState, KvWire};
use sim::world::{RunReport, RunSpec, WorldConfig};
use sim::{Checker, Mutant, Scenario};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use events::KvEvent;

pub const MUTANT_STALE_READ: &str = "stale-read";
pub const MUTANT_CAS_ACK_EARLY: &str = "cas-ack-early";

/// The catalog entry; its fields are knobs for scripted tests.
pub struct KvRegister {
    pub engine_nodes: usize,
    pub clients: usize,
    pub safety_ms: u64,
    pub liveness_ms: u64,
    pub ce: CeConfig,
}

impl Default for KvRegister {
    fn default() -> Self {
        KvRegister {
            engine_nodes: 5,
            clients: 4,
            safety_ms: 15_000,
            liveness_ms: 8_000,
            ce: CeConfig::fast(),
        }
    }
}

/// How long before the end a client may still be finding the master: a failover
/// (detection, flush, the lease) and a client's backoff.
const SETTLE_MS: u64 = 4_000;

type NodeFuture = Pin<Box<dyn Future<Output = ()>>>;

impl KvRegister {
    fn checker_set(&self) -> Vec<Box<dyn Checker>> {
        let e = self.engine_nodes;
        let mut all = protocols::engine::checkers::all(e, &self.ce, false);
        all.push(Box::new(checker::Linearizable::default()));
        all.push(Box::new(checker::Progress::new(e, SETTLE_MS)));
        all
    }
}

impl Scenario for KvRegister {
    fn name(&self) -> &'static str {
        "kv-register"
    }

    fn description(&self) -> &'static str {
        "a replicated key-value register on the service layer: clients' get, put and compare-and-set checked for linearizability under crashes, pauses and partitions"
    }

    fn world(&self) -> WorldConfig {
        crate::engine_common::service_world(
            self.engine_nodes,
            self.clients,
            self.safety_ms,
            self.liveness_ms,
        )
    }

    fn mutants(&self) -> Vec<Mutant> {
        vec![
            Mutant {
                name: MUTANT_STALE_READ,
                description: "a deposed master keeps answering reads from its replica",
            },
            Mutant {
                name: MUTANT_CAS_ACK_EARLY,
                description:
                    "the master acknowledges a compare-and-set before the group applies it",
            },
        ]
    }

    fn checkers(&self) -> Vec<&'static str> {
        self.checker_set().iter().map(|c| c.name()).collect()
    }

    fn run(&self, spec: &RunSpec, mutant: Option<&str>) -> Result<RunReport, String> {
        sim::check_mutant(self, mutant)?;
        let mut service = ServiceConfig::new(self.ce.clone(), self.engine_nodes, "kv");
        let mut bugs = KvBugs::default();
        match mutant {
            None => {}
            Some(MUTANT_STALE_READ) => service.stale_master = true,
            Some(MUTANT_CAS_ACK_EARLY) => bugs.cas_ack_early = true,
            Some(other) => return Err(format!("unknown kv-register planted bug '{other}'")),
        }
        let e = self.engine_nodes;
        let service = Arc::new(service);
        let disk: ReplicaDisk<KvState> = ReplicaDisk::default();
        let client = KvClientConfig::new(e);
        sim::run_world(
            &self.world(),
            spec,
            self.checker_set(),
            move |ctx| -> NodeFuture {
                if ctx.id < e {
                    let app = KvService { bugs };
                    Box::pin(run_node(ctx, service.clone(), disk.clone(), app))
                } else {
                    // The client names its next tick after every input (`next_tick_ns`),
                    // so the period never applies.
                    let tick_ms = client.give_up_ms;
                    let me = KvClient::new(client.clone(), ctx.id);
                    Box::pin(run_external(
                        ctx,
                        tick_ms,
                        me,
                        |r| SvcMsg::Ext(KvWire::Req(r)),
                        |p| match p {
                            SvcMsg::Ext(KvWire::Resp(r)) => Some(r),
                            _ => None,
                        },
                    ))
                }
            },
        )
    }
}
