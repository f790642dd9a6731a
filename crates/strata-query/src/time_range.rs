//! Time bounds extracted from query filters, used to skip data before scanning.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use strata_model::TIME_COLUMN;

/// Inclusive bounds in nanoseconds; `i64::MIN..=i64::MAX` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Smallest time that may match.
    pub min: i64,
    /// Largest time that may match.
    pub max: i64,
}

impl Default for TimeRange {
    fn default() -> Self {
        Self {
            min: i64::MIN,
            max: i64::MAX,
        }
    }
}

fn is_time(e: &Expr) -> bool {
    matches!(e, Expr::Column(c) if c.name == TIME_COLUMN)
}

fn nanos(e: &Expr) -> Option<i64> {
    let Expr::Literal(v, _) = e else { return None };
    match v {
        ScalarValue::TimestampNanosecond(Some(n), _) => Some(*n),
        ScalarValue::TimestampMicrosecond(Some(n), _) => n.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(n), _) => n.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(n), _) => n.checked_mul(1_000_000_000),
        _ => None,
    }
}

impl TimeRange {
    /// The intersection of the bounds every filter imposes (filters are ANDed).
    pub fn from_filters(filters: &[Expr]) -> Self {
        let mut r = TimeRange::default();
        for f in filters {
            r.apply(f);
        }
        r
    }

    /// Narrows the range by what `e` says about time (nothing, for most
    /// expressions).
    fn apply(&mut self, e: &Expr) {
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                if *op == Operator::And {
                    self.apply(left);
                    self.apply(right);
                    return;
                }
                let bound = if is_time(left) {
                    nanos(right).map(|v| (*op, v))
                } else if is_time(right) {
                    nanos(left).zip(op.swap()).map(|(v, op)| (op, v))
                } else {
                    None
                };
                let Some((op, v)) = bound else {
                    return;
                };
                match op {
                    Operator::Gt => self.min = self.min.max(v.saturating_add(1)),
                    Operator::GtEq => self.min = self.min.max(v),
                    Operator::Lt => self.max = self.max.min(v.saturating_sub(1)),
                    Operator::LtEq => self.max = self.max.min(v),
                    Operator::Eq => {
                        self.min = self.min.max(v);
                        self.max = self.max.min(v);
                    }
                    _ => {}
                }
            }
            Expr::Between(b) if !b.negated && is_time(&b.expr) => {
                if let (Some(lo), Some(hi)) = (nanos(&b.low), nanos(&b.high)) {
                    self.min = self.min.max(lo);
                    self.max = self.max.min(hi);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn ts(n: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(Some(n), None))
    }

    #[test]
    fn bounds_from_comparisons() {
        let f = [col("time").gt_eq(ts(10)), ts(20).gt(col("time"))];
        assert_eq!(TimeRange::from_filters(&f), TimeRange { min: 10, max: 19 });
        let f = [col("time")
            .between(ts(5), ts(7))
            .and(col("host").eq(lit("a")))];
        assert_eq!(TimeRange::from_filters(&f), TimeRange { min: 5, max: 7 });
        assert_eq!(
            TimeRange::from_filters(&[col("host").eq(lit("a"))]),
            TimeRange::default(),
            "a tag comparison does not bound time"
        );
        let us = lit(ScalarValue::TimestampMicrosecond(Some(3), None));
        assert_eq!(
            TimeRange::from_filters(&[col("time").eq(us)]),
            TimeRange {
                min: 3000,
                max: 3000
            }
        );
    }
}
