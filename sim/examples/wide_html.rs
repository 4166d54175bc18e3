//! Writes the HTML trace of a 65-node run (every node pinging random peers for 10 simulated
//! seconds under a swarm fault plan, every message recorded), for checking that the
//! space-time diagram stays usable on a wide cluster: `scripts/html-check.sh` loads it.
//!
//! Usage: `cargo run -p sim --example wide_html -- OUT.html [NODES]`

use sim::shell::{self, Machine, Node, Ticks};
use sim::world::{PlanSource, RunSpec, WorldConfig};
use sim::{Detail, Envelope, NodeCtx};
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Clone, Debug)]
enum Msg {
    Ping,
    Pong,
}

sim::trace_events! {
    /// The pinger.
    enum Wide in "wide" {
        /// A pong came back.
        Pong as "pong" {
            /// From whom.
            from: sim::NodeId,
        },
    }
}

struct Pinger;

impl Machine for Pinger {
    type Msg = Msg;
    type Local = ();

    fn on_message(&mut self, node: &mut Node<Msg>, env: Envelope<Msg>) {
        match env.msg {
            Msg::Ping => node.send(env.from, Msg::Pong),
            Msg::Pong => sim::emit!(
                node.id(),
                Wide::Pong {
                    from: env.from.into()
                }
            ),
        }
    }

    fn on_tick(&mut self, node: &mut Node<Msg>) {
        use madsim::rand::Rng;
        let n = node.ctx().nodes();
        let to = madsim::rand::thread_rng().gen_range(0..n);
        if to != node.id() {
            node.send(to, Msg::Ping);
        }
    }
}

async fn node_main(ctx: NodeCtx<Msg>) {
    shell::run(ctx, Ticks::every(Duration::from_millis(200)), |_| Pinger).await
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: wide_html OUT.html [NODES]");
        std::process::exit(2);
    };
    let nodes: usize = args.next().map_or(65, |n| n.parse().expect("a node count"));
    let world = WorldConfig::new(nodes, 8_000, 2_000);
    let spec = RunSpec {
        seed: 7,
        plan: PlanSource::Generate { swarm: true },
        keep_events: true,
        detail: Detail::Net,
    };
    let r = sim::run_world(&world, &spec, vec![], node_main).expect("the run");
    let html = sim::html::render(&r.trace, &r.plan, &r.violations, &BTreeSet::new(), "wide");
    std::fs::write(&out, html).expect("the page is written");
    eprintln!(
        "{out}: {nodes} nodes, {} events, {} net events, {} faults",
        r.trace.event_count,
        r.trace.detail.len(),
        r.plan.faults.len()
    );
}
