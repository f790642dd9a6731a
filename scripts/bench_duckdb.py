#!/usr/bin/env python3
"""Replays `strata bench query --print-queries` on DuckDB, for comparison.

Reads the JSON lines {"type", "n", "sql"} that `strata bench query
--print-queries` prints (a file, or standard input), runs every query on one
DuckDB connection (a single client) over the Parquet files Strata persisted
for the database, and prints per query type the statistics `strata bench
query` prints: queries, errors, queries/s, latency min/p50/p90/p99/max and
rows per query.

The SQL is the same text Strata ran; only the table name `cpu` after FROM is
replaced by read_parquet('DATA_DIR/objects/DB/cpu/**/*.parquet'). A query's
latency covers running it and producing its whole result in the chosen
`--format`, as `strata bench query --format` does over HTTP:

- `arrow` (default): fetched into Python as an Arrow table, in process; no
  bytes are encoded, so this is DuckDB's time without any serialization.
- `json`, `csv`: written by DuckDB's own writer, `COPY (query) TO FILE (FORMAT
  JSON, ARRAY true)` (an array of objects, like Strata's `format=json`) or
  `(FORMAT CSV, HEADER)`, into a scratch file in `--scratch-dir` (default
  /dev/shm, memory, so no disk write is timed); the file is overwritten by
  each query and removed at the end.

Only persisted rows are in Parquet: let the server persist everything first
(see docs/BENCHMARKS.md), and compare the row count printed at the start with
the server's count(*).

Usage (in the venv $HOME/.cache/strata-venv, which has duckdb and pyarrow):

    strata bench query --db DB --queries 100 --print-queries > queries.jsonl
    python scripts/bench_duckdb.py --data-dir DATA_DIR --db DB queries.jsonl
"""

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time

import duckdb

FROM_TABLE = re.compile(r"\bFROM cpu\b")


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list (what hdrhistogram reports,
    without its 3-significant-digit rounding)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def parse_args():
    p = argparse.ArgumentParser(
        description="Replay `strata bench query --print-queries` output on DuckDB "
        "over a Strata data directory's Parquet files, single client.",
    )
    p.add_argument(
        "queries",
        nargs="?",
        default="-",
        help="file of JSON lines from `strata bench query --print-queries` "
        "(default: standard input)",
    )
    p.add_argument(
        "--data-dir",
        required=True,
        help="the server's --data-dir (Parquet files under DATA_DIR/objects)",
    )
    p.add_argument("--db", required=True, help="the database the queries ran on")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="DuckDB worker threads (default: DuckDB's, one per core)",
    )
    p.add_argument(
        "--no-metadata-cache",
        action="store_true",
        help="leave DuckDB's Parquet metadata cache off (its default); by default "
        "it is turned on, as Strata caches Parquet footers across queries",
    )
    p.add_argument(
        "--format",
        choices=["arrow", "json", "csv"],
        default="arrow",
        help="what each result becomes: an in-process Arrow table (default), or "
        "a JSON array of objects / CSV with a header written by DuckDB's COPY",
    )
    p.add_argument(
        "--scratch-dir",
        default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir(),
        help="directory for the json/csv scratch file (default: /dev/shm when "
        "it exists, so no disk write is timed)",
    )
    p.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object"
    )
    return p.parse_args()


def read_queries(path):
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    queries = []
    with stream:
        for number, line in enumerate(stream, 1):
            line = line.strip()
            if not line:
                continue
            try:
                q = json.loads(line)
                queries.append((q["type"], q["sql"]))
            except (ValueError, KeyError) as e:
                sys.exit(f"{path}:{number}: not a --print-queries line ({e}): {line[:200]}")
    if not queries:
        sys.exit(f"{path}: no queries; pipe in `strata bench query --print-queries`")
    return queries


def runner(args):
    """Returns (run, scratch): run(con, sql) produces the whole result in
    args.format and returns its row count; scratch is the file json/csv
    results are written to (None for arrow)."""
    if args.format == "arrow":
        return (lambda con, sql: con.sql(sql).to_arrow_table().num_rows), None
    options = "FORMAT JSON, ARRAY true" if args.format == "json" else "FORMAT CSV, HEADER"
    scratch = os.path.join(args.scratch_dir, f"strata-bench-duckdb-{os.getpid()}.{args.format}")
    target = scratch.replace("'", "''")

    def run(con, sql):
        # COPY's result is one row holding the number of rows written.
        return con.execute(f"COPY ({sql}) TO '{target}' ({options})").fetchall()[0][0]

    return run, scratch


def main():
    args = parse_args()
    queries = read_queries(args.queries)
    glob = f"{args.data_dir.rstrip('/')}/objects/{args.db}/cpu/**/*.parquet"
    source = "read_parquet('{}')".format(glob.replace("'", "''"))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if not args.no_metadata_cache:
        con.execute("SET parquet_metadata_cache = true")
    if args.threads:
        con.execute(f"SET threads = {int(args.threads)}")
    try:
        total = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    except duckdb.Error as e:
        sys.exit(f"cannot read {glob}: {e}")

    run, scratch = runner(args)
    order = []
    stats = {}
    for qtype, sql in queries:
        if qtype not in stats:
            order.append(qtype)
            stats[qtype] = {"latencies": [], "rows": 0, "errors": 0, "first_error": None, "seconds": 0.0}
        s = stats[qtype]
        text = FROM_TABLE.sub(f"FROM {source}", sql)
        start = time.perf_counter()
        try:
            rows = run(con, text)
        except duckdb.Error as e:
            s["seconds"] += time.perf_counter() - start
            s["errors"] += 1
            s["first_error"] = s["first_error"] or f"{e}"[:300]
            continue
        elapsed = time.perf_counter() - start
        s["seconds"] += elapsed
        s["latencies"].append(elapsed * 1000.0)
        s["rows"] += rows
    if scratch and os.path.exists(scratch):
        os.remove(scratch)

    summary = {
        "duckdb": duckdb.__version__,
        "parquet_rows": total,
        "metadata_cache": not args.no_metadata_cache,
        "format": args.format,
        "types": [],
    }
    for qtype in order:
        s = stats[qtype]
        lat = sorted(s["latencies"])
        ok = len(lat)
        summary["types"].append(
            {
                "name": qtype,
                "queries": ok,
                "errors": s["errors"],
                "qps": ok / s["seconds"] if s["seconds"] > 0 else 0.0,
                "latency_ms": {
                    "min": lat[0] if lat else 0.0,
                    "p50": percentile(lat, 0.50),
                    "p90": percentile(lat, 0.90),
                    "p99": percentile(lat, 0.99),
                    "max": lat[-1] if lat else 0.0,
                },
                "rows": s["rows"],
                "rows_per_query": s["rows"] / max(ok, 1),
                "first_error": s["first_error"],
            }
        )

    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"duckdb {duckdb.__version__} bench: {len(queries):,} queries, 1 client, "
            f"{args.format} results, over {total:,} rows in {glob}"
        )
        print(
            f"\n  {'type':<22} {'queries':>8} {'errors':>6} {'q/s':>8} {'min ms':>9} "
            f"{'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9} {'rows/query':>11}"
        )
        for t in summary["types"]:
            l = t["latency_ms"]
            flag = "  NO ROWS" if t["queries"] and not t["rows"] else ""
            print(
                f"  {t['name']:<22} {t['queries']:>8,} {t['errors']:>6,} {t['qps']:>8.1f} "
                f"{l['min']:>9.2f} {l['p50']:>9.2f} {l['p90']:>9.2f} {l['p99']:>9.2f} "
                f"{l['max']:>9.2f} {t['rows_per_query']:>11.1f}{flag}"
            )
        errors = [t for t in summary["types"] if t["errors"]]
        print()
        if not errors:
            print("  errors    none")
        for t in errors:
            print(f"  errors    {t['name']} x {t['errors']}: {t['first_error']}")
    if any(t["queries"] == 0 for t in summary["types"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
