//! The `process-status` scenario: five engine nodes run the PMS (a replica of the process
//! table each, the script threads placed on it, and the primary's duties on the lowest
//! member); six UI clients outside the engine use it: two operators start processes from
//! a library of scripts (quick, long-running, failing, runaway, and ones that share
//! private data and publish public data), pause, resume and cancel them, and poll their
//! status; a viewer polls and tries operator actions; a wrong secret, an unknown user and
//! a client without a credential try everything. Crashes, pauses and work-thread faults
//! hit the engine nodes (often the primary, so it fails over); partitions, clogs and
//! message faults hit everyone. Every guarantee of §C is checked, and the engine's own.

use protocols::engine::CeConfig;
use protocols::pms::authz::{AuthDb, Credential, Role};
use protocols::pms::checkers::{self, Freshness};
use protocols::pms::service::{PmsConfig, PmsMutants, PmsService};
use protocols::pms::status::ProcessTable;
use protocols::pms::ui::{ScriptSpec, Ui, UiConfig};
use protocols::pms::wire::{Op, PmsWire};
use protocols::service::external::run_external;
use protocols::service::replica::ReplicaDisk;
use protocols::service::shell::{run_node, ServiceConfig, SvcMsg};
use sim::world::{RunReport, RunSpec, WorldConfig};
use sim::{Mutant, Scenario};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub const MUTANT_VIEWER_CANCELS: &str = "viewer-cancels";
pub const MUTANT_PRIVATE_LEAK: &str = "private-leak";
pub const MUTANT_LOST_STAY_RUNNING: &str = "lost-stay-running";
pub const MUTANT_STATUS_REWIND: &str = "status-rewind";

/// Who a UI client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum User {
    /// An operator, by index into [`OPERATORS`].
    Operator(usize),
    Viewer,
    /// An operator's name with a wrong secret.
    BadSecret,
    UnknownUser,
    NoCredential,
}

/// The operators' names and secrets.
pub const OPERATORS: [(&str, &str); 2] = [("ann", "ann-s3cret"), ("bob", "bob-s3cret")];
const VIEWER: (&str, &str) = ("vic", "vic-s3cret");

impl User {
    pub fn credential(self) -> Option<Credential> {
        let (user, secret) = match self {
            User::Operator(i) => OPERATORS[i],
            User::Viewer => VIEWER,
            User::BadSecret => (OPERATORS[0].0, "guessed"),
            User::UnknownUser => ("eve", "eve-s3cret"),
            User::NoCredential => return None,
        };
        Some(Credential {
            user: user.to_string(),
            secret: secret.to_string(),
        })
    }
}

/// The user table of the PMS.
pub fn users() -> AuthDb {
    OPERATORS
        .iter()
        .fold(AuthDb::new(), |db, (u, s)| {
            db.with_user(u, s, Role::Operator)
        })
        .with_user(VIEWER.0, VIEWER.1, Role::Viewer)
}

/// The scripts operators start. Private values carry the checkers' private mark.
pub fn scripts() -> Vec<ScriptSpec> {
    let spec = |name, source: &str, threads, retry| ScriptSpec {
        name,
        source: source.to_string(),
        threads,
        retry,
    };
    vec![
        spec(
            "quick",
            r#"
            progress(100);
            set_value("rows", 40 + thread_index());
            private_set("token", `PRIVATE:token-${process_id()}-${thread_index()}`);
            publish("summary", `thread ${thread_index()} of ${thread_count()} done`);
            "#,
            2,
            false,
        ),
        spec(
            "long",
            r#"
            private_set("cursor", "PRIVATE:cursor-start");
            fn step(n) {
                progress((n + 1) * 5 / 2);
                set_value("phase", if n < 20 { "load" } else { "write" });
                publish("rows", n * 10);
                private_set("cursor", `PRIVATE:cursor-${thread_index()}-${n}`);
                if n % 10 == 9 {
                    raise_event("PMS0101", `thread ${thread_index()} checkpoint ${n}`);
                }
                n < 39
            }
            "#,
            3,
            true,
        ),
        spec(
            "failing",
            r#"
            fn step(n) {
                progress(n * 10);
                set_value("step", n);
                if n == 3 + thread_index() {
                    throw `disk full on thread ${thread_index()}`;
                }
                true
            }
            "#,
            2,
            false,
        ),
        spec(
            "runaway",
            r#"
            fn step(n) {
                progress(n * 20);
                if n == 2 {
                    let i = 0;
                    loop { i += 1; }
                }
                true
            }
            "#,
            1,
            true,
        ),
        spec(
            "shared-total",
            r#"
            fn step(n) {
                let v = private_get("total");
                let total = if type_of(v) == "string" { parse_int(v.sub_string(8)) } else { 0 };
                total += n + 1;
                private_set("total", `PRIVATE:${total}`);
                publish(`done_by_${thread_index()}`, n + 1);
                progress((n + 1) * 10);
                if n == 9 { raise_event("PMS0200", `thread ${thread_index()} finished its share`); }
                n < 9
            }
            "#,
            3,
            false,
        ),
        spec("broken", "fn step(n) { n < ", 1, false),
    ]
}

/// The catalog entry; its fields are knobs for scripted tests.
pub struct ProcessStatus {
    pub engine_nodes: usize,
    pub clients: Vec<User>,
    pub safety_ms: u64,
    pub liveness_ms: u64,
    pub ce: CeConfig,
    pub poll_interval_ms: u64,
    /// Processes per operator.
    pub max_starts: u32,
    /// The scripts operators start from (all of [`scripts`] by default).
    pub scripts: Vec<ScriptSpec>,
    /// The mean time between a client's requests (twice that for users without the
    /// right to do anything, who would otherwise fill the trace with denials).
    pub op_every_ms: u64,
    /// Per client (by index), a scripted plan of requests at times (ms); a client without
    /// one (the default) chooses at random.
    pub plans: Vec<Vec<(u64, Op)>>,
}

impl Default for ProcessStatus {
    fn default() -> Self {
        ProcessStatus {
            engine_nodes: 5,
            clients: vec![
                User::Operator(0),
                User::Operator(1),
                User::Viewer,
                User::BadSecret,
                User::UnknownUser,
                User::NoCredential,
            ],
            safety_ms: 20_000,
            liveness_ms: 10_000,
            ce: CeConfig::fast(),
            poll_interval_ms: 500,
            max_starts: 4,
            scripts: scripts(),
            op_every_ms: 500,
            plans: Vec::new(),
        }
    }
}

/// How long before the end a thread's fate may still be on its way: a failover
/// (detection, flush, a lease) and the dead host's `NodeDown`.
const SETTLE_MS: u64 = 4_000;

/// The latency bound of polled status, on top of the poll interval: a job tick of timer
/// granularity before the poll goes out, the poll and its answer (one network latency
/// each), and the report's safe delivery through the engine (to the sequencer, ordered
/// back, and the stability round: four latencies and two CE ticks), with room to spare.
const LATENCY_BOUND_MS: u64 = 250;

impl ProcessStatus {
    fn checker_set(&self, cfg: &PmsConfig) -> Vec<Box<dyn sim::Checker>> {
        let e = self.engine_nodes;
        let mut all = protocols::engine::checkers::all(e, &self.ce, false);
        all.extend(checkers::all(e, SETTLE_MS, &cfg.auth, self.freshness()));
        all
    }

    pub fn config(&self, mutant: Option<&str>) -> Result<PmsConfig, String> {
        let service = ServiceConfig::new(self.ce.clone(), self.engine_nodes, "pms");
        let mut mutants = PmsMutants::default();
        match mutant {
            None => {}
            Some(MUTANT_VIEWER_CANCELS) => mutants.viewer_can_cancel = true,
            Some(MUTANT_PRIVATE_LEAK) => mutants.leak_private = true,
            Some(MUTANT_LOST_STAY_RUNNING) => mutants.ignore_dead_hosts = true,
            Some(MUTANT_STATUS_REWIND) => mutants.rewind_on_failover = true,
            Some(other) => return Err(format!("unknown PMS planted bug '{other}'")),
        }
        let mut cfg = PmsConfig::new(service, users());
        cfg.poll_interval_ms = self.poll_interval_ms;
        cfg.mutants = mutants;
        Ok(cfg)
    }

    /// How freshness is judged: the poll interval plus the latency bound, and a failure
    /// timeout and a lease after a fault window closes.
    pub fn freshness(&self) -> Freshness {
        Freshness {
            bound_ms: self.poll_interval_ms + LATENCY_BOUND_MS,
            settle_ms: 3 * self.ce.failure_timeout_ms,
        }
    }

    /// The UI client of index `i`, which is `user`.
    pub fn ui_config(&self, i: usize, user: User) -> UiConfig {
        let mut c = UiConfig::new(self.engine_nodes, user.credential());
        c.op_every_ms = match user {
            User::Operator(_) | User::Viewer => self.op_every_ms,
            _ => 2 * self.op_every_ms,
        };
        c.plan = self.plans.get(i).cloned().unwrap_or_default();
        if let User::Operator(_) = user {
            c.scripts = self.scripts.clone();
            c.max_starts = self.max_starts;
        }
        // Users who may not list processes guess their ids: the operators' first starts.
        if !matches!(user, User::Operator(_) | User::Viewer) {
            c.guesses = self
                .clients
                .iter()
                .enumerate()
                .filter(|(_, u)| matches!(u, User::Operator(_)))
                .flat_map(|(i, _)| {
                    (1..=3).map(move |req| PmsConfig::process_id(self.engine_nodes + i, req))
                })
                .collect();
        }
        c
    }
}

type NodeFuture = Pin<Box<dyn Future<Output = ()>>>;

impl Scenario for ProcessStatus {
    fn name(&self) -> &'static str {
        "process-status"
    }

    fn description(&self) -> &'static str {
        "script threads across nodes, status polling, authorization, and primary failover under crashes, pauses and partitions"
    }

    fn world(&self) -> WorldConfig {
        crate::engine_common::service_world(
            self.engine_nodes,
            self.clients.len(),
            self.safety_ms,
            self.liveness_ms,
        )
    }

    fn mutants(&self) -> Vec<Mutant> {
        vec![
            Mutant {
                name: MUTANT_VIEWER_CANCELS,
                description: "a viewer's cancel is granted",
            },
            Mutant {
                name: MUTANT_PRIVATE_LEAK,
                description: "a status answer carries the process's private data",
            },
            Mutant {
                name: MUTANT_LOST_STAY_RUNNING,
                description: "a crashed node's threads stay running for ever",
            },
            Mutant {
                name: MUTANT_STATUS_REWIND,
                description: "a new primary sets finished threads back to running",
            },
        ]
    }

    fn checkers(&self) -> Vec<&'static str> {
        let cfg = self
            .config(None)
            .expect("the configuration without a planted bug");
        self.checker_set(&cfg).iter().map(|c| c.name()).collect()
    }

    fn run(&self, spec: &RunSpec, mutant: Option<&str>) -> Result<RunReport, String> {
        sim::check_mutant(self, mutant)?;
        let cfg = self.config(mutant)?;
        let world = self.world();
        let e = self.engine_nodes;
        let all = self.checker_set(&cfg);
        let service = Arc::new(cfg.service.clone());
        let disk: ReplicaDisk<ProcessTable> = ReplicaDisk::default();
        let uis: Vec<UiConfig> = (self.clients.iter().enumerate())
            .map(|(i, u)| self.ui_config(i, *u))
            .collect();
        sim::run_world(&world, spec, all, move |ctx| -> NodeFuture {
            if ctx.id < e {
                let app = PmsService::new(cfg.clone());
                Box::pin(run_node(ctx, service.clone(), disk.clone(), app))
            } else {
                let ui_cfg = uis[ctx.id - e].clone();
                let tick_ms = ui_cfg.tick_ms;
                let ui = Ui::new(ui_cfg, ctx.id);
                Box::pin(run_external(
                    ctx,
                    tick_ms,
                    ui,
                    |r| SvcMsg::Ext(PmsWire::Req(r)),
                    |p| match p {
                        SvcMsg::Ext(PmsWire::Resp(r)) => Some(r),
                        _ => None,
                    },
                ))
            }
        })
    }
}
