//! Timestamp precision as named by the write APIs, and conversion to nanoseconds.

use thiserror::Error;

/// Unit of the timestamps in a write request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Nanoseconds (the default of every InfluxDB API).
    #[default]
    Nanosecond,
    /// Microseconds.
    Microsecond,
    /// Milliseconds.
    Millisecond,
    /// Seconds.
    Second,
    /// Minutes (InfluxDB v1 only).
    Minute,
    /// Hours (InfluxDB v1 only).
    Hour,
    /// Inferred per timestamp from its magnitude, see [`infer_time_unit`].
    Auto,
}

/// A precision string that the API does not know.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid precision {value:?}; expected one of {expected}")]
pub struct PrecisionError {
    value: String,
    expected: &'static str,
}

impl Precision {
    /// InfluxDB v1 `/write?precision=` values: `n`, `ns`, `u`, `us`, `ms`, `s`, `m`, `h`.
    pub fn parse_v1(s: &str) -> Result<Self, PrecisionError> {
        Ok(match s {
            "n" | "ns" => Self::Nanosecond,
            "u" | "us" | "µ" => Self::Microsecond,
            "ms" => Self::Millisecond,
            "s" => Self::Second,
            "m" => Self::Minute,
            "h" => Self::Hour,
            _ => return Err(Self::error(s, "n, u, ms, s, m, h")),
        })
    }

    /// InfluxDB v2 `/api/v2/write?precision=` values: `ns`, `us`, `ms`, `s`.
    pub fn parse_v2(s: &str) -> Result<Self, PrecisionError> {
        Ok(match s {
            "ns" => Self::Nanosecond,
            "us" => Self::Microsecond,
            "ms" => Self::Millisecond,
            "s" => Self::Second,
            _ => return Err(Self::error(s, "ns, us, ms, s")),
        })
    }

    /// InfluxDB v3 `/api/v3/write_lp?precision=` values: `auto`, `ns`, `us`, `ms`, `s`
    /// (also the long forms `nanosecond`, `microsecond`, `millisecond`, `second`).
    pub fn parse_v3(s: &str) -> Result<Self, PrecisionError> {
        Ok(match s {
            "auto" => Self::Auto,
            "ns" | "nanosecond" => Self::Nanosecond,
            "us" | "microsecond" => Self::Microsecond,
            "ms" | "millisecond" => Self::Millisecond,
            "s" | "second" => Self::Second,
            _ => return Err(Self::error(s, "auto, ns, us, ms, s")),
        })
    }

    fn error(s: &str, expected: &'static str) -> PrecisionError {
        PrecisionError {
            value: s.to_owned(),
            expected,
        }
    }

    /// Nanoseconds in one unit; `None` for [`Precision::Auto`].
    pub fn nanos_per_unit(self) -> Option<i64> {
        Some(match self {
            Self::Nanosecond => 1,
            Self::Microsecond => 1_000,
            Self::Millisecond => 1_000_000,
            Self::Second => 1_000_000_000,
            Self::Minute => 60_000_000_000,
            Self::Hour => 3_600_000_000_000,
            Self::Auto => return None,
        })
    }

    /// Converts a timestamp in this precision to nanoseconds since the epoch;
    /// `None` when the result does not fit in an i64.
    pub fn to_nanos(self, value: i64) -> Option<i64> {
        let per = self
            .nanos_per_unit()
            .unwrap_or_else(|| infer_time_unit(value));
        value.checked_mul(per)
    }

    /// The server time in this precision, truncated, expressed in nanoseconds: what a
    /// line without a timestamp gets.
    pub fn now_truncated(self, now_ns: i64) -> i64 {
        match self.nanos_per_unit() {
            Some(per) => now_ns - now_ns.rem_euclid(per),
            None => now_ns,
        }
    }
}

/// Arc's rule for timestamps of unknown unit, by magnitude: below 1e10 seconds,
/// below 1e13 milliseconds, below 1e16 microseconds, otherwise nanoseconds.
/// Returns nanoseconds per unit.
pub fn infer_time_unit(value: i64) -> i64 {
    let v = value.unsigned_abs();
    if v < 10_000_000_000 {
        1_000_000_000
    } else if v < 10_000_000_000_000 {
        1_000_000
    } else if v < 10_000_000_000_000_000 {
        1_000
    } else {
        1
    }
}

/// Wall-clock time in nanoseconds since the Unix epoch.
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_convert() {
        assert_eq!(
            Precision::parse_v1("h").unwrap().to_nanos(1),
            Some(3_600_000_000_000)
        );
        assert_eq!(
            Precision::parse_v2("ms").unwrap().to_nanos(2),
            Some(2_000_000)
        );
        assert!(Precision::parse_v2("m").is_err());
        assert!(Precision::parse_v3("h").is_err());
        assert_eq!(Precision::Second.to_nanos(i64::MAX), None);
        let err = Precision::parse_v1("x").unwrap_err().to_string();
        assert!(err.contains("n, u, ms, s, m, h"), "{err}");
    }

    #[test]
    fn auto_inference_follows_arc() {
        let auto = Precision::Auto;
        assert_eq!(
            auto.to_nanos(1_700_000_000),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            auto.to_nanos(1_700_000_000_000),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            auto.to_nanos(1_700_000_000_000_000),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            auto.to_nanos(1_700_000_000_000_000_000),
            Some(1_700_000_000_000_000_000)
        );
    }

    #[test]
    fn now_truncated() {
        assert_eq!(
            Precision::Second.now_truncated(1_999_999_999),
            1_000_000_000
        );
        assert_eq!(Precision::Nanosecond.now_truncated(7), 7);
    }
}
