//! SQL functions Strata adds to DataFusion's.
//!
//! `time_bucket(interval, time)`: the TimescaleDB/DuckDB (and so Arc) bucketing
//! function. Buckets are aligned to 2000-01-03T00:00:00Z, a Monday, as in those
//! systems, so weekly buckets start on Mondays. It is planned as
//! `date_bin(interval, time, TIMESTAMP '2000-01-03T00:00:00')`, keeping every
//! optimisation DataFusion applies to `date_bin`.

use datafusion::arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};

/// Nanoseconds of 2000-01-03T00:00:00Z.
const ORIGIN_NS: i64 = 946_857_600_000_000_000;

#[derive(Debug, PartialEq, Eq, Hash)]
struct TimeBucket {
    signature: Signature,
}

impl ScalarUDFImpl for TimeBucket {
    fn name(&self) -> &str {
        "time_bucket"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [_, time] = arg_types else {
            return plan_err!(
                "time_bucket takes 2 arguments: time_bucket(INTERVAL '1 hour', time)"
            );
        };
        let tz = match time {
            DataType::Timestamp(_, tz) => tz.clone(),
            _ => None,
        };
        Ok(vec![
            DataType::Interval(IntervalUnit::MonthDayNano),
            DataType::Timestamp(TimeUnit::Nanosecond, tz),
        ])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [_, t @ DataType::Timestamp(_, _)] => Ok(t.clone()),
            _ => plan_err!("time_bucket(interval, time) needs a timestamp as its second argument"),
        }
    }

    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let mut args = args.into_iter();
        let (Some(stride), Some(time)) = (args.next(), args.next()) else {
            return plan_err!("time_bucket takes 2 arguments");
        };
        let origin = lit(ScalarValue::TimestampNanosecond(Some(ORIGIN_NS), None));
        Ok(ExprSimplifyResult::Simplified(
            datafusion::functions::datetime::date_bin().call(vec![stride, time, origin]),
        ))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Always rewritten to date_bin by `simplify` before execution.
        plan_err!("time_bucket was not rewritten to date_bin")
    }
}

/// `time_bucket` (see the module docs).
pub(crate) fn time_bucket() -> ScalarUDF {
    ScalarUDF::new_from_impl(TimeBucket {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}
