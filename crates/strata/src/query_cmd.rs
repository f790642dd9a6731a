//! `strata query`: sends SQL to a server and prints the answer.

use crate::cli::{OutputFormat, QueryArgs};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;
use std::error::Error;

pub(crate) fn run(args: QueryArgs) -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(query(args))
}

async fn query(args: QueryArgs) -> Result<(), Box<dyn Error>> {
    let wire = match args.format {
        OutputFormat::Table | OutputFormat::Json => "json",
        OutputFormat::Jsonl => "jsonl",
        OutputFormat::Csv => "csv",
        OutputFormat::Pretty => "pretty",
        OutputFormat::Parquet => "parquet",
    };
    let sql = match (&args.sql, &args.file) {
        (Some(sql), _) => sql.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => std::io::read_to_string(std::io::stdin())
            .map_err(|e| format!("reading SQL from standard input: {e}"))?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read SQL file {}: {e}", path.display()))?,
        (None, None) => return Err("give the SQL as an argument or with --file".into()),
    };
    let url = format!("{}/api/v3/query_sql", args.host.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .json(&serde_json::json!({"db": args.db, "q": sql, "format": wire}))
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = resp.status();
    if status.is_success() && args.format == OutputFormat::Parquet {
        use std::io::Write;
        let bytes = resp.bytes().await?;
        std::io::stdout().write_all(&bytes)?;
        return Ok(());
    }
    let text = resp.text().await?;
    if !status.is_success() {
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or(text);
        return Err(format!("server answered {status}: {message}").into());
    }
    if args.format != OutputFormat::Table {
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
        return Ok(());
    }
    let rows: Vec<serde_json::Map<String, Value>> = serde_json::from_str(&text)?;
    println!("{}", render_table(&rows));
    Ok(())
}

/// A table of the rows; column order is that of the first row (the server sends
/// every column, nulls included, in result order).
fn render_table(rows: &[serde_json::Map<String, Value>]) -> String {
    let Some(first) = rows.first() else {
        return "(0 rows)".to_owned();
    };
    let columns: Vec<&String> = first.keys().collect();
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(columns.iter().map(|c| c.as_str()));
    for row in rows {
        table.add_row(columns.iter().map(|c| match row.get(*c) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        }));
    }
    let n = rows.len();
    format!("{table}\n({n} row{})", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::render_table;

    #[test]
    fn table_keeps_column_order_and_blanks_nulls() {
        let rows: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(r#"[{"z":1,"a":null,"s":"x"},{"z":2,"a":true,"s":"y"}]"#).unwrap();
        let out = render_table(&rows);
        let header = out.lines().nth(1).unwrap();
        assert!(header.find('z') < header.find('a'), "{out}");
        assert!(out.ends_with("(2 rows)"), "{out}");
        assert_eq!(render_table(&[]), "(0 rows)");
    }
}
