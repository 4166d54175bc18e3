//! `check-determinism --child-process` catches what one process hides: a scenario whose
//! trace follows the process (here its id, as an address under ASLR or the allocator's
//! state would) gives the same trace twice in one process, and a different one in a child.
//!
//! The test binary is its own program: `--child-process` starts the running executable
//! again, so this binary's `main` serves the hidden `seed-copy` command through
//! `clustersim::main` over a catalog with the planted scenario, and otherwise runs the test
//! (answering `--list` as test runners ask).

use sim::world::{RunReport, RunSpec, WorldConfig};
use sim::{Catalog, Scenario};
use std::process::{Command, ExitCode};

const TEST: &str = "check_determinism_in_a_child_process_catches_a_process_dependence";

sim::trace_events! {
    /// The fixture scenarios' node.
    enum FixtureEvent in "fixture" {
        /// A value the node computed.
        Value as "value" {
            /// The value.
            x: u64,
        },
    }
}

/// Emits a value that is the same on every thread of a process and differs between
/// processes when `per_process` is set.
struct Fixture {
    name: &'static str,
    per_process: bool,
}

impl Scenario for Fixture {
    fn name(&self) -> &'static str {
        self.name
    }
    fn description(&self) -> &'static str {
        "a fixture of the child-process determinism test"
    }
    fn world(&self) -> WorldConfig {
        WorldConfig::new(1, 100, 100)
    }
    fn checkers(&self) -> Vec<&'static str> {
        vec![]
    }
    fn run(&self, spec: &RunSpec, _mutant: Option<&str>) -> Result<RunReport, String> {
        let mut world = self.world();
        world.plan.allowed.clear();
        let per_process = self.per_process;
        sim::run_world::<(), _, _>(&world, spec, vec![], move |ctx| async move {
            sim::emit!(ctx.id, FixtureEvent::Value { x: 1 });
            let x = if per_process {
                u64::from(std::process::id())
            } else {
                2
            };
            sim::emit!(ctx.id, FixtureEvent::Value { x });
        })
    }
}

fn catalog() -> Catalog {
    Catalog::new()
        .with(Fixture {
            name: "per-process",
            per_process: true,
        })
        .with(Fixture {
            name: "sound",
            per_process: false,
        })
}

struct Out {
    code: Option<i32>,
    stdout: String,
}

fn check(args: &[&str]) -> Out {
    let me = std::env::current_exe().expect("the test binary");
    let o = Command::new(me)
        .arg("check-determinism")
        .args(args)
        .output()
        .expect("the test binary runs");
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
    }
}

fn test() {
    // In one process the dependence hides, on fresh and used threads alike.
    let o = check(&["per-process", "--seeds", "0..3"]);
    assert_eq!(o.code, Some(0), "{}", o.stdout);
    assert!(o.stdout.contains("every trace identical"), "{}", o.stdout);
    // The child copy shows it, names the event and says how to reproduce.
    let o = check(&["per-process", "--seeds", "0..3", "--child-process"]);
    assert_eq!(o.code, Some(1), "{}", o.stdout);
    assert!(
        o.stdout.contains(
            "DIVERGED per-process seed 0: the copy in a child process first differs at event #"
        ),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("  this process: #"), "{}", o.stdout);
    assert!(o.stdout.contains("fixture.value x="), "{}", o.stdout);
    assert!(
        o.stdout
            .contains(" check-determinism per-process --seeds 2..3 --child-process"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("3 divergences"), "{}", o.stdout);
    // A sound scenario passes all three copies.
    let o = check(&["sound", "--seeds", "0..3", "--child-process"]);
    assert_eq!(o.code, Some(0), "{}", o.stdout);
    assert!(
        o.stdout.contains("checked 3 seeds three times")
            && o.stdout.contains("every trace identical"),
        "{}",
        o.stdout
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // A test runner lists the tests (`--list`, and `--ignored` for the ignored ones).
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("{TEST}: test");
        }
        return ExitCode::SUCCESS;
    }
    // The program itself: `check-determinism` above, `seed-copy` in its children.
    if args
        .get(1)
        .is_some_and(|a| a == "check-determinism" || a == "--seed-timeout-s")
    {
        return clustersim::main(catalog());
    }
    // Anything else runs the test (a filter that does not match it skips it).
    let filter = args[1..].iter().find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !TEST.contains(f.as_str())) {
        return ExitCode::SUCCESS;
    }
    test();
    println!("test {TEST} ... ok");
    ExitCode::SUCCESS
}
