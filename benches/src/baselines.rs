//! Reference points for the simulator's own speed, measured on the same machine in the
//! same invocation as our figures, so reports compare ratios rather than absolute times.
//!
//! - `endpoint_ping_pong`: two madsim nodes bouncing one message over madsim's raw
//!   `Endpoint` (which adds its own 1 ms+ send and receive delays).
//! - `net_ping_pong`: the same pattern over clustersim's network model.
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

/// Delivered messages per wall second for `messages` one-at-a-time hops over madsim's
/// `Endpoint`.
pub fn endpoint_ping_pong(messages: u64) -> Rate {
    let rt = madsim::runtime::Runtime::with_seed_and_config(1, Default::default());
    let a_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let b_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let start = Instant::now();
    rt.block_on(async move {
        let h = madsim::runtime::Handle::current();
        let b = h.create_node().name("b").ip(b_ip).build();
        let a = h.create_node().name("a").ip(a_ip).build();
        let b_addr = SocketAddr::new(b_ip, 1);
        let pong = b.spawn(async move {
            let ep = madsim::net::Endpoint::bind(b_addr).await.expect("bind b");
            let mut buf = [0u8; 8];
            for _ in 0..messages / 2 {
                let (_, from) = ep.recv_from(0, &mut buf).await.expect("recv b");
                ep.send_to(from, 0, &buf).await.expect("send b");
            }
        });
        let ping = a.spawn(async move {
            let ep = madsim::net::Endpoint::bind(SocketAddr::new(a_ip, 1))
                .await
                .expect("bind a");
            let mut buf = [0u8; 8];
            for i in 0..messages / 2 {
                ep.send_to(b_addr, 0, &i.to_le_bytes())
                    .await
                    .expect("send a");
                ep.recv_from(0, &mut buf).await.expect("recv a");
            }
        });
        ping.await.expect("ping");
        pong.await.expect("pong");
    });
    Rate {
        count: messages / 2 * 2,
        wall: start.elapsed(),
    }
}

/// The same ping-pong over clustersim's network model (1-5 ms links, no faults).
pub fn net_ping_pong(messages: u64) -> Rate {
    let rt = madsim::runtime::Runtime::with_seed_and_config(1, Default::default());
    let start = Instant::now();
    rt.block_on(async move {
        let net = sim::net::Net::<u64>::new(2, sim::NetConfig::default());
        let h = madsim::runtime::Handle::current();
        let b = h.create_node().name("b").build();
        let a = h.create_node().name("a").build();
        let nb = net.clone();
        let pong = b.spawn(async move {
            for _ in 0..messages / 2 {
                let env = nb.recv(1).await;
                nb.send(1, 0, env.msg);
            }
        });
        let na = net.clone();
        let ping = a.spawn(async move {
            for i in 0..messages / 2 {
                na.send(0, 1, i);
                na.recv(0).await;
            }
        });
        ping.await.expect("ping");
        pong.await.expect("pong");
    });
    Rate {
        count: messages / 2 * 2,
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
        assert_eq!(endpoint_ping_pong(100).count, 100);
        assert_eq!(net_ping_pong(100).count, 100);
        assert_eq!(bare_heap_events(1_000, 16).count, 1_000);
    }
}
