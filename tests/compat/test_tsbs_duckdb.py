"""Strata answers every TSBS devops query as DuckDB does, over the same rows.

A deterministic TSBS "cpu-only" dataset (``HOSTS`` hosts with TSBS's ten tags
and ten ``usage_*`` float fields, one row per host every 10 s for ``HOURS``
hours from TSBS's default start, 2016-01-01) is written to a server of its own
in two phases, and the same logical rows go into an in-memory DuckDB table
built from an Arrow table:

1. everything before ``BUFFER_FROM`` (the first three quarters of the time
   span), on a server started with ``--persist-age 200ms``: each part is
   persisted within a fraction of a second, so every hour partition gets several
   files; the phase ends when ``/metrics`` counts every row as persisted;
2. after a restart with thresholds no write can reach (``--persist-age 24h``,
   row, byte and memory limits far above the dataset), the rest of the time
   span, plus "late" rows of some hosts timestamped inside the persisted hours
   (odd offsets, down to the nanosecond). These rows stay in the write buffer.

The test checks that split before comparing anything: the files on disk (some
without the columns that appear later, some with them), no row persisted by the
second server, and ``EXPLAIN`` naming both files and buffer batches, so a query
can never silently read only one side.

Sparse data: each field is absent (NULL) on about 1 row in 128; the field
``usage_extra`` exists only from the middle of the span on and only for every
third host, so early Parquet files lack the column (schema evolution across
files); the tag ``pool`` appears on some hosts two thirds into the span (new
series for those hosts, a column the earlier files lack); some hosts never have
the tag ``service_version`` (NULL tags).

Queries: every TSBS devops query type as TSBS's TimescaleDB generator writes it
(single-groupby 1-1-1, 1-1-12, 1-8-1, 5-1-1, 5-1-12, 5-8-1; cpu-max-all 1 and
8; double-groupby 1, 5 and all; high-cpu 1 and all; lastpoint;
groupby-orderby-limit), each but lastpoint (which has no parameters) with
``DRAWS`` seeded random parameter draws (hosts, and time windows with
microsecond bounds as TSBS prints them); then every row hour by hour, NULL
counts and filters, the sparse column and tag, filters the scan can push down
and prune files by, ``time_bucket``, and queries whose time range spans the
buffer/Parquet boundary (checked with ``EXPLAIN``, as is every TSBS draw whose
window crosses it). TSBS's 8 h and 12 h windows do not fit the dataset; windows
longer than the span minus 30 minutes are shortened to it, so they always cross
the boundary. The same SQL text runs on both engines; every query's ORDER BY
makes its row order total.

Comparison: same column names, column kinds, row count and row order, and equal
values: timestamps exactly, as integer nanoseconds whatever the unit (DuckDB's
``date_trunc`` returns microseconds), NULLs exactly, stored values, minimums,
maximums and counts exactly; only sums and averages (columns named ``mean*`` or
``sum*``) within ``REL_TOL`` relative, as the engines add in different orders.
A mismatch fails with the SQL, the rows only one side has, and the first
differing rows of both sides.

``STRATA_TSBS_HOSTS`` and ``STRATA_TSBS_HOURS`` scale the dataset up (defaults,
and minimums, 1000 and 3: 1.08 million regular rows).
"""

from __future__ import annotations

import collections
import concurrent.futures
import io
import math
import os
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from conftest import HTTP_TIMEOUT_S, Server, running_server, sql

HOSTS = int(os.environ.get("STRATA_TSBS_HOSTS", "1000"))
HOURS = int(os.environ.get("STRATA_TSBS_HOURS", "3"))
assert HOSTS >= 1_000 and HOURS >= 3, "STRATA_TSBS_HOSTS and STRATA_TSBS_HOURS only scale up from 1000 and 3"
DRAWS = 3  # random parameter draws per TSBS query type
SEED = 20160101
REL_TOL = 1e-9

SEC_NS = 10**9
MIN_NS = 60 * SEC_NS
HOUR_NS = 60 * MIN_NS
START_NS = 1_451_606_400 * SEC_NS  # 2016-01-01T00:00:00Z, TSBS's default start
INTERVAL_NS = 10 * SEC_NS
STEPS = HOURS * HOUR_NS // INTERVAL_NS
SPAN_NS = STEPS * INTERVAL_NS
END_NS = START_NS + SPAN_NS
EXTRA_FROM_NS = START_NS + SPAN_NS // 2  # usage_extra appears (every third host)
POOL_FROM_NS = START_NS + SPAN_NS * 2 // 3  # tag pool appears (hosts 7, 57, 107, ...)
BUFFER_FROM_NS = START_NS + SPAN_NS * 3 // 4  # rows from here on stay buffered
MAX_WINDOW_NS = SPAN_NS - 30 * MIN_NS  # caps TSBS's 8 h and 12 h windows

DB = "tsbs"
BODY_LINES = 10_000
PERSIST_TIMEOUT_S = 180.0
QUERY_TIMEOUT_S = 120.0

FIELDS = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
]
EXTRA = "usage_extra"
TAGS = [
    "hostname",
    "region",
    "datacenter",
    "rack",
    "os",
    "arch",
    "team",
    "service",
    "service_version",
    "service_environment",
]
POOL = "pool"
# Strata's column order is by name; the DuckDB table uses the same, so that
# `SELECT *` (high-cpu, lastpoint) has the same columns in the same order.
COLUMNS = sorted([*TAGS, POOL, "time", *FIELDS, EXTRA])

REGIONS = {
    "us-east-1": ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"],
    "us-west-1": ["us-west-1a", "us-west-1b"],
    "us-west-2": ["us-west-2a", "us-west-2b", "us-west-2c"],
    "eu-west-1": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
    "eu-central-1": ["eu-central-1a", "eu-central-1b"],
    "ap-southeast-1": ["ap-southeast-1a", "ap-southeast-1b"],
    "ap-southeast-2": ["ap-southeast-2a", "ap-southeast-2b"],
    "ap-northeast-1": ["ap-northeast-1a", "ap-northeast-1c"],
    "sa-east-1": ["sa-east-1a", "sa-east-1b", "sa-east-1c"],
}


# --- the dataset ----------------------------------------------------------------


def host_tags(h: int) -> dict[str, str]:
    """TSBS's tag values for host ``h``; some hosts lack ``service_version``."""
    r = random.Random(SEED * 7919 + h)
    region = r.choice(sorted(REGIONS))
    tags = {
        "hostname": f"host_{h}",
        "region": region,
        "datacenter": r.choice(REGIONS[region]),
        "rack": str(r.randrange(100)),
        "os": r.choice(["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"]),
        "arch": r.choice(["x64", "x86"]),
        "team": r.choice(["SF", "NYC", "LON", "CHI"]),
        "service": str(r.randrange(20)),
        "service_version": str(r.randrange(2)),
        "service_environment": r.choice(["production", "staging", "test"]),
    }
    if h % 97 == 5:
        del tags["service_version"]
    return tags


def pool_of(h: int, t: int) -> str | None:
    if h % 50 == 7 and t >= POOL_FROM_NS:
        return "blue" if h % 100 == 7 else "green"
    return None


def has_extra(h: int, t: int) -> bool:
    return h % 3 == 0 and t >= EXTRA_FROM_NS


def is_late(h: int) -> bool:
    """Hosts that also send late rows (timestamped inside persisted hours)."""
    return h % 10 == 3


# Field values are k / 100 for k in 0..10000, as in TSBS between 0 and 100.
_VALUES = [k / 100 for k in range(10_001)]
_TEXT = [repr(v) for v in _VALUES]
_BITS = 21  # per field: 7 bits for "absent" (1 in 128), 14 for the value


@dataclass
class Dataset:
    bodies: list[list[bytes]]  # line-protocol bodies of phase 1 and phase 2
    rows: list[int]  # rows of each phase
    table: pa.Table  # every row, columns in COLUMNS order

    @property
    def total(self) -> int:
        return sum(self.rows)


def generate() -> Dataset:
    rng = random.Random(SEED)
    tags = [host_tags(h) for h in range(HOSTS)]
    prefixes = []
    for h in range(HOSTS):
        base = "cpu," + ",".join(f"{k}={v}" for k, v in tags[h].items())
        prefixes.append((base, f"{base},{POOL}={pool_of(h, END_NS)}"))
    fields = [*FIELDS, EXTRA]
    keys = [f"{f}=" for f in fields]

    times: list[int] = []
    hosts: list[int] = []
    pools: list[str | None] = []
    values: list[list[float | None]] = [[] for _ in fields]
    lines: list[list[str]] = [[], []]

    def add(phase: int, h: int, t: int) -> None:
        bits = rng.getrandbits(_BITS * len(fields) + 8)
        n = len(fields) if has_extra(h, t) else len(FIELDS)
        parts = []
        for i in range(n):
            b = (bits >> (_BITS * i)) & 0x1FFFFF
            if b & 127 == 0:
                values[i].append(None)
                continue
            k = (b >> 7) % 10_001
            if i == 0 and bits >> (_BITS * len(fields)) == 0:
                k = 9_000  # exactly 90.0: high-cpu's bound, excluded by `> 90.0`
            values[i].append(_VALUES[k])
            parts.append(keys[i] + _TEXT[k])
        for i in range(n, len(fields)):
            values[i].append(None)
        if not parts:  # a line needs a field
            values[2][-1] = _VALUES[5_000]
            parts.append(keys[2] + _TEXT[5_000])
        pool = pool_of(h, t)
        times.append(t)
        hosts.append(h)
        pools.append(pool)
        lines[phase].append(f"{prefixes[h][pool is not None]} {','.join(parts)} {t}")

    boundary_step = (BUFFER_FROM_NS - START_NS) // INTERVAL_NS
    for step in range(STEPS):
        t = START_NS + step * INTERVAL_NS
        phase = 0 if step < boundary_step else 1
        for h in range(HOSTS):
            add(phase, h, t)
    # Late rows: every 5 minutes of the persisted time, between two regular
    # rows of the host, at nanosecond offsets.
    for step in range(0, boundary_step, 30):
        for h in range(HOSTS):
            if is_late(h):
                add(1, h, START_NS + step * INTERVAL_NS + 5 * SEC_NS + (h * 1_000_003 + step * 7) % SEC_NS)

    host_idx = pa.array(hosts, pa.int32())
    columns: dict[str, pa.Array] = {"time": pa.array(times, pa.timestamp("ns")), POOL: pa.array(pools, pa.string())}
    for tag in TAGS:
        columns[tag] = pa.array([tags[h].get(tag) for h in range(HOSTS)], pa.string()).take(host_idx)
    for i, f in enumerate(fields):
        columns[f] = pa.array(values[i], pa.float64())
    table = pa.table({c: columns[c] for c in COLUMNS})

    bodies = [
        ["\n".join(ls[i : i + BODY_LINES]).encode() for i in range(0, len(ls), BODY_LINES)] for ls in lines
    ]
    return Dataset(bodies=bodies, rows=[len(ls) for ls in lines], table=table)


# --- the server -----------------------------------------------------------------


def post_all(server: Server, bodies: list[bytes]) -> None:
    """Posts the bodies in order, two at a time."""

    def post(body: bytes) -> None:
        r = requests.post(
            server.url + "/api/v3/write_lp",
            params={"db": DB, "precision": "ns"},
            data=body,
            timeout=QUERY_TIMEOUT_S,
        )
        assert r.status_code == 204, f"write: HTTP {r.status_code}: {r.text}"

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(post, bodies))


def metric(server: Server, name: str) -> int | None:
    r = requests.get(server.url + "/metrics", timeout=HTTP_TIMEOUT_S)
    assert r.status_code == 200, r.text
    m = re.search(rf"^{name} (\d+)$", r.text, re.M)
    return int(m.group(1)) if m else None


def wait_persisted(server: Server, rows: int) -> None:
    deadline = time.monotonic() + PERSIST_TIMEOUT_S
    while (seen := metric(server, "strata_persist_rows_total")) != rows:
        assert seen is None or seen < rows, f"strata_persist_rows_total is {seen}, more than the {rows} rows written"
        assert time.monotonic() < deadline, f"{seen} of {rows} rows persisted after {PERSIST_TIMEOUT_S} s"
        time.sleep(0.1)


# A scan of files, or of the last-rows index (the newest row per series of
# every file, read from their sidecars) for latest-row queries.
_SCAN = re.compile(
    r"StrataScan: table=cpu, (?:files=(\d+) of \d+ |newest row per series of (\d+) files )"
    r".*?buffer_batches=(\d+)"
)


def scan_sources(server: Server, q: str) -> tuple[int, int]:
    """(files, buffer batches) the plan of ``q`` reads, summed over its scans."""
    plan = "\n".join(row["plan"] for row in sql(server.url, DB, "EXPLAIN " + q))
    scans = _SCAN.findall(plan)
    assert scans, f"no StrataScan in the plan of {q!r}:\n{plan}"
    return sum(int(f or i) for f, i, _ in scans), sum(int(b) for _, _, b in scans)


@dataclass
class Loaded:
    server: Server
    duck: duckdb.DuckDBPyConnection
    data: Dataset
    files: list[Path] = field(default_factory=list)
    schemas: dict[Path, list[str]] = field(default_factory=dict)
    persisted_by_second_server: int | None = None


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Iterator[Loaded]:
    data = generate()
    data_dir = tmp_path_factory.mktemp("strata-tsbs")

    with running_server(data_dir, "--persist-age", "200ms") as server:
        post_all(server, data.bodies[0])
        wait_persisted(server, data.rows[0])
    files = sorted((data_dir / "objects" / DB / "cpu").rglob("*.parquet"))
    schemas = {p: pq.read_schema(p).names for p in files}

    duck = duckdb.connect()
    duck.register("cpu_arrow", data.table)
    duck.execute("CREATE TABLE cpu AS SELECT * FROM cpu_arrow")
    duck.unregister("cpu_arrow")

    never = ["--persist-age", "24h", "--persist-rows", "1000000000", "--persist-bytes", "64GiB"]
    with running_server(data_dir, *never, "--buffer-memory-limit", "16GiB") as server:
        post_all(server, data.bodies[1])
        out = Loaded(server=server, duck=duck, data=data, files=files, schemas=schemas)
        out.persisted_by_second_server = metric(server, "strata_persist_rows_total")
        yield out
    duck.close()


# --- comparing results ----------------------------------------------------------


def strata_result(server: Server, q: str) -> pa.Table:
    r = requests.get(
        server.url + "/api/v3/query_sql",
        params={"db": DB, "q": q, "format": "parquet"},
        timeout=QUERY_TIMEOUT_S,
    )
    assert r.status_code == 200, f"Strata: HTTP {r.status_code}: {r.text}\nSQL: {q}"
    return pq.read_table(io.BytesIO(r.content))


def kind(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        return kind(t.value_type)
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    return str(t)


def normalized(t: pa.Table) -> pa.Table:
    """Strings plain, timestamps as int64 nanoseconds (UTC), one chunk."""
    cols = []
    for f, c in zip(t.schema, t.columns):
        if pa.types.is_dictionary(f.type):
            c = c.cast(f.type.value_type)
        if kind(c.type) == "string":
            c = c.cast(pa.string())
        elif pa.types.is_timestamp(c.type):
            c = c.cast(pa.timestamp("ns", tz=c.type.tz)).cast(pa.int64())
        cols.append(c)
    return pa.table(cols, names=t.column_names).combine_chunks()


def approximate(column: str) -> bool:
    """Only sums and averages (named ``mean*`` or ``sum*``) may differ by rounding:
    their order of addition is the engine's. Stored values, min and max, counts
    and times must be equal."""
    return column.startswith(("mean", "sum"))


def same(a: Any, b: Any, approx: bool) -> bool:
    if approx and isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    return type(a) is type(b) and a == b


def render(v: Any, is_time: bool) -> str:
    if is_time and isinstance(v, int):
        s, ns = divmod(v, SEC_NS)
        return datetime.fromtimestamp(s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"
    return repr(v)


def differences(got: pa.Table, want: pa.Table) -> str:
    """How Strata's result ``got`` differs from DuckDB's ``want`` (see the module
    doc), or "" when it does not: the rows only one side has, then the first
    rows that differ, value by value."""
    if got.column_names != want.column_names:
        return f"columns: Strata {got.column_names}, DuckDB {want.column_names}"
    kinds = [(kind(a.type), kind(b.type)) for a, b in zip(got.schema, want.schema)]
    if any(a != b for a, b in kinds):
        return f"column kinds (Strata, DuckDB): {dict(zip(got.column_names, kinds))}"
    g, w = normalized(got), normalized(want)
    if g.num_rows == w.num_rows and all(a.equals(b) for a, b in zip(g.columns, w.columns)):
        return ""
    names = g.column_names
    is_time = [k == "timestamp" for k, _ in kinds]
    approx = [approximate(n) for n in names]
    gc = [c.to_pylist() for c in g.columns]
    wc = [c.to_pylist() for c in w.columns]
    out = []
    if g.num_rows != w.num_rows:
        out.append(f"rows: Strata {g.num_rows}, DuckDB {w.num_rows}")

        def key(cols: list[list[Any]], i: int) -> tuple:
            return tuple(f"{c[i]:.9g}" if a and isinstance(c[i], float) else c[i] for c, a in zip(cols, approx))

        gk = collections.Counter(key(gc, i) for i in range(g.num_rows))
        wk = collections.Counter(key(wc, i) for i in range(w.num_rows))
        for side, cols, rows, extra in (("Strata", gc, g.num_rows, gk - wk), ("DuckDB", wc, w.num_rows, wk - gk)):
            only = [i for i in range(rows) if extra[key(cols, i)] > 0][:5]
            out += [f"only in {side}, its row {i}: {row_text(names, cols, i, is_time)}" for i in only]
    shown = 0
    for i in range(min(g.num_rows, w.num_rows)):
        bad = [j for j in range(len(names)) if not same(gc[j][i], wc[j][i], approx[j])]
        if bad:
            values = "; ".join(
                f"{names[j]}: Strata {render(gc[j][i], is_time[j])}, DuckDB {render(wc[j][i], is_time[j])}" for j in bad
            )
            out.append(f"row {i}: {values}")
            out.append(f"  Strata row: {row_text(names, gc, i, is_time)}")
            out.append(f"  DuckDB row: {row_text(names, wc, i, is_time)}")
            shown += 1
            if shown == 3:
                out.append("(further rows not compared)")
                break
    return "\n".join(out)


def row_text(names: list[str], cols: list[list[Any]], i: int, is_time: list[bool]) -> str:
    return "{" + ", ".join(f"{n}: {render(c[i], t)}" for n, c, t in zip(names, cols, is_time)) + "}"


# --- the queries ----------------------------------------------------------------


@dataclass
class Case:
    id: str
    sql: str
    min_rows: int = 1  # guards against two empty answers agreeing
    spans: bool = False  # must read both Parquet files and buffered rows


def lit(ns: int) -> str:
    """A timestamp literal with TSBS's microsecond precision."""
    assert ns % 1_000 == 0, ns
    s, us = divmod(ns // 1_000, 10**6)
    return f"TIMESTAMP '{datetime.fromtimestamp(s, timezone.utc):%Y-%m-%d %H:%M:%S}.{us:06d}'"


class Draw:
    """TSBS's random parameters: hosts, and windows with microsecond bounds."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def window(self, length: int, lo: int = START_NS, hi: int = END_NS) -> tuple[int, int]:
        start = lo + self.rng.randrange((hi - length - lo) // 1_000) * 1_000
        return start, start + length

    def hosts(self, n: int) -> str:
        names = [f"host_{h}" for h in self.rng.sample(range(HOSTS), n)]
        return "(" + " OR ".join(f"hostname = '{name}'" for name in names) + ")"


def crosses(lo: int, hi: int) -> bool:
    """A window [lo, hi) over both persisted and buffered rows."""
    return lo < BUFFER_FROM_NS < hi


def tsbs_window(hours: int) -> int:
    return min(hours * HOUR_NS, MAX_WINDOW_NS)


def aggs(fn: str, prefix: str, fields: list[str]) -> str:
    return ", ".join(f"{fn}({f}) AS {prefix}_{f}" for f in fields)


def slug(where: str) -> str:
    """``pool <> 'blue'`` -> ``pool-ne-blue``, for test ids."""
    for op, word in (("<>", " ne "), ("<", " lt "), (">", " gt "), ("=", " eq ")):
        where = where.replace(op, word)
    return re.sub(r"[^a-z0-9_]+", "-", where.lower()).strip("-")


def tsbs_cases() -> list[Case]:
    d = Draw(SEED)
    cases = []
    for metrics, nhosts, hours in [(1, 1, 1), (1, 1, 12), (1, 8, 1), (5, 1, 1), (5, 1, 12), (5, 8, 1)]:
        for i in range(DRAWS):
            lo, hi = d.window(tsbs_window(hours))
            cases.append(
                Case(
                    f"single-groupby-{metrics}-{nhosts}-{hours}-d{i}",
                    f"SELECT date_trunc('minute', time) AS minute, {aggs('max', 'max', FIELDS[:metrics])} "
                    f"FROM cpu WHERE {d.hosts(nhosts)} AND time >= {lit(lo)} AND time < {lit(hi)} "
                    "GROUP BY minute ORDER BY minute ASC",
                    spans=crosses(lo, hi),
                )
            )
    for nhosts in (1, 8):
        for i in range(DRAWS):
            lo, hi = d.window(tsbs_window(8))
            cases.append(
                Case(
                    f"cpu-max-all-{nhosts}-d{i}",
                    f"SELECT date_trunc('hour', time) AS hour, {aggs('max', 'max', FIELDS)} "
                    f"FROM cpu WHERE {d.hosts(nhosts)} AND time >= {lit(lo)} AND time < {lit(hi)} "
                    "GROUP BY hour ORDER BY hour",
                    spans=crosses(lo, hi),
                )
            )
    for label, metrics in (("1", 1), ("5", 5), ("all", 10)):
        for i in range(DRAWS):
            lo, hi = d.window(tsbs_window(12))
            means = ", ".join(f"mean_{f}" for f in FIELDS[:metrics])
            cases.append(
                Case(
                    f"double-groupby-{label}-d{i}",
                    "WITH cpu_avg AS (SELECT date_trunc('hour', time) AS hour, hostname, "
                    f"{aggs('avg', 'mean', FIELDS[:metrics])} FROM cpu "
                    f"WHERE time >= {lit(lo)} AND time < {lit(hi)} GROUP BY hour, hostname) "
                    f"SELECT hour, hostname, {means} FROM cpu_avg ORDER BY hour, hostname",
                    spans=crosses(lo, hi),
                )
            )
    for label, nhosts in (("1", 1), ("all", 0)):
        for i in range(DRAWS):
            lo, hi = d.window(tsbs_window(12))
            hosts = f" AND {d.hosts(nhosts)}" if nhosts else ""
            cases.append(
                Case(
                    f"high-cpu-{label}-d{i}",
                    f"SELECT * FROM cpu WHERE usage_user > 90.0 AND time >= {lit(lo)} AND time < {lit(hi)}{hosts} "
                    "ORDER BY hostname, time",
                    spans=crosses(lo, hi),
                )
            )
    lastpoint = "SELECT DISTINCT ON (hostname) * FROM cpu ORDER BY hostname, time DESC"
    cases.append(Case("lastpoint", lastpoint, min_rows=HOSTS, spans=True))
    for i in range(DRAWS):
        _, end = d.window(HOUR_NS)
        cases.append(
            Case(
                f"groupby-orderby-limit-d{i}",
                "SELECT date_trunc('minute', time) AS minute, max(usage_user) AS max_usage_user FROM cpu "
                f"WHERE time < {lit(end)} GROUP BY minute ORDER BY minute DESC LIMIT 5",
                min_rows=5,
                spans=crosses(START_NS, end),
            )
        )
    return cases


def boundary_cases() -> list[Case]:
    """Time ranges over both the persisted and the buffered rows."""
    d = Draw(SEED + 1)
    every = ", ".join(f"count({f}) AS n_{f}, sum({f}) AS sum_{f}" for f in [*FIELDS, EXTRA])
    cases = [
        Case("boundary-count", "SELECT count(*) AS n, min(time) AS first, max(time) AS last FROM cpu", spans=True),
        Case(
            "boundary-per-hour",
            f"SELECT date_trunc('hour', time) AS hour, count(*) AS n, {every}, "
            "min(time) AS first, max(time) AS last FROM cpu GROUP BY hour ORDER BY hour",
            min_rows=HOURS,
            spans=True,
        ),
        Case(
            "boundary-per-host",
            "SELECT hostname, count(*) AS n, count(DISTINCT time) AS times, min(time) AS first, max(time) AS last, "
            f"{aggs('min', 'min', FIELDS)}, {aggs('max', 'max', FIELDS)}, avg(usage_idle) AS mean_usage_idle "
            "FROM cpu GROUP BY hostname ORDER BY hostname",
            min_rows=HOSTS,
            spans=True,
        ),
        Case(
            "boundary-lastpoint-window",
            "SELECT hostname, time, usage_user, usage_extra, pool FROM (SELECT hostname, time, usage_user, "
            "usage_extra, pool, row_number() OVER (PARTITION BY hostname ORDER BY time DESC) AS rn FROM cpu "
            f"WHERE time < {lit(BUFFER_FROM_NS + 10 * SEC_NS)}) AS ranked WHERE rn <= 3 ORDER BY hostname, time",
            min_rows=3 * HOSTS,
            spans=True,
        ),
    ]
    for i in range(DRAWS):
        lo, hi = d.window(30 * MIN_NS, BUFFER_FROM_NS - 30 * MIN_NS + 1_000, BUFFER_FROM_NS + 30 * MIN_NS)
        hosts = d.hosts(8)
        cases.append(
            Case(
                f"boundary-single-groupby-5-8-d{i}",
                f"SELECT date_trunc('minute', time) AS minute, {aggs('max', 'max', FIELDS[:5])}, "
                f"avg(usage_user) AS mean_usage_user FROM cpu WHERE {hosts} "
                f"AND time >= {lit(lo)} AND time < {lit(hi)} GROUP BY minute ORDER BY minute",
                spans=True,
            )
        )
        cases.append(
            Case(
                f"boundary-rows-d{i}",
                f"SELECT * FROM cpu WHERE {hosts} AND time >= {lit(lo)} AND time < {lit(hi)} ORDER BY hostname, time",
                spans=True,
            )
        )
    # Bounds exactly on row times, on both sides of the boundary.
    edge_hosts = f"hostname IN ('host_0', 'host_3', 'host_57', 'host_{HOSTS - 1}')"
    for op_lo, op_hi in ((">=", "<="), (">", "<")):
        cases.append(
            Case(
                f"boundary-exact-edges-{'closed' if op_lo == '>=' else 'open'}",
                f"SELECT hostname, time, usage_user, usage_extra FROM cpu WHERE {edge_hosts} "
                f"AND time {op_lo} {lit(BUFFER_FROM_NS - INTERVAL_NS)} "
                f"AND time {op_hi} {lit(BUFFER_FROM_NS + INTERVAL_NS)} "
                "ORDER BY hostname, time",
                spans=op_lo == ">=",
            )
        )
    # Every row, one hour at a time: exact values, NULLs and nanosecond times.
    for hour in range(HOURS):
        lo = START_NS + hour * HOUR_NS
        cases.append(
            Case(
                f"all-rows-hour-{hour}",
                f"SELECT * FROM cpu WHERE time >= {lit(lo)} AND time < {lit(lo + HOUR_NS)} ORDER BY hostname, time",
                min_rows=HOSTS * 360,
                spans=lo + HOUR_NS > BUFFER_FROM_NS > lo,
            )
        )
    return cases


def null_and_sparse_cases() -> list[Case]:
    d = Draw(SEED + 2)
    counts = ", ".join(f"count({c}) AS n_{c}" for c in [*FIELDS, EXTRA, *TAGS, POOL])
    # Hosts with usage_extra and pool, a late host, and one with no service_version.
    sparse_hosts = "(hostname = 'host_57' OR hostname = 'host_3' OR hostname = 'host_6' OR hostname = 'host_5')"
    lo, hi = EXTRA_FROM_NS - 10 * MIN_NS, BUFFER_FROM_NS + 10 * MIN_NS
    cases = [
        Case("nulls-counts", f"SELECT count(*) AS n, {counts} FROM cpu", spans=True),
        Case(
            "nulls-field-is-null",
            "SELECT hostname, time, usage_user, usage_system, usage_extra FROM cpu "
            "WHERE usage_user IS NULL AND usage_system IS NOT NULL ORDER BY hostname, time",
        ),
        Case(
            "nulls-any-field-null-per-hour",
            "SELECT date_trunc('hour', time) AS hour, count(*) AS n FROM cpu WHERE "
            + " OR ".join(f"{f} IS NULL" for f in FIELDS)
            + " GROUP BY hour ORDER BY hour",
        ),
        Case(
            "nulls-tag-groups",
            "SELECT service_version, pool, count(*) AS n, count(usage_user) AS n_user, max(usage_user) AS max_user, "
            "avg(usage_extra) AS mean_extra FROM cpu GROUP BY service_version, pool "
            "ORDER BY service_version NULLS FIRST, pool NULLS FIRST",
        ),
        Case(
            "nulls-tag-is-null",
            "SELECT hostname, count(*) AS n, min(time) AS first FROM cpu WHERE service_version IS NULL "
            "GROUP BY hostname ORDER BY hostname",
        ),
        Case(
            "nulls-coalesce",
            "SELECT hostname, sum(coalesce(usage_user, -1)) AS sum_user, "
            "count(CASE WHEN usage_extra IS NULL THEN 1 END) AS missing_extra "
            "FROM cpu GROUP BY hostname ORDER BY hostname",
            min_rows=HOSTS,
        ),
        Case(
            "sparse-extra-per-hour",
            f"SELECT date_trunc('hour', time) AS hour, count({EXTRA}) AS n, min({EXTRA}) AS lo, max({EXTRA}) AS hi, "
            f"avg({EXTRA}) AS mean FROM cpu GROUP BY hour ORDER BY hour",
            min_rows=HOURS,
            spans=True,
        ),
        Case(
            "sparse-extra-per-minute-across",
            f"SELECT date_trunc('minute', time) AS minute, count({EXTRA}) AS n, max({EXTRA}) AS hi FROM cpu "
            f"WHERE time >= {lit(lo)} AND time < {lit(hi)} GROUP BY minute ORDER BY minute",
            spans=True,
        ),
        Case(
            "sparse-rows-across",
            f"SELECT hostname, pool, service_version, time, usage_user, {EXTRA} FROM cpu WHERE {sparse_hosts} "
            f"AND time >= {lit(lo)} AND time < {lit(hi)} ORDER BY hostname, time",
            spans=True,
        ),
        Case(
            "sparse-extra-filter",
            f"SELECT hostname, time, {EXTRA}, pool FROM cpu WHERE {EXTRA} > 99.5 ORDER BY hostname, time",
        ),
        Case(
            "sparse-pool-per-hour",
            "SELECT pool, date_trunc('hour', time) AS hour, count(*) AS n, count(DISTINCT hostname) AS hosts "
            "FROM cpu GROUP BY pool, hour ORDER BY pool NULLS FIRST, hour",
        ),
        Case(
            "sparse-pool-series",
            "SELECT hostname, pool, count(*) AS n, min(time) AS first, max(time) AS last FROM cpu "
            "WHERE hostname IN ('host_7', 'host_57', 'host_107') GROUP BY hostname, pool "
            "ORDER BY hostname, pool NULLS FIRST",
        ),
        Case(
            "sparse-predicates-per-hour",
            "SELECT date_trunc('hour', time) AS hour, "
            f"count(CASE WHEN {EXTRA} IS NULL THEN 1 END) AS extra_null, "
            "count(CASE WHEN pool IS NULL THEN 1 END) AS pool_null, count(*) AS n FROM cpu GROUP BY hour ORDER BY hour",
            spans=True,
        ),
    ]
    # Filters the scan may push down and prune files by: on a column that early
    # files lack (read as NULL there), and on a tag that is NULL on some rows.
    for where in [
            f"{EXTRA} IS NULL",
            f"{EXTRA} IS NOT NULL",
            "pool IS NULL",
            "pool IS NOT NULL",
            "pool = 'blue'",
            "pool <> 'blue'",
            "NOT (pool = 'green')",
            "pool IN ('blue', 'green')",
            "coalesce(pool, 'none') = 'none'",
            "service_version <> '1'",
            "service_version IS NULL OR pool IS NOT NULL",
            f"hostname = 'host_57' AND pool IS NULL AND {EXTRA} IS NULL",
            f"{EXTRA} < 0.5 OR usage_user IS NULL",
    ]:
        cases.append(
            Case(
                f"filter-{slug(where)}",
                "SELECT date_trunc('hour', time) AS hour, count(*) AS n, count(DISTINCT hostname) AS hosts, "
                f"min(time) AS first, max(time) AS last FROM cpu WHERE {where} GROUP BY hour ORDER BY hour",
            )
        )
    cases.append(
        Case(
            "late-rows-nanoseconds",
            "SELECT hostname, time, usage_user FROM cpu WHERE (hostname = 'host_3' OR hostname = 'host_13') "
            f"AND time >= {lit(START_NS)} AND time < {lit(START_NS + 20 * MIN_NS)} ORDER BY hostname, time",
        )
    )
    for width in ["5 minutes", "7 minutes", "1 hour"]:
        hosts = d.hosts(3)
        cases.append(
            Case(
                f"time-bucket-{width.replace(' ', '-')}",
                f"SELECT time_bucket(INTERVAL '{width}', time) AS bucket, hostname, max(usage_user) AS max_usage_user, "
                f"count(*) AS n FROM cpu WHERE {hosts} GROUP BY bucket, hostname ORDER BY bucket, hostname",
                spans=True,
            )
        )
    return cases


CASES = [*tsbs_cases(), *boundary_cases(), *null_and_sparse_cases()]
XFAIL: dict[str, str] = {}  # case id -> reason, for a known Strata bug


# --- the tests ------------------------------------------------------------------


def test_dataset_is_split_between_files_and_buffer(loaded: Loaded):
    """Phase 1 is in Parquet files, phase 2 only in the buffer, and the files
    differ in schema: some lack the field and the tag that appear later."""
    data = loaded.data
    assert data.table.num_rows == data.total
    assert data.rows[0] > 0 and data.rows[1] > 0, data.rows

    assert loaded.files, "phase 1 wrote no Parquet files"
    with_extra = [EXTRA in names for names in loaded.schemas.values()]
    with_pool = [POOL in names for names in loaded.schemas.values()]
    assert any(with_extra) and not all(with_extra), "want files with and without usage_extra"
    assert any(with_pool) and not all(with_pool), "want files with and without pool"
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in loaded.files) == data.rows[0]

    assert loaded.persisted_by_second_server in (None, 0), "the second server persisted rows"
    assert metric(loaded.server, "strata_persist_rows_total") in (None, 0)
    files, batches = scan_sources(loaded.server, "SELECT * FROM cpu")
    assert files == len(loaded.files) and batches > 0, (files, batches)

    got = sql(loaded.server.url, DB, "SELECT count(*) AS n FROM cpu")
    assert got == [{"n": data.total}]


def test_cases_cover_every_tsbs_query_type():
    ids = {c.id for c in CASES}
    for query_type in [
        "single-groupby-1-1-1", "single-groupby-1-1-12", "single-groupby-1-8-1",
        "single-groupby-5-1-1", "single-groupby-5-1-12", "single-groupby-5-8-1",
        "cpu-max-all-1", "cpu-max-all-8",
        "double-groupby-1", "double-groupby-5", "double-groupby-all",
        "high-cpu-1", "high-cpu-all", "groupby-orderby-limit",
    ]:
        assert sum(i.startswith(query_type + "-d") for i in ids) == DRAWS, query_type
    assert "lastpoint" in ids
    assert len(ids) == len(CASES), "duplicate case ids"


def test_comparison_catches_differences():
    """The comparison itself: DuckDB's microsecond timestamps and plain strings
    equal Strata's nanoseconds and dictionaries, averages may differ in the last
    digits, and nothing else may differ."""
    base = pa.table(
        {
            "minute": pa.array([START_NS, START_NS + MIN_NS], pa.timestamp("ns")),
            "hostname": pa.array(["host_1", "host_2"]).dictionary_encode(),
            "max_usage_user": [1.5, None],
            "mean_usage_user": [1.0, 2.0],
            "n": [1, 2],
        }
    )

    def with_column(name: str, values: pa.Array | list) -> pa.Table:
        i = base.column_names.index(name)
        return base.set_column(i, name, values if isinstance(values, pa.Array) else pa.array(values))

    assert differences(base, base) == ""
    assert differences(base, with_column("minute", base["minute"].cast(pa.timestamp("us")))) == ""
    assert differences(base, with_column("hostname", pa.array(["host_1", "host_2"]))) == ""
    assert differences(base, with_column("mean_usage_user", [1.0 + 1e-12, 2.0])) == ""
    different = {
        "a nanosecond": with_column("minute", pa.array([START_NS + 1, START_NS + MIN_NS], pa.timestamp("ns"))),
        "a string": with_column("hostname", ["host_1", "host_3"]),
        "a stored value by 1 ulp": with_column("max_usage_user", [math.nextafter(1.5, 2.0), None]),
        "NULL vs 0": with_column("max_usage_user", [1.5, 0.0]),
        "an average by 1e-6": with_column("mean_usage_user", [1.0 + 1e-6, 2.0]),
        "a count": with_column("n", [1, 3]),
        "int vs float": with_column("n", [1.0, 2.0]),
        "a missing row": base.slice(0, 1),
        "the row order": base.take([1, 0]),
        "a column name": base.rename_columns(["minute", "hostname", "max_usage_user", "mean_usage_user", "count"]),
    }
    for what, other in different.items():
        assert differences(base, other), f"a difference in {what} went unnoticed"


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=XFAIL[c.id])] if c.id in XFAIL else [])
        for c in CASES
    ],
)
def test_strata_matches_duckdb(loaded: Loaded, case: Case):
    if case.spans:
        files, batches = scan_sources(loaded.server, case.sql)
        assert files > 0 and batches > 0, f"meant to read files and buffer, reads {files} files, {batches} batches"
    got = strata_result(loaded.server, case.sql)
    want = loaded.duck.sql(case.sql).to_arrow_table()
    rows = want.num_rows
    assert rows >= case.min_rows, f"DuckDB returned {rows} rows, fewer than the case expects ({case.min_rows})"
    if problem := differences(got, want):
        pytest.fail(f"Strata and DuckDB differ.\nSQL: {case.sql}\n{problem}", pytrace=False)
