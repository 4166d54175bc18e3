//! Simulated time as every output prints it: seconds with six decimals (`12.345678s`), for
//! points in time and for durations alike, in trace lines, fault plans, verdicts and
//! every trace format, so a time read in one place can be searched for in another.
//!
//! The digits are truncated to the microsecond, never rounded: an event at
//! 12.3456789 s prints as `12.345678s`, the microsecond it happened in.

use std::fmt;

/// Writes `ns` nanoseconds as seconds with six decimals: `12.345678s`.
pub fn write_secs(f: &mut impl fmt::Write, ns: u64) -> fmt::Result {
    let us = ns / 1_000;
    write!(f, "{}.{:06}s", us / 1_000_000, us % 1_000_000)
}

/// A point in simulated time: nanoseconds since the run started.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A length of simulated time, in nanoseconds.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

/// Both types: built from milliseconds, read as nanoseconds, printed as seconds.
macro_rules! sim_time_type {
    ($($t:ident),*) => {$(
        impl $t {
            pub fn from_ms(ms: u64) -> $t {
                $t(ms.saturating_mul(1_000_000))
            }

            pub fn ns(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                pad_secs(f, self.0)
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_secs(f, self.0)
            }
        }
    )*};
}
sim_time_type!(SimTime, SimDuration);

/// [`write_secs`], honouring a width and alignment given to the formatter (`{:>11}`).
fn pad_secs(f: &mut fmt::Formatter<'_>, ns: u64) -> fmt::Result {
    if f.width().is_none() {
        return write_secs(f, ns);
    }
    let mut s = String::with_capacity(24);
    write_secs(&mut s, ns)?;
    f.pad(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_seconds_with_six_truncated_decimals() {
        let cases = [
            (0, "0.000000s"),
            (999, "0.000000s"),
            (1_000, "0.000001s"),
            (5_754_000_000, "5.754000s"),
            (11_883_939_999, "11.883939s"),
            (29_842_722_784, "29.842722s"),
            (u64::MAX, "18446744073.709551s"),
        ];
        for (ns, want) in cases {
            assert_eq!(SimTime(ns).to_string(), want);
            assert_eq!(SimDuration(ns).to_string(), want);
            assert_eq!(format!("{:?}", SimTime(ns)), want);
        }
        assert_eq!(SimDuration::from_ms(250).to_string(), "0.250000s");
        assert_eq!(format!("{:>11}|", SimTime::from_ms(1)), "  0.001000s|");
    }
}
