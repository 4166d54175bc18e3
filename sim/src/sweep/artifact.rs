//! Failure artifacts: the JSON file a failing or timed-out seed leaves behind, holding
//! everything needed to rerun it exactly (scenario, seed, mutant and the fault plan itself,
//! not a way to regenerate it), what broke, and the trace hash the rerun must reproduce.
//!
//! A timeout's artifact names [`super::TIMEOUT_CHECKER`] as its checker, with a `null`
//! trace hash (the run never finished): replaying it shows whether the seed still runs
//! past the limit.
//!
//! An artifact is written whole or not at all: to a temporary file in the same directory,
//! then renamed over the final name, so a sweep killed mid-write never leaves half a file.

use super::{SeedOutcome, PANIC_CHECKER, TIMEOUT_CHECKER};
use crate::check::Violation;
use crate::fault::{Fault, FaultPlan};
use crate::scenario::Scenario;
use crate::trace::hash_hex;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The artifact format's version; a reader refuses any other.
pub const ARTIFACT_VERSION: u32 = 1;

/// The fault plan as an artifact stores it: the faults, nothing derived.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArtifactPlan {
    pub faults: Vec<Fault>,
}

/// A failing seed, replayable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    pub version: u32,
    pub scenario: String,
    pub seed: u64,
    pub mutant: Option<String>,
    pub fault_plan: ArtifactPlan,
    /// The guarantee that broke (the first one, if several did).
    pub checker: String,
    pub violation: Violation,
    /// The trace hash as `hash_hex` prints it; `null` when the run never finished.
    pub trace_hash: Option<String>,
}

impl Artifact {
    /// The artifact of a failed or timed-out seed.
    pub fn from_outcome(o: &SeedOutcome) -> Result<Artifact, String> {
        let v = o.verdict.finding().ok_or_else(|| {
            format!(
                "{} seed {} neither failed nor timed out: there is no artifact to write",
                o.scenario, o.seed
            )
        })?;
        Ok(Artifact::new(o, v))
    }

    /// Whether this artifact records a timeout rather than a checker's failure.
    pub fn is_timeout(&self) -> bool {
        self.checker == TIMEOUT_CHECKER
    }

    /// Checks the artifact against the scenario it names: the mutant exists, the checker
    /// is one the scenario applies (or a panic or timeout), and the plan fits the world.
    /// The error is one line, without the file's name.
    pub fn check_against(&self, scenario: &dyn Scenario) -> Result<(), String> {
        crate::scenario::check_mutant(scenario, self.mutant.as_deref())?;
        let known = scenario.checkers();
        if !known.contains(&self.checker.as_str())
            && self.checker != PANIC_CHECKER
            && self.checker != TIMEOUT_CHECKER
        {
            return Err(format!(
                "unknown checker '{}' for scenario '{}' (known: {}, and {PANIC_CHECKER} and \
                 {TIMEOUT_CHECKER})",
                self.checker,
                scenario.name(),
                known.join(", ")
            ));
        }
        let plan = self.plan();
        plan.validate(scenario.world().nodes)?;
        // Times are simulated milliseconds; a window whose end does not fit in nanoseconds
        // is a corrupted file, not a plan.
        const MAX_MS: u64 = u64::MAX / 1_000_000;
        if let Some((i, f)) = plan.faults.iter().enumerate().find(|(_, f)| {
            f.at_ms()
                .checked_add(f.duration_ms().unwrap_or(0))
                .is_none_or(|end| end > MAX_MS)
        }) {
            return Err(format!(
                "fault {i} ({f}) ends past the end of simulated time"
            ));
        }
        Ok(())
    }

    /// The artifact of a failed seed, naming `violation` as the failure.
    pub fn new(o: &SeedOutcome, violation: Violation) -> Artifact {
        Artifact {
            version: ARTIFACT_VERSION,
            scenario: o.scenario.clone(),
            seed: o.seed,
            mutant: o.mutant.clone(),
            fault_plan: ArtifactPlan {
                faults: o.plan.faults.clone(),
            },
            checker: violation.checker.clone(),
            violation,
            trace_hash: o.trace_hash.map(hash_hex),
        }
    }

    /// The plan to replay: exactly the artifact's faults.
    pub fn plan(&self) -> FaultPlan {
        let mut kinds: Vec<_> = self.fault_plan.faults.iter().map(|f| f.kind()).collect();
        kinds.sort();
        kinds.dedup();
        FaultPlan {
            faults: self.fault_plan.faults.clone(),
            enabled: kinds,
        }
    }

    /// The file name a sweep gives this artifact: scenario, seed and mutant, so that two
    /// sweeps of the same seed overwrite rather than pile up.
    pub fn file_name(&self) -> String {
        match &self.mutant {
            Some(m) => format!("{}-{}-{}.json", self.scenario, self.seed, m),
            None => format!("{}-{}.json", self.scenario, self.seed),
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("an artifact always serializes");
        s.push('\n');
        s
    }

    /// Reads an artifact; the error is one line naming the file and what is wrong with it.
    pub fn load(path: &Path) -> Result<Artifact, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read artifact {}: {e}", path.display()))?;
        let a: Artifact = serde_json::from_str(&text)
            .map_err(|e| format!("malformed artifact {}: {e}", path.display()))?;
        if a.version != ARTIFACT_VERSION {
            return Err(format!(
                "malformed artifact {}: version {} is not the supported version {ARTIFACT_VERSION}",
                path.display(),
                a.version
            ));
        }
        if a.checker != a.violation.checker {
            return Err(format!(
                "malformed artifact {}: checker '{}' differs from the violation's '{}'",
                path.display(),
                a.checker,
                a.violation.checker
            ));
        }
        if let Some(h) = &a.trace_hash {
            if h.len() != 16 || u64::from_str_radix(h, 16).is_err() {
                return Err(format!(
                    "malformed artifact {}: trace_hash '{h}' is not 16 hex digits",
                    path.display()
                ));
            }
        }
        Ok(a)
    }

    /// Writes the artifact into `dir` under [`Artifact::file_name`].
    pub fn write_in(&self, dir: &Path) -> Result<PathBuf, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create artifact directory {}: {e}", dir.display()))?;
        let path = dir.join(self.file_name());
        self.write_to(&path)?;
        Ok(path)
    }

    /// Writes the artifact to `path`, whole or not at all.
    pub fn write_to(&self, path: &Path) -> Result<(), String> {
        write_atomically(path, self.to_json().as_bytes())
    }
}

/// The temporary file beside `path` that [`write_atomically`] writes first.
fn temporary_beside(path: &Path) -> Result<PathBuf, String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| format!("cannot write {}: not a file path", path.display()))?;
    Ok(dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )))
}

/// Checks that [`write_atomically`] can write `path`, by making and removing its temporary
/// file: a long command checks this before it starts, not after.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let tmp = temporary_beside(path)?;
    std::fs::File::create(&tmp)
        .and_then(|_| std::fs::remove_file(&tmp))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = temporary_beside(path)?;
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultKind;

    fn sample() -> Artifact {
        Artifact {
            version: ARTIFACT_VERSION,
            scenario: "demo".into(),
            seed: 6,
            mutant: Some("demo-double-answer".into()),
            fault_plan: ArtifactPlan {
                faults: vec![
                    Fault::Duplicate {
                        at_ms: 2_500,
                        duration_ms: 900,
                        probability: 0.3,
                    },
                    Fault::Crash {
                        at_ms: 4_000,
                        node: 2,
                        restart_after_ms: None,
                    },
                ],
            },
            checker: "answered_once".into(),
            violation: Violation {
                checker: "answered_once".into(),
                event_index: 17,
                t_ns: 123,
                explanation: "twice".into(),
            },
            trace_hash: Some("00112233aabbccdd".into()),
        }
    }

    #[test]
    fn artifacts_round_trip_and_have_the_documented_shape() {
        let dir = std::env::temp_dir().join(format!("clustersim-artifact-{}", std::process::id()));
        let a = sample();
        let path = a.write_in(&dir).unwrap();
        assert_eq!(path.file_name().unwrap(), "demo-6-demo-double-answer.json");
        assert_eq!(Artifact::load(&path).unwrap(), a);
        let v: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "checker",
                "fault_plan",
                "mutant",
                "scenario",
                "seed",
                "trace_hash",
                "version",
                "violation"
            ]
        );
        assert_eq!(v["fault_plan"].as_object().unwrap().len(), 1);
        assert_eq!(
            a.plan().enabled,
            vec![FaultKind::Crash, FaultKind::Duplicate]
        );
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_artifacts_are_one_line_errors() {
        let dir = std::env::temp_dir().join(format!("clustersim-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.json");
        for (text, want) in [
            ("not json", "malformed artifact"),
            ("{\"version\": 1}", "missing field"),
            (
                &sample()
                    .to_json()
                    .replace("\"version\": 1", "\"version\": 9"),
                "version 9",
            ),
            (
                &sample().to_json().replace("00112233aabbccdd", "zz"),
                "trace_hash",
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = Artifact::load(&p).unwrap_err();
            assert!(e.contains(want) && !e.contains('\n'), "{e}");
        }
        let e = Artifact::load(&dir.join("missing.json")).unwrap_err();
        assert!(e.contains("cannot read artifact"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
