//! The statements a point read answers, recognised from the parsed SQL.
//!
//! The shape, and nothing else:
//!
//! ```sql
//! SELECT * | col [, col ...] FROM table
//! WHERE tag = 'v' [AND tag2 = 'w' ...] [AND time <op> '<timestamp>' ...]
//!       [AND time BETWEEN '<timestamp>' AND '<timestamp>']
//! [ORDER BY time [ASC | DESC]] [LIMIT n]
//! ```
//!
//! with at least one tag equality; `<op>` is one of `=`, `<`, `<=`, `>`, `>=`,
//! either side of the column. Every field of the parsed statement is looked at:
//! the AST structs are destructured without `..`, so a clause this module does
//! not know makes the statement fall back to DataFusion, and a new field in a
//! newer `sqlparser` fails to compile rather than being ignored.
//!
//! Names are normalised as DataFusion does: unquoted identifiers fold ASCII
//! letters to lower case, quoted ones are taken verbatim.

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DataType, Expr, GroupByExpr, Ident, LimitClause, ObjectNamePart, OrderBy,
    OrderByExpr, OrderByKind, OrderByOptions, Query, Select, SelectFlavor, SelectItem, SetExpr,
    Statement, TableFactor, TableWithJoins, TimezoneInfo, TypedString, Value, ValueWithSpan,
    WildcardAdditionalOptions,
};

/// A comparison of the time column with a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeOp {
    /// `time = x`
    Eq,
    /// `time < x`
    Lt,
    /// `time <= x`
    LtEq,
    /// `time > x`
    Gt,
    /// `time >= x`
    GtEq,
}

impl TimeOp {
    fn from_sql(op: &BinaryOperator) -> Option<Self> {
        Some(match op {
            BinaryOperator::Eq => Self::Eq,
            BinaryOperator::Lt => Self::Lt,
            BinaryOperator::LtEq => Self::LtEq,
            BinaryOperator::Gt => Self::Gt,
            BinaryOperator::GtEq => Self::GtEq,
            _ => return None,
        })
    }

    /// The same comparison with its operands swapped (`x < time` is `time > x`).
    fn flipped(self) -> Self {
        match self {
            Self::Eq => Self::Eq,
            Self::Lt => Self::Gt,
            Self::LtEq => Self::GtEq,
            Self::Gt => Self::Lt,
            Self::GtEq => Self::LtEq,
        }
    }
}

/// A statement a point read can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PointQuery {
    /// The table, normalised.
    pub table: String,
    /// Output columns in order; `None` is `*`.
    pub columns: Option<Vec<String>>,
    /// `column = 'value'` conjuncts on non-time columns (checked to be tags
    /// when the table is resolved).
    pub equals: Vec<(String, String)>,
    /// Comparisons of `time` with string literals, cast to the column's type
    /// when the table is resolved.
    pub time: Vec<(TimeOp, String)>,
    /// `ORDER BY time`: `Some(true)` descending, `Some(false)` ascending.
    pub order_desc: Option<bool>,
    /// `LIMIT n`.
    pub limit: Option<usize>,
}

impl TimeOp {
    fn sql(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Lt => "<",
            Self::LtEq => "<=",
            Self::Gt => ">",
            Self::GtEq => ">=",
        }
    }
}

/// The statement as `EXPLAIN` describes it: names as resolved, literals
/// quoted as SQL.
impl std::fmt::Display for PointQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn quoted(s: &str) -> String {
            format!("'{}'", s.replace('\'', "''"))
        }
        let columns = self
            .columns
            .as_ref()
            .map_or_else(|| "*".to_owned(), |c| c.join(", "));
        let conditions: Vec<String> = self
            .equals
            .iter()
            .map(|(c, v)| format!("{c} = {}", quoted(v)))
            .chain(
                self.time
                    .iter()
                    .map(|(op, v)| format!("time {} {}", op.sql(), quoted(v))),
            )
            .collect();
        write!(
            f,
            "PointRead: table={}, columns=[{columns}], filter={}",
            self.table,
            conditions.join(" AND ")
        )?;
        if let Some(desc) = self.order_desc {
            write!(f, ", order=time {}", if desc { "DESC" } else { "ASC" })?;
        }
        if let Some(n) = self.limit {
            write!(f, ", limit={n}")?;
        }
        Ok(())
    }
}

/// How DataFusion names an identifier: unquoted folds ASCII letters to lower
/// case (only those: `ÖRT` stays `Ört`).
fn normalise(ident: &Ident) -> String {
    if ident.quote_style.is_none() {
        ident.value.to_ascii_lowercase()
    } else {
        ident.value.clone()
    }
}

fn column(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(ident) => Some(normalise(ident)),
        _ => None,
    }
}

fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s),
            span: _,
        }) => Some(s),
        _ => None,
    }
}

/// A literal `time` compares with: a string, which DataFusion casts to the
/// column's type, or `TIMESTAMP '...'` (nanoseconds, no time zone), the same
/// cast written out.
fn time_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::TypedString(TypedString {
            data_type: DataType::Timestamp(None | Some(9), TimezoneInfo::None),
            value,
            uses_odbc_syntax: false,
        }) => match &value.value {
            Value::SingleQuotedString(s) => Some(s),
            _ => None,
        },
        other => string_literal(other),
    }
}

impl PointQuery {
    /// The point query `statement` is, if it is one; `None` sends it to
    /// DataFusion.
    pub(crate) fn recognise(statement: &DFStatement) -> Option<Self> {
        let DFStatement::Statement(statement) = statement else {
            return None;
        };
        let Statement::Query(query) = statement.as_ref() else {
            return None;
        };
        let Query {
            with,
            body,
            order_by,
            limit_clause,
            fetch,
            locks,
            for_clause,
            settings,
            format_clause,
            pipe_operators,
        } = query.as_ref();
        if with.is_some()
            || fetch.is_some()
            || !locks.is_empty()
            || for_clause.is_some()
            || settings.is_some()
            || format_clause.is_some()
            || !pipe_operators.is_empty()
        {
            return None;
        }
        let SetExpr::Select(select) = body.as_ref() else {
            return None;
        };
        let mut q = Self::from_select(select)?;
        q.order_desc = match order_by {
            None => None,
            Some(o) => Some(time_order(o)?),
        };
        q.limit = match limit_clause {
            None => None,
            Some(LimitClause::LimitOffset {
                limit: Some(limit),
                offset: None,
                limit_by,
            }) if limit_by.is_empty() => match limit {
                Expr::Value(ValueWithSpan {
                    value: Value::Number(n, false),
                    span: _,
                }) => Some(n.parse().ok()?),
                _ => return None,
            },
            Some(_) => return None,
        };
        Some(q)
    }

    fn from_select(select: &Select) -> Option<Self> {
        let Select {
            select_token: _,
            optimizer_hints,
            distinct,
            select_modifiers,
            top,
            top_before_distinct: _,
            projection,
            exclude,
            into,
            from,
            lateral_views,
            prewhere,
            selection,
            connect_by,
            group_by,
            cluster_by,
            distribute_by,
            sort_by,
            having,
            named_window,
            qualify,
            window_before_qualify: _,
            value_table_mode,
            flavor,
        } = select;
        let plain_group_by =
            matches!(group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
        if !optimizer_hints.is_empty()
            || distinct.is_some()
            || select_modifiers.is_some()
            || top.is_some()
            || exclude.is_some()
            || into.is_some()
            || !lateral_views.is_empty()
            || prewhere.is_some()
            || !connect_by.is_empty()
            || !plain_group_by
            || !cluster_by.is_empty()
            || !distribute_by.is_empty()
            || !sort_by.is_empty()
            || having.is_some()
            || !named_window.is_empty()
            || qualify.is_some()
            || value_table_mode.is_some()
            || !matches!(flavor, SelectFlavor::Standard)
        {
            return None;
        }
        let [TableWithJoins { relation, joins }] = from.as_slice() else {
            return None;
        };
        if !joins.is_empty() {
            return None;
        }
        let table = table_name(relation)?;
        let columns = projected_columns(projection)?;
        let mut q = Self {
            table,
            columns,
            equals: Vec::new(),
            time: Vec::new(),
            order_desc: None,
            limit: None,
        };
        q.conjuncts(selection.as_ref()?)?;
        if q.equals.is_empty() {
            return None;
        }
        Some(q)
    }

    /// Adds the conjuncts of `expr`; `None` if one is not of the shape.
    fn conjuncts(&mut self, expr: &Expr) -> Option<()> {
        match expr {
            Expr::Nested(inner) => self.conjuncts(inner),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                self.conjuncts(left)?;
                self.conjuncts(right)
            }
            Expr::BinaryOp { left, op, right } => {
                let op = TimeOp::from_sql(op)?;
                let (name, value, op) = match (column(left), column(right)) {
                    (Some(c), None) => (c, right, op),
                    (None, Some(c)) => (c, left, op.flipped()),
                    _ => return None,
                };
                if name == strata_model::TIME_COLUMN {
                    self.time.push((op, time_literal(value)?.to_owned()));
                } else if op == TimeOp::Eq {
                    self.equals.push((name, string_literal(value)?.to_owned()));
                } else {
                    return None;
                }
                Some(())
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => {
                if column(expr)? != strata_model::TIME_COLUMN {
                    return None;
                }
                self.time
                    .push((TimeOp::GtEq, time_literal(low)?.to_owned()));
                self.time
                    .push((TimeOp::LtEq, time_literal(high)?.to_owned()));
                Some(())
            }
            _ => None,
        }
    }
}

fn table_name(relation: &TableFactor) -> Option<String> {
    let TableFactor::Table {
        name,
        alias,
        args,
        with_hints,
        version,
        with_ordinality,
        partitions,
        json_path,
        sample,
        index_hints,
    } = relation
    else {
        return None;
    };
    if alias.is_some()
        || args.is_some()
        || !with_hints.is_empty()
        || version.is_some()
        || *with_ordinality
        || !partitions.is_empty()
        || json_path.is_some()
        || sample.is_some()
        || !index_hints.is_empty()
    {
        return None;
    }
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Some(normalise(ident)),
        _ => None,
    }
}

/// `None` for a projection of another shape, `Some(None)` for `*`.
fn projected_columns(projection: &[SelectItem]) -> Option<Option<Vec<String>>> {
    if let [SelectItem::Wildcard(options)] = projection {
        let WildcardAdditionalOptions {
            wildcard_token: _,
            opt_ilike,
            opt_exclude,
            opt_except,
            opt_replace,
            opt_rename,
            opt_alias,
        } = options;
        let plain = opt_ilike.is_none()
            && opt_exclude.is_none()
            && opt_except.is_none()
            && opt_replace.is_none()
            && opt_rename.is_none()
            && opt_alias.is_none();
        return plain.then_some(None);
    }
    let mut columns = Vec::with_capacity(projection.len());
    for item in projection {
        let SelectItem::UnnamedExpr(expr) = item else {
            return None;
        };
        let name = column(expr)?;
        // DataFusion refuses duplicate output names; it reports that.
        if columns.contains(&name) {
            return None;
        }
        columns.push(name);
    }
    (!columns.is_empty()).then_some(Some(columns))
}

/// `ORDER BY time [ASC|DESC] [NULLS ...]`: whether it is descending. `time` is
/// never NULL, so the NULLS option changes nothing.
fn time_order(order_by: &OrderBy) -> Option<bool> {
    let OrderBy { kind, interpolate } = order_by;
    if interpolate.is_some() {
        return None;
    }
    let OrderByKind::Expressions(exprs) = kind else {
        return None;
    };
    let [
        OrderByExpr {
            expr,
            options:
                OrderByOptions {
                    asc,
                    nulls_first: _,
                },
            with_fill: None,
        },
    ] = exprs.as_slice()
    else {
        return None;
    };
    (column(expr)? == strata_model::TIME_COLUMN).then_some(*asc == Some(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recognise(sql: &str) -> Option<PointQuery> {
        let statement = crate::executor::parse_sql(sql).unwrap();
        PointQuery::recognise(&statement)
    }

    #[test]
    fn the_point_shape_is_recognised() {
        let q = recognise(
            "SELECT * FROM cpu WHERE hostname = 'host_1' AND time >= '2016-01-01T00:00:00Z'",
        )
        .unwrap();
        assert_eq!(q.table, "cpu");
        assert_eq!(q.columns, None);
        assert_eq!(q.equals, vec![("hostname".into(), "host_1".into())]);
        assert_eq!(
            q.time,
            vec![(TimeOp::GtEq, "2016-01-01T00:00:00Z".to_owned())]
        );
        assert_eq!((q.order_desc, q.limit), (None, None));

        let q = recognise(
            "select Time, \"Usage\", host FROM \"Cpu\" WHERE ('a' = host AND (region = 'eu')) \
             AND '2020-01-01' > time AND time BETWEEN '2019-01-01' AND '2021-01-01' \
             ORDER BY time DESC LIMIT 10",
        )
        .unwrap();
        assert_eq!(q.table, "Cpu");
        let folded = recognise("SELECT * FROM ÖRT WHERE Höst = 'a'").unwrap();
        assert_eq!(
            (folded.table.as_str(), folded.equals[0].0.as_str()),
            ("Ört", "höst")
        );
        assert_eq!(
            q.columns,
            Some(vec!["time".into(), "Usage".into(), "host".into()])
        );
        assert_eq!(
            q.equals,
            vec![("host".into(), "a".into()), ("region".into(), "eu".into())]
        );
        assert_eq!(
            q.time,
            vec![
                (TimeOp::Lt, "2020-01-01".to_owned()),
                (TimeOp::GtEq, "2019-01-01".to_owned()),
                (TimeOp::LtEq, "2021-01-01".to_owned()),
            ]
        );
        assert_eq!((q.order_desc, q.limit), (Some(true), Some(10)));
        let q = recognise(
            "SELECT * FROM cpu WHERE host = 'a' AND time >= TIMESTAMP '2016-01-12 12:46:30' \
             AND time < TIMESTAMP(9) '2016-01-13' ORDER BY time",
        )
        .unwrap();
        assert_eq!(
            q.time,
            vec![
                (TimeOp::GtEq, "2016-01-12 12:46:30".to_owned()),
                (TimeOp::Lt, "2016-01-13".to_owned())
            ]
        );
        assert_eq!(q.order_desc, Some(false));
    }

    #[test]
    fn every_other_shape_goes_to_datafusion() {
        for sql in [
            // No tag equality, or not only conjunctions of the shape.
            "SELECT * FROM cpu WHERE time >= '2016-01-01'",
            "SELECT * FROM cpu",
            "SELECT * FROM cpu WHERE host = 'a' OR host = 'b'",
            "SELECT * FROM cpu WHERE NOT host = 'a'",
            "SELECT * FROM cpu WHERE host != 'a'",
            "SELECT * FROM cpu WHERE host > 'a'",
            "SELECT * FROM cpu WHERE host = 'a' AND usage > 1",
            "SELECT * FROM cpu WHERE host = 'a' AND time > now()",
            "SELECT * FROM cpu WHERE host = 'a' AND time > TIMESTAMP(3) '2020-01-01'",
            "SELECT * FROM cpu WHERE host = 'a' AND time > TIMESTAMPTZ '2020-01-01'",
            "SELECT * FROM cpu WHERE host = 'a' AND time > DATE '2020-01-01'",
            "SELECT * FROM cpu WHERE host = TIMESTAMP '2020-01-01'",
            "SELECT * FROM cpu WHERE host = 'a' AND time NOT BETWEEN '1' AND '2'",
            "SELECT * FROM cpu WHERE host = 'a' AND region IS NULL",
            "SELECT * FROM cpu WHERE host = 1",
            "SELECT * FROM cpu WHERE host = region",
            "SELECT * FROM cpu WHERE host IN ('a')",
            "SELECT * FROM cpu WHERE cpu.host = 'a'",
            // Other projections.
            "SELECT count(*) FROM cpu WHERE host = 'a'",
            "SELECT host AS h FROM cpu WHERE host = 'a'",
            "SELECT host, host FROM cpu WHERE host = 'a'",
            "SELECT * EXCLUDE (host) FROM cpu WHERE host = 'a'",
            "SELECT DISTINCT * FROM cpu WHERE host = 'a'",
            "SELECT usage + 1 FROM cpu WHERE host = 'a'",
            // Other clauses.
            "SELECT * FROM cpu WHERE host = 'a' ORDER BY usage",
            "SELECT * FROM cpu WHERE host = 'a' ORDER BY time, host",
            "SELECT * FROM cpu WHERE host = 'a' LIMIT 5 OFFSET 1",
            "SELECT * FROM cpu WHERE host = 'a' LIMIT -1",
            "SELECT * FROM cpu WHERE host = 'a' GROUP BY host",
            "SELECT * FROM cpu c WHERE host = 'a'",
            "SELECT * FROM db.cpu WHERE host = 'a'",
            "SELECT * FROM cpu, mem WHERE host = 'a'",
            "SELECT * FROM cpu JOIN mem USING (host) WHERE host = 'a'",
            "WITH c AS (SELECT 1) SELECT * FROM cpu WHERE host = 'a'",
            "SELECT * FROM cpu WHERE host = 'a' UNION ALL SELECT * FROM cpu WHERE host = 'a'",
            "EXPLAIN SELECT * FROM cpu WHERE host = 'a'",
            "SELECT * FROM (SELECT * FROM cpu) WHERE host = 'a'",
        ] {
            assert_eq!(recognise(sql), None, "{sql}");
        }
    }
}
