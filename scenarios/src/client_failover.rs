//! The `client-failover` scenario: five engine nodes run the client service (a replica of
//! the client manager each, tasks that raise error and dialogue events, and the master's
//! duties on the lowest member); three client nodes outside the engine connect to the
//! master, open two contexts each, receive and acknowledge messages, answer questions and
//! read and prune their lists. Crashes, pauses and work-thread faults hit the engine nodes
//! (often the master, so the master fails over); partitions, clogs and message faults hit
//! everyone. Every guarantee of §B is checked, and the engine's own guarantees as well.

use protocols::clients::checkers;
use protocols::clients::client::{run_client, ClientConfig};
use protocols::clients::manager::FormatMode;
use protocols::clients::service::{ClientMutants, ClientService, ClientsConfig};
use protocols::engine::{CeConfig, Mutants};
use protocols::service::events::SvcEvent;
use protocols::service::replica::ReplicaDisk;
use protocols::service::shell::{run_node, ServiceConfig, SvcMsg};
use sim::event::NodeId;
use sim::world::{RunReport, RunSpec, WorldConfig};
use sim::{Mutant, Scenario};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub const MUTANT_LOSE_LAST: &str = "lose-last-message";
pub const MUTANT_RESEND_ACKED: &str = "resend-acked";
pub const MUTANT_CROSS_TALK: &str = "cross-talk";
pub const MUTANT_TWO_MASTERS: &str = "two-masters";
pub const MUTANT_WRONG_TASK: &str = "wrong-task";
pub const MUTANT_RESEND_ON_TAKEOVER: &str = "resend-on-takeover";

/// The catalog entry; its fields are knobs for scripted tests.
pub struct ClientFailover {
    pub engine_nodes: usize,
    pub clients: usize,
    pub safety_ms: u64,
    pub liveness_ms: u64,
    pub ce: CeConfig,
    /// When the catalog formats messages.
    pub format: FormatMode,
    /// Messages per context list.
    pub list_bound: usize,
    /// The chance that a client's user answers a question at all.
    pub reply_probability: f64,
}

impl Default for ClientFailover {
    fn default() -> Self {
        ClientFailover {
            engine_nodes: 5,
            clients: 3,
            safety_ms: 20_000,
            liveness_ms: 10_000,
            ce: CeConfig::fast(),
            format: FormatMode::AtDelivery,
            list_bound: 32,
            reply_probability: 0.75,
        }
    }
}

/// How long after the end a message or answer may still be on its way: a failover
/// (detection, flush, lease) and a dialogue timeout, with room for a client's backoff.
const SETTLE_MS: u64 = 4_000;

impl ClientFailover {
    pub fn config(&self, mutant: Option<&str>) -> Result<ClientsConfig, String> {
        let mut service = ServiceConfig::new(self.ce.clone(), self.engine_nodes, "clients");
        let mut mutants = ClientMutants::default();
        match mutant {
            None => {}
            Some(MUTANT_LOSE_LAST) => mutants.lose_last = true,
            Some(MUTANT_RESEND_ACKED) => mutants.resend_acked = true,
            Some(MUTANT_CROSS_TALK) => mutants.cross_talk = true,
            Some(MUTANT_TWO_MASTERS) => service.stale_master = true,
            Some(MUTANT_WRONG_TASK) => mutants.wrong_task = true,
            Some(MUTANT_RESEND_ON_TAKEOVER) => mutants.resend_on_takeover = true,
            Some(other) => return Err(format!("unknown client planted bug '{other}'")),
        }
        service.engine_mutants = Mutants::default();
        let mut cfg = ClientsConfig::new(service);
        cfg.mutants = mutants;
        cfg.format = self.format;
        cfg.list_bound = self.list_bound;
        Ok(cfg)
    }
}

type NodeFuture = Pin<Box<dyn Future<Output = ()>>>;

impl Scenario for ClientFailover {
    fn name(&self) -> &'static str {
        "client-failover"
    }

    fn description(&self) -> &'static str {
        "clients' message stacks, error and dialogue events, and master failover under crashes, pauses and partitions"
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
                name: MUTANT_LOSE_LAST,
                description: "a new master loses the newest accepted message",
            },
            Mutant {
                name: MUTANT_RESEND_ACKED,
                description: "a reconnecting client is sent messages it acknowledged",
            },
            Mutant {
                name: MUTANT_CROSS_TALK,
                description: "a message lands in another client's list",
            },
            Mutant {
                name: MUTANT_TWO_MASTERS,
                description: "a master cut off in a minority keeps serving beside the new one",
            },
            Mutant {
                name: MUTANT_WRONG_TASK,
                description: "a dialogue reply reaches another task of the asking node",
            },
            Mutant {
                name: MUTANT_RESEND_ON_TAKEOVER,
                description: "a new master resends messages before its clients' hello, including ones acknowledged to the old master",
            },
        ]
    }

    fn checkers(&self) -> Vec<&'static str> {
        self.checker_set().iter().map(|c| c.name()).collect()
    }

    fn run(&self, spec: &RunSpec, mutant: Option<&str>) -> Result<RunReport, String> {
        sim::check_mutant(self, mutant)?;
        let cfg = self.config(mutant)?;
        let world = self.world();
        let e = self.engine_nodes;
        let all = self.checker_set();
        let service = Arc::new(cfg.service.clone());
        let cfg = Arc::new(cfg);
        let disk: ReplicaDisk<protocols::clients::manager::ClientManager> = ReplicaDisk::default();
        let mut client_cfg = ClientConfig::new(e);
        client_cfg.reply_probability = self.reply_probability;
        sim::run_world(&world, spec, all, move |ctx| -> NodeFuture {
            if ctx.id < e {
                let app = ClientService::new((*cfg).clone());
                Box::pin(run_node(ctx, service.clone(), disk.clone(), app))
            } else {
                Box::pin(run_client(
                    ctx,
                    client_cfg.clone(),
                    SvcMsg::Ext,
                    |p| match p {
                        SvcMsg::Ext(w) => Some(w),
                        _ => None,
                    },
                ))
            }
        })
    }
}

impl ClientFailover {
    fn checker_set(&self) -> Vec<Box<dyn sim::Checker>> {
        let e = self.engine_nodes;
        let mut all = protocols::engine::checkers::all(e, &self.ce, false);
        all.extend(checkers::all(e, SETTLE_MS));
        all
    }
}

/// How many times the serving master moved to another node in a run (its trace must have
/// been kept): a failover, or a failback when a lower node returns.
pub fn master_moves(trace: &sim::Trace) -> usize {
    let mut last: Option<NodeId> = None;
    let mut moves = 0;
    for ev in &trace.events {
        if let Some(SvcEvent::MasterUp { .. }) = ev.get::<SvcEvent>() {
            if last.is_some_and(|n| n != ev.node) {
                moves += 1;
            }
            last = Some(ev.node);
        }
    }
    moves
}
