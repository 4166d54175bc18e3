//! The script engine a node runs process threads on: `rhai`, set up so a run is
//! deterministic and bounded.
//!
//! Determinism: the engine is built without rhai's time functions (`no_time`) and without
//! floating point, `print`/`debug` go to the thread's own log instead of stdout, the
//! script sees no clock, randomness or I/O beyond the host functions below, and rhai's
//! hashing uses fixed seeds rather than asking the OS (see `fix_hashing_seed`). Boundedness:
//! every step runs under an operation limit, so a runaway script fails with an error
//! instead of hanging the node; string, array, map and call-depth limits bound memory.
//!
//! A script's top-level statements run once when the thread starts. If it defines
//! `fn step(n)`, the node then calls it once per tick (`n` = 0, 1, …) until it returns
//! `false`; that is how a script does work over simulated time and how actions (cancel,
//! pause) take effect between steps. Host functions:
//!
//! | function | effect |
//! |---|---|
//! | `thread_index()`, `thread_count()`, `process_id()` | who am I |
//! | `progress(pct)` | the thread's progress, 0..=100, in the public status |
//! | `set_value(key, v)` | a status value (status-value structure) |
//! | `raise_event(code, text)` | an event indication (status-value structure) |
//! | `publish(key, v)` | public data, readable by authorized clients |
//! | `private_get(key)`, `private_set(key, v)` | the process's private data, shared by its threads only |

use rhai::{CallFnOptions, Dynamic, Engine, EvalAltResult, Scope, AST};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Operations one step may take before the script counts as runaway.
pub const DEFAULT_MAX_OPERATIONS: u64 = 50_000;

/// A value scripts exchange with the host.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Val {
    Int(i64),
    Bool(bool),
    Str(String),
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Int(i) => write!(f, "{i}"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Str(s) => f.write_str(s),
        }
    }
}

impl From<Dynamic> for Val {
    fn from(d: Dynamic) -> Val {
        if let Some(i) = d.clone().try_cast::<i64>() {
            Val::Int(i)
        } else if let Some(b) = d.clone().try_cast::<bool>() {
            Val::Bool(b)
        } else {
            Val::Str(d.to_string())
        }
    }
}

impl From<Val> for Dynamic {
    fn from(v: Val) -> Dynamic {
        match v {
            Val::Int(i) => Dynamic::from(i),
            Val::Bool(b) => Dynamic::from(b),
            Val::Str(s) => Dynamic::from(s),
        }
    }
}

/// What a thread produced since the last collection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadOutput {
    pub progress: Option<u8>,
    pub values: BTreeMap<String, Val>,
    pub events: Vec<(String, String)>,
    pub public: BTreeMap<String, Val>,
    pub private_writes: BTreeMap<String, Val>,
    pub log: Vec<String>,
}

#[derive(Default)]
struct HostState {
    out: ThreadOutput,
    /// The process's private data as this thread knows it (the PMS's copy plus its own
    /// writes).
    private: BTreeMap<String, Val>,
}

/// The outcome of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    Continue,
    Done,
    Failed(String),
}

/// Who a thread is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadIdentity {
    pub process: u64,
    pub index: u32,
    pub count: u32,
}

/// One process thread running a script.
pub struct ScriptThread {
    engine: Engine,
    ast: AST,
    scope: Scope<'static>,
    host: Arc<Mutex<HostState>>,
    has_step: bool,
    started: bool,
    next_step: i64,
}

impl ScriptThread {
    /// Compiles `source` for a thread; a syntax error is returned as text.
    pub fn new(
        source: &str,
        who: ThreadIdentity,
        private: BTreeMap<String, Val>,
        max_operations: u64,
    ) -> Result<ScriptThread, String> {
        let host = Arc::new(Mutex::new(HostState {
            out: ThreadOutput::default(),
            private,
        }));
        let engine = build_engine(who, host.clone(), max_operations);
        let ast = engine
            .compile(source)
            .map_err(|e| format!("script does not compile: {e}"))?;
        let has_step = ast
            .iter_functions()
            .any(|f| f.name == "step" && f.params.len() == 1);
        Ok(ScriptThread {
            engine,
            ast,
            scope: Scope::new(),
            host,
            has_step,
            started: false,
            next_step: 0,
        })
    }

    /// Runs the next piece: the top level on the first call, then `step(n)`.
    pub fn step(&mut self) -> StepOutcome {
        if !self.started {
            self.started = true;
            if let Err(e) = self.engine.run_ast_with_scope(&mut self.scope, &self.ast) {
                return StepOutcome::Failed(describe(&e));
            }
            return if self.has_step {
                StepOutcome::Continue
            } else {
                StepOutcome::Done
            };
        }
        if !self.has_step {
            return StepOutcome::Done;
        }
        let mut opts = CallFnOptions::new();
        opts.eval_ast = false;
        let n = self.next_step;
        self.next_step += 1;
        match self.engine.call_fn_with_options::<Dynamic>(
            opts,
            &mut self.scope,
            &self.ast,
            "step",
            (n,),
        ) {
            Ok(v) => match v.try_cast::<bool>() {
                Some(false) => StepOutcome::Done,
                _ => StepOutcome::Continue,
            },
            Err(e) => StepOutcome::Failed(describe(&e)),
        }
    }

    /// Takes what the thread produced since the last call.
    pub fn collect(&mut self) -> ThreadOutput {
        std::mem::take(&mut self.host.lock().expect("host lock").out)
    }

    /// Refreshes the thread's view of the process's private data (from the PMS).
    pub fn refresh_private(&mut self, private: BTreeMap<String, Val>) {
        let mut h = self.host.lock().expect("host lock");
        let own = h.out.private_writes.clone();
        h.private = private;
        h.private.extend(own);
    }
}

fn describe(e: &EvalAltResult) -> String {
    match e {
        EvalAltResult::ErrorTooManyOperations(pos) => {
            format!("runaway script stopped: operation limit reached at {pos}")
        }
        EvalAltResult::ErrorRuntime(v, pos) => format!("script error at {pos}: {v}"),
        other => format!("script error: {other}"),
    }
}

/// Gives rhai fixed hashing seeds, once per process, before any engine exists. Its default
/// seeds come from ahash, which asks the OS for randomness the first time only; inside
/// madsim that request draws from the running seed's RNG, so the first script of a process
/// would shift every later random choice of its seed, and a seed's trace would depend on
/// what ran before it in the process. Nothing here needs hash-flooding protection.
fn fix_hashing_seed() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only if already set, to these seeds or by the embedding program.
        let _ = rhai::config::hashing::set_hashing_seed(Some([
            0x636c_7573_7465_7273,
            0x696d_2d70_6d73_2d31,
            0x7268_6169_2d68_6173,
            0x682d_7365_6564_2d32,
        ]));
    });
}

fn build_engine(who: ThreadIdentity, host: Arc<Mutex<HostState>>, max_ops: u64) -> Engine {
    fix_hashing_seed();
    let mut engine = Engine::new();
    engine.set_max_operations(max_ops);
    engine.set_max_call_levels(32);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(4_096);
    engine.set_max_array_size(1_024);
    engine.set_max_map_size(1_024);
    let h = host.clone();
    engine.on_print(move |s| h.lock().expect("host lock").out.log.push(s.to_string()));
    let h = host.clone();
    engine.on_debug(move |s, _, _| h.lock().expect("host lock").out.log.push(s.to_string()));
    engine.register_fn("thread_index", move || who.index as i64);
    engine.register_fn("thread_count", move || who.count as i64);
    engine.register_fn("process_id", move || who.process as i64);
    let h = host.clone();
    engine.register_fn("progress", move |pct: i64| {
        h.lock().expect("host lock").out.progress = Some(pct.clamp(0, 100) as u8);
    });
    let h = host.clone();
    engine.register_fn("set_value", move |k: &str, v: Dynamic| {
        h.lock()
            .expect("host lock")
            .out
            .values
            .insert(k.to_string(), v.into());
    });
    let h = host.clone();
    engine.register_fn("raise_event", move |code: &str, text: &str| {
        h.lock()
            .expect("host lock")
            .out
            .events
            .push((code.to_string(), text.to_string()));
    });
    let h = host.clone();
    engine.register_fn("publish", move |k: &str, v: Dynamic| {
        h.lock()
            .expect("host lock")
            .out
            .public
            .insert(k.to_string(), v.into());
    });
    let h = host.clone();
    engine.register_fn("private_set", move |k: &str, v: Dynamic| {
        let mut st = h.lock().expect("host lock");
        let v: Val = v.into();
        st.private.insert(k.to_string(), v.clone());
        st.out.private_writes.insert(k.to_string(), v);
    });
    let h = host;
    engine.register_fn("private_get", move |k: &str| -> Dynamic {
        h.lock()
            .expect("host lock")
            .private
            .get(k)
            .cloned()
            // Not `Dynamic::from`: that generic constructor would wrap the `Val` itself.
            .map(|v| -> Dynamic { v.into() })
            .unwrap_or(Dynamic::UNIT)
    });
    engine
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHO: ThreadIdentity = ThreadIdentity {
        process: 7,
        index: 1,
        count: 3,
    };

    fn thread(src: &str) -> ScriptThread {
        ScriptThread::new(src, WHO, BTreeMap::new(), DEFAULT_MAX_OPERATIONS).unwrap()
    }

    fn run(t: &mut ScriptThread) -> (StepOutcome, usize) {
        for i in 0..1_000 {
            match t.step() {
                StepOutcome::Continue => {}
                other => return (other, i),
            }
        }
        panic!("script never ended");
    }

    #[test]
    fn a_stepping_script_reports_through_every_host_function() {
        let mut t = thread(
            r#"
            private_set("seen", 0);
            fn step(n) {
                progress((n + 1) * 25);
                set_value("phase", if n < 2 { "load" } else { "write" });
                publish("rows", n * 10);
                private_set("seen", private_get("seen") + 1);
                if n == 3 { raise_event("CLU0104", `thread ${thread_index()} of ${thread_count()} in ${process_id()}`); }
                n < 3
            }
            "#,
        );
        let (end, steps) = run(&mut t);
        assert_eq!((end, steps), (StepOutcome::Done, 4));
        let out = t.collect();
        assert_eq!(out.progress, Some(100));
        assert_eq!(out.values["phase"], Val::Str("write".into()));
        assert_eq!(out.public["rows"], Val::Int(30));
        assert_eq!(out.private_writes["seen"], Val::Int(4));
        assert_eq!(
            out.events,
            vec![("CLU0104".to_string(), "thread 1 of 3 in 7".to_string())]
        );
        assert_eq!(t.collect(), ThreadOutput::default(), "collect takes");
    }

    #[test]
    fn a_script_error_fails_the_thread_with_its_message() {
        let mut t = thread(r#"fn step(n) { if n == 2 { throw "disk full"; } true }"#);
        let (end, _) = run(&mut t);
        let StepOutcome::Failed(msg) = end else {
            panic!("{end:?}")
        };
        assert!(msg.contains("disk full"), "{msg}");
    }

    #[test]
    fn a_runaway_script_is_stopped_by_the_operation_limit() {
        let mut t = thread("fn step(n) { loop { n += 1; } }");
        let (end, _) = run(&mut t);
        let StepOutcome::Failed(msg) = end else {
            panic!("{end:?}")
        };
        assert!(msg.starts_with("runaway script stopped"), "{msg}");
    }

    #[test]
    fn a_syntax_error_is_reported_not_panicked() {
        let err = match ScriptThread::new("fn step(n) {", WHO, BTreeMap::new(), 100) {
            Err(e) => e,
            Ok(_) => panic!("compiled"),
        };
        assert!(err.starts_with("script does not compile"), "{err}");
    }

    #[test]
    fn print_goes_to_the_thread_log_and_no_clock_is_available() {
        let mut t = thread(r#"print("hello"); debug(1);"#);
        assert_eq!(t.step(), StepOutcome::Done);
        assert_eq!(t.collect().log, vec!["hello".to_string(), "1".to_string()]);
        let mut t = thread("let t = timestamp();");
        assert!(matches!(t.step(), StepOutcome::Failed(m) if m.contains("timestamp")));
    }

    #[test]
    fn the_private_view_refreshes_from_the_pms_and_keeps_own_writes() {
        let mut t = thread(
            r#"fn step(n) { private_set("mine", 1); set_value("theirs", private_get("theirs")); n < 1 }"#,
        );
        t.step();
        t.step();
        t.refresh_private([("theirs".to_string(), Val::Int(5))].into());
        t.step();
        let out = t.collect();
        assert_eq!(out.values["theirs"], Val::Int(5));
    }
}
