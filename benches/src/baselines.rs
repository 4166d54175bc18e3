//! Reference points for the simulator's own speed, measured on the same machine in the
//! same invocation as our figures, so reports compare ratios rather than absolute times.
//!
//! The two message baselines run the message pattern of an ACK round's phases: a
//! coordinator sends one message to each of `nodes - 1` members and waits for every reply,
//! again and again (with two nodes, a plain ping-pong).
//!
//! - `endpoint_fan_out`: over madsim's raw `Endpoint` (which adds its own 1 ms+ send and
//!   receive delays), with no protocol at all.
//! - `net_fan_out`: the same over clustersim's network model.
//! - `bare_heap_events`: a bare binary-heap discrete-event loop, no runtime at all: the
//!   limit of a discrete-event simulator on this machine.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// A throughput measurement.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub count: u64,
    pub wall: Duration,
}

impl Rate {
    pub fn per_wall_s(&self) -> f64 {
        self.count as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// How many exchanges of `nodes - 1` messages and their replies make about `messages`.
fn exchanges(nodes: usize, messages: u64) -> u64 {
    assert!(nodes >= 2, "a fan-out needs a coordinator and a member");
    (messages / (2 * (nodes as u64 - 1))).max(1)
}

fn ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8 + 1))
}

/// Delivered messages per wall second of about `messages` fan-out messages over madsim's
/// `Endpoint` among `nodes` nodes.
pub fn endpoint_fan_out(nodes: usize, messages: u64) -> Rate {
    let rounds = exchanges(nodes, messages);
    let rt = madsim::runtime::Runtime::with_seed_and_config(1, Default::default());
    let start = Instant::now();
    rt.block_on(async move {
        let h = madsim::runtime::Handle::current();
        let mut members = Vec::new();
        for i in 1..nodes {
            let node = h.create_node().name(format!("m{i}")).ip(ip(i)).build();
            members.push(node.spawn(async move {
                let ep = madsim::net::Endpoint::bind(SocketAddr::new(ip(i), 1))
                    .await
                    .expect("bind member");
                let mut buf = [0u8; 8];
                for _ in 0..rounds {
                    let (_, from) = ep.recv_from(0, &mut buf).await.expect("recv member");
                    ep.send_to(from, 0, &buf).await.expect("send member");
                }
            }));
        }
        let coord = h.create_node().name("c").ip(ip(0)).build();
        let c = coord.spawn(async move {
            let ep = madsim::net::Endpoint::bind(SocketAddr::new(ip(0), 1))
                .await
                .expect("bind coordinator");
            let mut buf = [0u8; 8];
            for r in 0..rounds {
                for i in 1..nodes {
                    ep.send_to(SocketAddr::new(ip(i), 1), 0, &r.to_le_bytes())
                        .await
                        .expect("send coordinator");
                }
                for _ in 1..nodes {
                    ep.recv_from(0, &mut buf).await.expect("recv coordinator");
                }
            }
        });
        c.await.expect("coordinator");
        for m in members {
            m.await.expect("member");
        }
    });
    Rate {
        count: rounds * 2 * (nodes as u64 - 1),
        wall: start.elapsed(),
    }
}

/// The same fan-out over clustersim's network model (1-5 ms links, no faults).
pub fn net_fan_out(nodes: usize, messages: u64) -> Rate {
    let rounds = exchanges(nodes, messages);
    let rt = madsim::runtime::Runtime::with_seed_and_config(1, Default::default());
    let start = Instant::now();
    rt.block_on(async move {
        let net = sim::net::Net::<u64>::new(nodes, sim::NetConfig::default());
        let h = madsim::runtime::Handle::current();
        let mut members = Vec::new();
        for i in 1..nodes {
            let node = h.create_node().name(format!("m{i}")).build();
            let n = net.clone();
            members.push(node.spawn(async move {
                for _ in 0..rounds {
                    let env = n.recv(i).await;
                    n.send(i, 0, env.msg);
                }
            }));
        }
        let coord = h.create_node().name("c").build();
        let n = net.clone();
        let c = coord.spawn(async move {
            for r in 0..rounds {
                for i in 1..nodes {
                    n.send(0, i, r);
                }
                for _ in 1..nodes {
                    n.recv(0).await;
                }
            }
        });
        c.await.expect("coordinator");
        for m in members {
            m.await.expect("member");
        }
    });
    Rate {
        count: rounds * 2 * (nodes as u64 - 1),
        wall: start.elapsed(),
    }
}

/// Events per wall second of a bare discrete-event loop: pop the earliest event, schedule
/// one successor at a pseudo-random later time (a heap of `width` pending events).
pub fn bare_heap_events(events: u64, width: usize) -> Rate {
    let mut heap: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::with_capacity(width + 1);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let next = |x: &mut u64| {
        // xorshift64: a fixed, cheap sequence; the loop must not be dominated by its RNG.
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    };
    for id in 0..width as u64 {
        heap.push(Reverse((next(&mut x) % 5_000_000, id)));
    }
    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..events {
        let Reverse((t, id)) = heap.pop().expect("never empty");
        sum = sum.wrapping_add(id);
        heap.push(Reverse((t + 1_000_000 + next(&mut x) % 4_000_000, id)));
    }
    std::hint::black_box(sum);
    Rate {
        count: events,
        wall: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_count_what_they_ran() {
        assert_eq!(endpoint_fan_out(2, 100).count, 100);
        assert_eq!(net_fan_out(2, 100).count, 100);
        assert_eq!(endpoint_fan_out(5, 100).count, 96);
        assert_eq!(net_fan_out(5, 100).count, 96);
        assert_eq!(bare_heap_events(1_000, 16).count, 1_000);
    }
}
