//! Query parameters: values for `$name` (or `$1`) placeholders, taken from JSON.
//!
//! A JSON object binds named placeholders (`{"host": "a"}` binds `$host`; a key
//! may also be written with its `$`), a JSON array binds positional ones
//! (`["a", 3]` binds `$1`, `$2`). Values become DataFusion `ScalarValue`s and are
//! bound into the logical plan after parsing: they are never spliced into the SQL
//! text, so a value cannot change the statement.
//!
//! | JSON | SQL type |
//! | --- | --- |
//! | string | `Utf8` |
//! | integer | `Int64` (`UInt64` above `i64::MAX`) |
//! | other number | `Float64` |
//! | `true`/`false` | `Boolean` |
//! | `null` | `NULL` (typed by the placeholder's context) |
//!
//! Arrays and objects as values are refused.

use datafusion::common::{ParamValues, ScalarValue};
use serde_json::Value;
use std::collections::HashMap;
use thiserror::Error;

/// Why query parameters were refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// The parameters are not valid JSON.
    #[error("params is not valid JSON ({0}); send an object such as {{\"host\": \"a\", \"n\": 3}}")]
    NotJson(String),
    /// The parameters are JSON but neither an object nor an array.
    #[error(
        "params must be a JSON object of placeholder names to values (or an array for $1, $2, ...), not {0}"
    )]
    Shape(&'static str),
    /// A placeholder name is empty or has characters a placeholder cannot have.
    #[error("invalid parameter name {0:?}: use letters, digits and _ (the placeholder is $name)")]
    Name(String),
    /// A value is an array or an object.
    #[error("parameter {name:?} is {kind}; a value must be a string, number, boolean or null")]
    Value {
        /// The parameter (name, or `$N` for a positional one).
        name: String,
        /// The JSON kind received.
        kind: &'static str,
    },
}

/// Values for a query's placeholders.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryParams {
    /// `$name` placeholders, keyed by name without the `$`.
    Named(HashMap<String, ScalarValue>),
    /// `$1`, `$2`, ... placeholders, in order.
    Positional(Vec<ScalarValue>),
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn scalar(name: &str, v: &Value) -> Result<ScalarValue, ParamsError> {
    Ok(match v {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int64(Some(i))
            } else if let Some(u) = n.as_u64() {
                ScalarValue::UInt64(Some(u))
            } else {
                ScalarValue::Float64(n.as_f64())
            }
        }
        Value::Array(_) | Value::Object(_) => {
            return Err(ParamsError::Value {
                name: name.to_owned(),
                kind: kind(v),
            });
        }
    })
}

impl QueryParams {
    /// Parameters from JSON text (as sent in the `params` query parameter).
    pub fn parse(text: &str) -> Result<Self, ParamsError> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| ParamsError::NotJson(e.to_string()))?;
        Self::from_json(&v)
    }

    /// Parameters from a JSON object (named) or array (positional).
    pub fn from_json(v: &Value) -> Result<Self, ParamsError> {
        match v {
            Value::Object(map) => {
                let mut out = HashMap::with_capacity(map.len());
                for (key, value) in map {
                    let name = key.strip_prefix('$').unwrap_or(key);
                    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        return Err(ParamsError::Name(key.clone()));
                    }
                    out.insert(name.to_owned(), scalar(key, value)?);
                }
                Ok(Self::Named(out))
            }
            Value::Array(values) => values
                .iter()
                .enumerate()
                .map(|(i, value)| scalar(&format!("${}", i + 1), value))
                .collect::<Result<_, _>>()
                .map(Self::Positional),
            other => Err(ParamsError::Shape(kind(other))),
        }
    }

    /// Whether no value is given.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Named(m) => m.is_empty(),
            Self::Positional(v) => v.is_empty(),
        }
    }
}

impl From<QueryParams> for ParamValues {
    fn from(p: QueryParams) -> Self {
        match p {
            QueryParams::Named(m) => m.into(),
            QueryParams::Positional(v) => v.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_become_scalars() {
        let p = QueryParams::parse(
            r#"{"host":"a'b","$n":3,"f":1.5,"ok":true,"z":null,"big":18446744073709551615}"#,
        )
        .unwrap();
        let QueryParams::Named(m) = p else {
            panic!("named expected")
        };
        assert_eq!(m["host"], ScalarValue::Utf8(Some("a'b".into())));
        assert_eq!(m["n"], ScalarValue::Int64(Some(3)));
        assert_eq!(m["f"], ScalarValue::Float64(Some(1.5)));
        assert_eq!(m["ok"], ScalarValue::Boolean(Some(true)));
        assert_eq!(m["z"], ScalarValue::Null);
        assert_eq!(m["big"], ScalarValue::UInt64(Some(u64::MAX)));
        assert_eq!(
            QueryParams::parse(r#"["a", 2]"#).unwrap(),
            QueryParams::Positional(vec![
                ScalarValue::Utf8(Some("a".into())),
                ScalarValue::Int64(Some(2))
            ])
        );
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(matches!(
            QueryParams::parse("{"),
            Err(ParamsError::NotJson(_))
        ));
        assert!(matches!(
            QueryParams::parse("3"),
            Err(ParamsError::Shape(_))
        ));
        assert!(matches!(
            QueryParams::parse(r#"{"a b": 1}"#),
            Err(ParamsError::Name(_))
        ));
        let e = QueryParams::parse(r#"{"h": [1]}"#).unwrap_err();
        assert!(e.to_string().contains("\"h\" is an array"), "{e}");
    }
}
