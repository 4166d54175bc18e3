//! The ACK-round benchmark report: latency percentiles beside the network floor, the
//! simulator's own speed beside its baselines, and how both scale with cluster size.
//!
//! `write_report_dir` writes `report.md` (tables for a reader), `report.json` (the same
//! figures for tools), `latency.hlog` (the latency histograms in the standard HdrHistogram
//! interval-log format, readable by HdrHistogram's own log processors), and two SVG charts:
//! latency by percentile, and latency and simulator cost against cluster size. Every file
//! is written whole or not at all (a temporary file renamed into place).

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// A fresh latency histogram in nanoseconds: 1 ns to 1 hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

/// Percentiles of one histogram, in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencyStats {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl LatencyStats {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencyStats::default();
        }
        LatencyStats {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// One cluster size of the scaling sweep.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SizePoint {
    pub nodes: usize,
    pub latency: LatencyStats,
    pub floor: LatencyStats,
    /// Wall-clock ns the simulator spends per simulated second.
    pub wall_ns_per_sim_s: f64,
    pub msgs_per_sim_s: f64,
}

impl SizePoint {
    /// Wall-clock ns the simulator spends per delivered message.
    pub fn wall_ns_per_msg(&self) -> f64 {
        self.wall_ns_per_sim_s / self.msgs_per_sim_s.max(1e-9)
    }
}

/// Everything one benchmark invocation measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The command line that produced it.
    pub command: String,
    pub nodes: usize,
    /// Rounds measured (fewer than asked for when the run ended first).
    pub rounds: u64,
    pub rounds_requested: u64,
    pub faults: String,
    /// Link latency, `LO..HI` ms.
    pub latency_ms: String,
    pub seed: u64,
    pub latency: LatencyStats,
    pub floor: LatencyStats,
    /// Per round, measured minus floor.
    pub excess: LatencyStats,
    pub rounds_per_sim_s: f64,
    pub sim_per_wall: f64,
    /// The same for the `ack-rounds` scenario at the catalog's pace, without faults.
    pub catalog_sim_per_wall: f64,
    pub msgs_per_wall_s: f64,
    pub endpoint_msgs_per_wall_s: f64,
    /// Our network model alone, on the `Endpoint` baseline's pattern.
    pub net_model_msgs_per_wall_s: f64,
    pub bare_heap_events_per_wall_s: f64,
    pub sizes: Vec<SizePoint>,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

/// A target the simulator is measured against (never asserted: wall-clock figures vary).
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub what: &'static str,
    pub measured: f64,
    pub goal: Goal,
    /// The best any protocol could reach on our network model, where the model bounds it.
    pub ceiling: Option<f64>,
}

/// Which side of its bound a target's figure must be on.
#[derive(Clone, Copy, Debug)]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    pub fn met(&self) -> bool {
        match self.goal {
            Goal::AtLeast(x) => self.measured >= x,
            Goal::AtMost(x) => self.measured <= x,
        }
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::AtLeast(x) => format!(">= {x}"),
            Goal::AtMost(x) => format!("<= {x}"),
        }
    }

    /// Whether the model's ceiling itself falls short of the goal: no protocol on this
    /// network model, however cheap, could meet it on this machine.
    pub fn out_of_reach(&self) -> bool {
        match (self.ceiling, self.goal) {
            (Some(c), Goal::AtLeast(x)) => c < x,
            (Some(c), Goal::AtMost(x)) => c > x,
            (None, _) => false,
        }
    }
}

impl Report {
    /// The sizes the growth figures compare: the first of at least 5 nodes (the target
    /// is stated from 5; a 2- or 3-node cluster is dominated by fixed costs) and the last.
    fn growth_span(&self) -> Option<(&SizePoint, &SizePoint)> {
        let first = self.sizes.iter().find(|p| p.nodes >= 5)?;
        let last = self.sizes.last()?;
        (last.nodes > first.nodes).then_some((first, last))
    }

    /// How much faster than `n log n` the cost per simulated second grows over the
    /// growth span: at most 1.0 is the target.
    pub fn growth_vs_nlogn(&self) -> Option<f64> {
        let (first, last) = self.growth_span()?;
        let nlogn = |n: usize| n as f64 * (n as f64).ln();
        let cost = last.wall_ns_per_sim_s / first.wall_ns_per_sim_s;
        Some(cost / (nlogn(last.nodes) / nlogn(first.nodes)))
    }

    /// How much faster than `log n` the cost per delivered message grows from the smallest
    /// to the largest size: the simulator's own share of the scaling, apart from how many
    /// messages the protocol sends (at most 1.0 is the target).
    pub fn per_msg_growth_vs_logn(&self) -> Option<f64> {
        let (first, last) = self.growth_span()?;
        let logn = |n: usize| (n as f64).ln();
        let cost = last.wall_ns_per_msg() / first.wall_ns_per_msg();
        Some(cost / (logn(last.nodes) / logn(first.nodes)))
    }

    /// The most simulated seconds per wall second this run's messages allow on our network
    /// model: its delivered messages per simulated second, each costing what a message
    /// costs the model alone (the baseline measured beside it), with no protocol, trace or
    /// checker work at all.
    pub fn net_model_ceiling_sim_per_wall(&self) -> f64 {
        let msgs_per_sim_s = ratio(self.msgs_per_wall_s, self.sim_per_wall);
        ratio(self.net_model_msgs_per_wall_s, msgs_per_sim_s)
    }

    /// Issue 7's targets beside this run's figures: (what, measured, target, met, the
    /// most any protocol could reach on our network model where that bounds it).
    pub fn targets(&self) -> Vec<Target> {
        let p99_vs_floor = ratio(self.latency.p99 as f64, self.floor.p99 as f64);
        let mut t = vec![
            Target {
                what: "simulated seconds per wall second, back to back",
                measured: self.sim_per_wall,
                goal: Goal::AtLeast(1000.0),
                ceiling: Some(self.net_model_ceiling_sim_per_wall()),
            },
            Target {
                what: "the same at the catalog's pace",
                measured: self.catalog_sim_per_wall,
                goal: Goal::AtLeast(1000.0),
                ceiling: None,
            },
            Target {
                what: "delivered messages per wall second / madsim `Endpoint`",
                measured: ratio(self.msgs_per_wall_s, self.endpoint_msgs_per_wall_s),
                goal: Goal::AtLeast(2.0),
                ceiling: Some(ratio(
                    self.net_model_msgs_per_wall_s,
                    self.endpoint_msgs_per_wall_s,
                )),
            },
            Target {
                what: "p99 round latency / network floor",
                measured: p99_vs_floor,
                goal: Goal::AtMost(1.05),
                ceiling: None,
            },
        ];
        if let Some(g) = self.growth_vs_nlogn() {
            t.push(Target {
                what: "cost per simulated second, growth / n log n",
                measured: g,
                goal: Goal::AtMost(1.0),
                ceiling: None,
            });
        }
        t
    }

    /// Whether the targets apply: they are stated for 5 nodes without faults.
    fn targets_apply(&self) -> bool {
        self.nodes == 5 && self.faults == "none"
    }

    /// The JSON object `clustersim bench --json` prints.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "nodes": self.nodes,
            "rounds": self.rounds,
            "latency_ns": {
                "p50": self.latency.p50,
                "p90": self.latency.p90,
                "p99": self.latency.p99,
                "p999": self.latency.p999,
                "max": self.latency.max,
            },
            "floor_ns": {"p50": self.floor.p50, "p99": self.floor.p99},
            "rounds_per_sim_s": self.rounds_per_sim_s,
            "sim_per_wall": self.sim_per_wall,
            "msgs_per_wall_s": self.msgs_per_wall_s,
            "baseline": {
                "madsim_endpoint_msgs_per_wall_s": self.endpoint_msgs_per_wall_s,
                "bare_heap_events_per_wall_s": self.bare_heap_events_per_wall_s,
            },
        })
    }

    /// The latency table: measured and floor in ms, and their ratio, at p50, p90, p99,
    /// p99.9 and max.
    fn latency_rows(&self) -> [(&'static str, [f64; 5]); 3] {
        let pick = |l: &LatencyStats| [l.p50, l.p90, l.p99, l.p999, l.max];
        let (m, f) = (pick(&self.latency), pick(&self.floor));
        [
            ("measured (ms)", m.map(ms)),
            ("network floor (ms)", f.map(ms)),
            (
                "measured / floor",
                std::array::from_fn(|i| ratio(m[i] as f64, f[i] as f64)),
            ),
        ]
    }

    /// The simulator-speed lines: (what, value, ratio of ours to it).
    fn speed_rows(&self) -> [(&'static str, f64, Option<f64>); 6] {
        [
            ("simulated seconds per wall second", self.sim_per_wall, None),
            (
                "the same, `ack-rounds` at the catalog's pace (a transaction every 100 ms), no faults",
                self.catalog_sim_per_wall,
                None,
            ),
            (
                "delivered messages per wall second",
                self.msgs_per_wall_s,
                None,
            ),
            (
                "baseline: madsim `Endpoint` fan-out, messages per wall second",
                self.endpoint_msgs_per_wall_s,
                Some(ratio(self.msgs_per_wall_s, self.endpoint_msgs_per_wall_s)),
            ),
            (
                "our network model alone on that pattern, messages per wall second",
                self.net_model_msgs_per_wall_s,
                Some(ratio(self.msgs_per_wall_s, self.net_model_msgs_per_wall_s)),
            ),
            (
                "baseline: bare binary-heap event loop, events per wall second",
                self.bare_heap_events_per_wall_s,
                Some(ratio(
                    self.msgs_per_wall_s,
                    self.bare_heap_events_per_wall_s,
                )),
            ),
        ]
    }

    fn headline(&self) -> String {
        let mut s = format!(
            "{} nodes, {} rounds, faults {}, links {} ms, seed {}",
            self.nodes, self.rounds, self.faults, self.latency_ms, self.seed
        );
        if self.rounds < self.rounds_requested {
            let _ = write!(
                s,
                " (only {} of the {} rounds asked for completed before the run ended)",
                self.rounds, self.rounds_requested
            );
        }
        s
    }

    fn excess_line(&self) -> String {
        let e = &self.excess;
        format!(
            "measured - floor per round: p50 {:.3} us, p99 {:.3} us, max {:.3} us",
            e.p50 as f64 / 1e3,
            e.p99 as f64 / 1e3,
            e.max as f64 / 1e3
        )
    }

    fn scaling_line(&self) -> Option<String> {
        let (g, m) = (self.growth_vs_nlogn()?, self.per_msg_growth_vs_logn()?);
        let (first, last) = self.growth_span()?;
        Some(format!(
            "From {} to {} nodes the cost per simulated second grew {g:.2}x as fast as n log n, \
             the cost per delivered message {m:.2}x as fast as log n (at most 1.0 is the target).",
            first.nodes, last.nodes
        ))
    }

    /// A few lines for a terminal.
    pub fn summary(&self) -> String {
        let mut s = format!("bench ack-rounds: {}\n", self.headline());
        let _ = writeln!(
            s,
            "{:<20}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "round latency", "p50", "p90", "p99", "p99.9", "max"
        );
        for (name, v) in self.latency_rows() {
            let _ = write!(s, "{name:<20}");
            for x in v {
                let _ = write!(s, "{x:>10.3}");
            }
            s.push('\n');
        }
        let _ = writeln!(s, "{}", self.excess_line());
        let _ = writeln!(
            s,
            "throughput: {:.1} rounds per simulated second",
            self.rounds_per_sim_s
        );
        for (what, v, r) in self.speed_rows() {
            let _ = write!(s, "{}: {v:.0}", what.replace('`', ""));
            if let Some(r) = r {
                let _ = write!(s, " (ours {r:.3}x)");
            }
            s.push('\n');
        }
        if let Some(line) = self.scaling_line() {
            s.push_str(&line);
            s.push('\n');
        }
        if self.targets_apply() {
            for t in self.targets() {
                let _ = write!(
                    s,
                    "target {}: {:.3} ({}, {})",
                    t.what.replace('`', ""),
                    t.measured,
                    t.goal_text(),
                    if t.met() { "met" } else { "missed" }
                );
                if let Some(c) = t.ceiling {
                    let _ = write!(s, "; network-model ceiling {c:.3}");
                }
                s.push('\n');
            }
        }
        s
    }

    /// The targets table of the markdown report.
    fn targets_markdown(&self, s: &mut String) {
        let _ = writeln!(s, "## Targets\n");
        let _ = writeln!(
            s,
            "| target | measured | goal | met | network-model ceiling |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        for t in self.targets() {
            let ceiling = t.ceiling.map(|c| format!("{c:.3}")).unwrap_or_default();
            let _ = writeln!(
                s,
                "| {} | {:.3} | {} | {} | {ceiling} |",
                t.what,
                t.measured,
                t.goal_text(),
                match (t.met(), t.out_of_reach()) {
                    (true, _) => "yes",
                    (false, false) => "no",
                    (false, true) => "no: beyond the ceiling",
                }
            );
        }
        let _ = writeln!(
            s,
            "\nThe ceiling is what a protocol that cost nothing beyond our network model would \
             reach with this run's messages: each delivered message costing what the model \
             alone spends on one (its baseline below). Where the ceiling itself misses the \
             goal, no protocol on this network model meets the target on this machine; closing \
             that gap needs a cheaper runtime under the model, not a cheaper protocol.\n"
        );
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# ACK-round benchmark\n");
        let _ = writeln!(s, "Command: `{}`\n", self.command);
        let _ = writeln!(
            s,
            "{}. Latencies are simulated time; every simulated figure is the same bit for bit \
             for the same command, only wall-clock figures vary.\n",
            self.headline()
        );
        let _ = writeln!(s, "## Round latency\n");
        let _ = writeln!(s, "| | p50 | p90 | p99 | p99.9 | max |");
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for (name, v) in self.latency_rows() {
            let cells: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
            let _ = writeln!(s, "| {name} | {} |", cells.join(" | "));
        }
        let _ = writeln!(
            s,
            "\nThe floor is the latency each round would have had with zero processing and the \
             same sampled link delays: the critical path through the round's messages (the \
             coordinator's multicast through the sequencer, the safe-delivery stability round, \
             the members' ACKs). What processing, timers and scheduling added, {}.\n\n\
             Throughput: {:.1} rounds per simulated second.\n",
            self.excess_line()
                .replacen("measured - floor per round: ", "", 1),
            self.rounds_per_sim_s
        );
        if self.targets_apply() {
            self.targets_markdown(&mut s);
        }
        let _ = writeln!(s, "## Simulator speed\n");
        let _ = writeln!(s, "| measure | value | ours / it |");
        let _ = writeln!(s, "|---|---|---|");
        for (what, v, r) in self.speed_rows() {
            let r = r.map(|r| format!("{r:.3}")).unwrap_or_default();
            let _ = writeln!(s, "| {what} | {v:.0} | {r} |");
        }
        let _ =
            writeln!(
            s,
            "\nThe baselines run in the same invocation, with the message pattern of a {}-node \
             ACK round's phase: a coordinator sends to every member and waits for every reply. \
             Our network model alone moves {:.2}x the messages of madsim's `Endpoint` per wall \
             second; in the benchmark every message also carries the engine's processing and \
             the trace events it causes, each recorded, hashed and checked.\n",
            self.nodes,
            ratio(self.net_model_msgs_per_wall_s, self.endpoint_msgs_per_wall_s)
        );
        if !self.sizes.is_empty() {
            let _ = writeln!(s, "## Scaling with cluster size\n");
            let _ = writeln!(
                s,
                "| nodes | p50 | p99 | floor p99 | wall ms per sim s | msgs per sim s | wall ns per msg |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|---|");
            for p in &self.sizes {
                let _ = writeln!(
                    s,
                    "| {} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} | {:.0} | {:.0} |",
                    p.nodes,
                    ms(p.latency.p50),
                    ms(p.latency.p99),
                    ms(p.floor.p99),
                    p.wall_ns_per_sim_s / 1e6,
                    p.msgs_per_sim_s,
                    p.wall_ns_per_msg()
                );
            }
            if let Some(line) = self.scaling_line() {
                let _ = writeln!(
                    s,
                    "\n{line} Each size's wall-clock figures are the best of a few runs."
                );
            }
        }
        s
    }
}

/// Writes `contents` to `path` whole or not at all.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The histograms as an HdrHistogram interval log (V2, deflate-compressed, base64),
/// timestamps in simulated seconds from the run's start.
pub fn interval_log(series: &[(&str, &Histogram<u64>, Duration)]) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    {
        let mut w = IntervalLogWriterBuilder::new()
            .add_comment("clustersim ACK-round latency, values in nanoseconds of simulated time")
            .with_start_time(UNIX_EPOCH)
            .with_base_time(UNIX_EPOCH)
            .with_max_value_divisor(1e6)
            .begin_log_with(&mut buf, &mut ser)?;
        for (tag, h, duration) in series {
            w.write_histogram(h, Duration::ZERO, *duration, Tag::new(tag))
                .map_err(|e| io::Error::other(format!("{e:?}")))?;
        }
    }
    Ok(buf)
}

const W: f64 = 720.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

fn svg_open(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        W / 2.0,
        xml(title)
    )
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn polyline(points: &[(f64, f64)], color: &str) -> String {
    let pts: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    format!(
        "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
        pts.join(" ")
    )
}

fn axes(s: &mut String, x_label: &str, y_label: &str) {
    let _ = writeln!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM
    );
    let _ = writeln!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{}\" stroke=\"black\"/>",
        H - BOTTOM
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        (LEFT + W - RIGHT) / 2.0,
        H - 15.0,
        xml(x_label)
    );
    let _ = writeln!(
        s,
        "<text transform=\"translate(18,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        (TOP + H - BOTTOM) / 2.0,
        xml(y_label)
    );
}

fn legend(s: &mut String, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        let y = TOP + 10.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"4\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            LEFT + 15.0,
            y,
            COLORS[i % COLORS.len()],
            LEFT + 35.0,
            y + 5.0,
            xml(name)
        );
    }
}

/// Latency by percentile, HdrHistogram-style: the x axis is `1 / (1 - q)` on a log scale,
/// so the tail (99%, 99.9%, 99.99%) gets as much room as the median.
pub fn percentile_svg(title: &str, series: &[(&str, &Histogram<u64>)]) -> String {
    let max_x = 4.0f64; // log10(1/(1-q)) up to 99.99%
    let max_ms = series
        .iter()
        .map(|(_, h)| ms(h.max()))
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.1;
    let px = |lx: f64| LEFT + (W - LEFT - RIGHT) * lx / max_x;
    let py = |v: f64| H - BOTTOM - (H - TOP - BOTTOM) * v / max_ms;
    let mut s = svg_open(title);
    axes(&mut s, "percentile", "latency (ms, simulated)");
    for (lx, label) in [
        (0.0, "0%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
    ] {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            px(lx),
            H - BOTTOM + 16.0
        );
    }
    for i in 0..=4 {
        let v = max_ms * i as f64 / 4.0;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.2}</text>",
            LEFT - 6.0,
            py(v) + 4.0
        );
    }
    for (i, (_, h)) in series.iter().enumerate() {
        if h.is_empty() {
            continue;
        }
        let pts: Vec<(f64, f64)> = (0..=200)
            .map(|k| {
                let lx = max_x * k as f64 / 200.0;
                let q = 1.0 - 10f64.powf(-lx);
                (px(lx), py(ms(h.value_at_quantile(q.min(1.0)))))
            })
            .collect();
        s.push_str(&polyline(&pts, COLORS[i % COLORS.len()]));
    }
    let names: Vec<&str> = series.iter().map(|(n, _)| *n).collect();
    legend(&mut s, &names);
    s.push_str("</svg>\n");
    s
}

/// One plotted quantity of a size point.
type Metric = fn(&SizePoint) -> f64;

/// Latency (p50, p99, floor p99) and simulator cost against cluster size; nodes on a log
/// axis, cost on its own right-hand scale.
pub fn scaling_svg(points: &[SizePoint]) -> String {
    let mut s = svg_open("ACK-round latency and simulator cost by cluster size");
    axes(&mut s, "nodes (log scale)", "latency (ms, simulated)");
    if points.is_empty() {
        s.push_str("</svg>\n");
        return s;
    }
    let lo = (points[0].nodes as f64).ln();
    let hi = (points[points.len() - 1].nodes as f64).ln().max(lo + 1e-9);
    let max_ms = points
        .iter()
        .map(|p| ms(p.latency.p99.max(p.floor.p99)))
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.1;
    let max_cost = points
        .iter()
        .map(|p| p.wall_ns_per_sim_s / 1e6)
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1;
    let px = |n: usize| LEFT + (W - LEFT - RIGHT - 40.0) * ((n as f64).ln() - lo) / (hi - lo);
    let py = |v: f64, max: f64| H - BOTTOM - (H - TOP - BOTTOM) * v / max;
    for p in points {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            px(p.nodes),
            H - BOTTOM + 16.0,
            p.nodes
        );
    }
    for i in 0..=4 {
        let v = max_ms * i as f64 / 4.0;
        let c = max_cost * i as f64 / 4.0;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.2}</text>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"start\" fill=\"{}\">{c:.1}</text>",
            LEFT - 6.0,
            py(v, max_ms) + 4.0,
            W - RIGHT - 36.0,
            py(c, max_cost) + 4.0,
            COLORS[3]
        );
    }
    let series: [(&str, Metric, f64); 4] = [
        ("p50", |p| ms(p.latency.p50), max_ms),
        ("p99", |p| ms(p.latency.p99), max_ms),
        ("floor p99", |p| ms(p.floor.p99), max_ms),
        (
            "wall ms per simulated s (right scale)",
            |p| p.wall_ns_per_sim_s / 1e6,
            max_cost,
        ),
    ];
    for (i, (_, f, max)) in series.iter().enumerate() {
        let pts: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (px(p.nodes), py(f(p), *max)))
            .collect();
        s.push_str(&polyline(&pts, COLORS[i]));
    }
    let names: Vec<&str> = series.iter().map(|(n, _, _)| *n).collect();
    legend(&mut s, &names);
    s.push_str("</svg>\n");
    s
}

/// Writes the whole report directory.
pub fn write_report_dir(
    dir: &Path,
    report: &Report,
    latency: &Histogram<u64>,
    floor: &Histogram<u64>,
    sim_duration: Duration,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_atomic(&dir.join("report.md"), report.markdown().as_bytes())?;
    let json = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    write_atomic(&dir.join("report.json"), json.as_bytes())?;
    let log = interval_log(&[
        ("measured", latency, sim_duration),
        ("floor", floor, sim_duration),
    ])?;
    write_atomic(&dir.join("latency.hlog"), &log)?;
    let title = format!("ACK-round latency by percentile, {} nodes", report.nodes);
    let svg = percentile_svg(&title, &[("measured", latency), ("network floor", floor)]);
    write_atomic(&dir.join("latency-percentiles.svg"), svg.as_bytes())?;
    write_atomic(
        &dir.join("scaling.svg"),
        scaling_svg(&report.sizes).as_bytes(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = new_histogram();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    fn report(sizes: Vec<SizePoint>) -> Report {
        let lat = hist((1..=1000).map(|i| 2_000_000 + i * 1_000));
        let floor = hist((1..=1000).map(|i| 1_900_000 + i * 1_000));
        Report {
            command: "clustersim bench ack-rounds".into(),
            nodes: 5,
            rounds: 1000,
            rounds_requested: 1000,
            faults: "none".into(),
            latency_ms: "1..5".into(),
            seed: 1,
            latency: LatencyStats::of(&lat),
            floor: LatencyStats::of(&floor),
            excess: LatencyStats::of(&hist([1_000, 2_000])),
            rounds_per_sim_s: 300.0,
            sim_per_wall: 2000.0,
            catalog_sim_per_wall: 3000.0,
            msgs_per_wall_s: 2e6,
            endpoint_msgs_per_wall_s: 8e5,
            net_model_msgs_per_wall_s: 1.6e6,
            bare_heap_events_per_wall_s: 4e7,
            sizes,
        }
    }

    fn point(nodes: usize, cost: f64) -> SizePoint {
        let l = LatencyStats::of(&hist([1_000_000 * nodes as u64]));
        SizePoint {
            nodes,
            latency: l,
            floor: l,
            wall_ns_per_sim_s: cost,
            msgs_per_sim_s: 100.0 * nodes as f64,
        }
    }

    #[test]
    fn the_network_model_ceiling_bounds_what_any_protocol_could_reach() {
        let mut r = report(vec![]);
        // 2e6 msgs per wall s at 2000x: 1000 msgs per simulated s. The model alone moves
        // 1.6e6 a wall s, so those messages allow at most 1600x.
        assert!((r.net_model_ceiling_sim_per_wall() - 1600.0).abs() < 1e-6);
        let by_what = |r: &Report, w: &str| {
            r.targets()
                .into_iter()
                .find(|t| t.what.starts_with(w))
                .unwrap()
        };
        let speed = by_what(&r, "simulated seconds per wall second");
        assert!(speed.met() && !speed.out_of_reach());
        let endpoint = by_what(&r, "delivered messages");
        assert!((endpoint.measured - 2.5).abs() < 1e-9 && endpoint.met());
        // Our figure at 0.8x the model's rate, and a model at only 1.5x Endpoint: the
        // target of 2x is out of reach whatever the protocol costs.
        r.msgs_per_wall_s = 1.28e6;
        r.net_model_msgs_per_wall_s = 1.2e6;
        let endpoint = by_what(&r, "delivered messages");
        assert!(!endpoint.met() && endpoint.out_of_reach());
        let p99 = by_what(&r, "p99");
        // The fixture's p99 is 2.99 ms against a floor of 2.89 ms.
        assert!(p99.met(), "{p99:?}");
        let md = r.markdown();
        assert!(md.contains("## Targets"), "{md}");
        assert!(r
            .summary()
            .contains("target p99 round latency / network floor"));
        r.nodes = 9;
        assert!(!r.markdown().contains("## Targets"));
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let l = LatencyStats::of(&hist(1..=1000));
        assert_eq!((l.count, l.p50, l.p99, l.max), (1000, 500, 990, 1000));
        assert_eq!(LatencyStats::of(&new_histogram()), LatencyStats::default());
    }

    #[test]
    fn the_interval_log_reads_back_with_hdrhistograms_own_parser() {
        let h = hist([5, 10, 1_000_000]);
        let log = interval_log(&[("measured", &h, Duration::from_secs(3))]).unwrap();
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(text.starts_with("#clustersim"), "{text}");
        let hists: Vec<_> = IntervalLogIterator::new(&log)
            .filter_map(|e| match e.unwrap() {
                LogEntry::Interval(h) => Some(h),
                _ => None,
            })
            .collect();
        assert_eq!(hists.len(), 1);
        assert_eq!(hists[0].tag().unwrap().as_str(), "measured");
        assert_eq!(hists[0].duration(), Duration::from_secs(3));
        let bytes = base64_decode(hists[0].encoded_histogram());
        let back: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back.max(), h.max());
    }

    /// Standard base64, to check the log without another dependency.
    fn base64_decode(s: &str) -> Vec<u8> {
        let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = vec![];
        for c in s.bytes().filter(|c| *c != b'=') {
            let v = table.iter().position(|t| *t == c).unwrap() as u32;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
            }
        }
        out
    }

    #[test]
    fn growth_against_n_log_n() {
        let nlogn = |n: f64| n * n.ln();
        // The 3-node point is left out: the target is stated from 5 nodes.
        let r = report(vec![
            point(3, 1.0),
            point(5, 1e6),
            point(65, 1e6 * nlogn(65.0) / nlogn(5.0)),
        ]);
        assert!((r.growth_vs_nlogn().unwrap() - 1.0).abs() < 1e-9);
        // `point` sends 100 n messages per simulated second: the cost per message grew
        // (65 ln 65 / 5 ln 5) / 13 = ln 65 / ln 5, exactly log n.
        assert!((r.per_msg_growth_vs_logn().unwrap() - 1.0).abs() < 1e-9);
        assert!(report(vec![point(5, 1.0)]).growth_vs_nlogn().is_none());
    }

    #[test]
    fn the_report_directory_has_every_file() {
        let dir = std::env::temp_dir().join(format!("clustersim-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let r = report(vec![point(3, 1e6), point(5, 1.5e6), point(9, 3e6)]);
        let lat = hist([2_000_000, 3_000_000]);
        write_report_dir(&dir, &r, &lat, &lat, Duration::from_secs(1)).unwrap();
        for f in [
            "report.md",
            "report.json",
            "latency.hlog",
            "latency-percentiles.svg",
            "scaling.svg",
        ] {
            let body = std::fs::read_to_string(dir.join(f)).unwrap();
            assert!(!body.is_empty(), "{f}");
        }
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.contains("| measured / floor |"), "{md}");
        assert!(md.contains("| 9 |"), "{md}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap())
                .unwrap();
        assert_eq!(json["latency"]["p50"], r.latency.p50);
        let svg = std::fs::read_to_string(dir.join("scaling.svg")).unwrap();
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(svg.trim_end().ends_with("</svg>"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
