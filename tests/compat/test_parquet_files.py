"""Strata's Parquet files, read by third-party readers: ``pyarrow`` and ``duckdb``.

A server of its own (``--persist-age 200ms``, so buffered rows go to Parquet
within a fraction of a second) receives a known dataset over
``POST /api/v2/write`` in two phases, each one request, each waited for until
``/metrics`` counts every row as persisted:

1. tables ``cpu`` (tags ``dc``, ``host``, ``region``, absent on some rows; float,
   int, uint, bool and string fields), ``disk`` and ``beat`` (no tags at all),
   over hour partitions on two dates;
2. more ``cpu`` rows, some in hours phase 1 already wrote, with a new field
   ``temp`` and a new tag ``az`` that sorts before every other tag.

Lines are sent shuffled, and several series share timestamps. The files under
``DATA_DIR/objects/<db>/<table>/YYYY-MM-DD/HH/`` must then hold exactly the
written rows with the catalog's types, one file per table, partition and
persist, each file inside its hour, sorted by the series key (the tag columns
in the order the writes first named them, nulls last) then time, LZ4_RAW, tags
dictionary-encoded, with statistics that match the data. pyarrow and duckdb must read the same rows, and Strata's own SQL, now
reading files only, must return them too.
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from conftest import HTTP_TIMEOUT_S, Server, assert_rows, column_kinds, running_server, sql, typed

PERSIST_TIMEOUT_S = 20.0
HOUR_NS = 3_600 * 10**9
SEC_NS = 10**9
DAY0 = 1_704_067_200 * SEC_NS  # 2024-01-01T00:00:00Z

I64_MIN, I64_MAX, U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

# Kind of each column; "tag" columns are strings in the files.
SCHEMAS: dict[str, dict[str, str]] = {
    "cpu": {
        "az": "tag", "dc": "tag", "host": "tag", "region": "tag",
        "usage": "float", "count": "int", "bytes": "uint", "ok": "bool", "msg": "string",
        "temp": "float",
    },
    "disk": {"device": "tag", "host": "tag", "free": "uint", "used": "float"},
    "beat": {"seq": "int", "up": "bool"},
}

ARROW_TYPES = {
    "float": pa.float64(),
    "int": pa.int64(),
    "uint": pa.uint64(),
    "bool": pa.bool_(),
    "string": pa.string(),
}
DUCKDB_TYPES = {
    "tag": "VARCHAR",
    "float": "DOUBLE",
    "int": "BIGINT",
    "uint": "UBIGINT",
    "bool": "BOOLEAN",
    "string": "VARCHAR",
}

Row = dict[str, Any]  # column -> value; "time" in ns since the epoch


def columns_of(table: str) -> list[str]:
    """The table's columns in Strata's schema order (by name, ``time`` among them)."""
    return sorted([*SCHEMAS[table], "time"])


def tags_of(table: str) -> list[str]:
    return [c for c in columns_of(table) if SCHEMAS[table].get(c) == "tag"]


# --- the dataset ----------------------------------------------------------------


def _cpu_phase1() -> list[Row]:
    series = [
        {"dc": "d1", "host": "a", "region": "eu"},
        {"host": "a", "region": "us"},  # dc null
        {"dc": "d1", "host": "B", "region": "eu"},  # "B" < "a" in byte order
        {"dc": "d0", "host": "zeta"},  # region null
        {"dc": "d2", "host": "Zürich", "region": "new york, n=1"},  # escapes in line protocol
        {"host": "a"},  # dc and region null
    ]
    offsets = [
        10 * HOUR_NS,  # 10:00:00 exactly: every series at the same instant
        10 * HOUR_NS + 17 * 60 * SEC_NS + 123_456_789,
        11 * HOUR_NS - 1,  # 10:59:59.999999999, last instant of hour 10
        11 * HOUR_NS,  # first instant of hour 11
        11 * HOUR_NS + 30 * 60 * SEC_NS,
        12 * HOUR_NS + 45 * 60 * SEC_NS + 1,
        24 * HOUR_NS - 1,  # 2024-01-01T23:59:59.999999999
        24 * HOUR_NS + 1,  # 2024-01-02T00:00:00.000000001: next date directory
    ]
    floats = [0.1, -7.25, 1e-300, -1.7976931348623157e308, 21.0, 3.141592653589793]
    ints = [0, -1, I64_MAX, I64_MIN, 42]
    uints = [0, U64_MAX, 1, 2**63, 1000]
    msgs = ['say "hi" \\ ok', "", "ünïcødé ✓", "plain", "a,b=c d"]
    rows: list[Row] = []
    n = 0
    for j, off in enumerate(offsets):
        for i, tags in enumerate(series):
            if j > 0 and (i + j) % 4 == 3:
                continue  # not every series at every instant
            row: Row = {"time": DAY0 + off, **tags, "usage": floats[n % len(floats)] + (n if n % 3 else 0)}
            if n % 5 != 3:
                row["count"] = ints[n % len(ints)]
            if n % 4 != 1:
                row["bytes"] = uints[n % len(uints)]
            if n % 6 != 5:
                row["ok"] = n % 2 == 0
            if n % 2 == 0:
                row["msg"] = msgs[(n // 2) % len(msgs)]
            rows.append(row)
            n += 1
    return rows


def _cpu_phase2() -> list[Row]:
    series = [
        {"az": "z1", "dc": "d1", "host": "a", "region": "eu"},
        {"dc": "d1", "host": "a", "region": "eu"},  # the phase-1 series, az null
        {"az": "z0", "host": "c"},
        {"az": "z1", "host": "B"},
    ]
    offsets = [11 * HOUR_NS + 5 * SEC_NS, 12 * HOUR_NS + 5 * SEC_NS, 13 * HOUR_NS]
    rows = []
    for j, off in enumerate(offsets):
        for i, tags in enumerate(series):
            n = 4 * j + i
            rows.append(
                {
                    "time": DAY0 + off,
                    **tags,
                    "usage": n / 8,
                    "count": -n,
                    "bytes": n * 10**12,
                    "ok": n % 3 == 0,
                    "temp": -40.5 + n,
                }
            )
    return rows


def _disk() -> list[Row]:
    rows = []
    for h in (10, 11, 12):
        for k, (device, host) in enumerate([("sda", "a"), ("sdb", "a"), ("sda", "B"), ("nvme0", "zeta")]):
            row: Row = {"time": DAY0 + h * HOUR_NS + 60 * SEC_NS, "device": device, "used": h + k / 4}
            if (h + k) % 3:
                row["host"] = host
            row["free"] = U64_MAX - h * k if k % 2 else h * k
            rows.append(row)
    return rows


def _beat() -> list[Row]:
    return [
        {"time": DAY0 + h * HOUR_NS + s * SEC_NS, "seq": h * 100 + s, "up": s % 2 == 0}
        for h in (12, 10, 14)
        for s in (59, 0, 30)
    ]


PHASES: list[dict[str, list[Row]]] = [
    {"cpu": _cpu_phase1(), "disk": _disk(), "beat": _beat()},
    {"cpu": _cpu_phase2()},
]


def expected_rows(table: str) -> list[Row]:
    """Every written row of ``table`` over the full final schema (absent = None)."""
    cols = columns_of(table)
    return [{c: r.get(c) for c in cols} for phase in PHASES for r in phase.get(table, [])]


# --- line protocol ----------------------------------------------------------------


def _escape_tag(s: str) -> str:
    return re.sub(r"([,= \\])", r"\\\1", s)


def _field_value(kind: str, v: Any) -> str:
    if kind == "float":
        return repr(float(v))
    if kind == "int":
        return f"{v}i"
    if kind == "uint":
        return f"{v}u"
    if kind == "bool":
        return "true" if v else "false"
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def line(table: str, row: Row) -> str:
    kinds = SCHEMAS[table]
    tags = "".join(f",{c}={_escape_tag(row[c])}" for c in sorted(row) if kinds.get(c) == "tag")
    fields = ",".join(f"{c}={_field_value(kinds[c], row[c])}" for c in sorted(row) if kinds.get(c, "tag") != "tag")
    return f"{table}{tags} {fields} {row['time']}"


# --- server and persistence -------------------------------------------------------


def persisted_rows(server: Server) -> int | None:
    r = requests.get(server.url + "/metrics", timeout=HTTP_TIMEOUT_S)
    assert r.status_code == 200, r.text
    m = re.search(r"^strata_persist_rows_total (\d+)$", r.text, re.M)
    return int(m.group(1)) if m else None


def wait_persisted(server: Server, rows: int) -> None:
    """Polls /metrics until ``strata_persist_rows_total`` reaches ``rows``."""
    deadline = time.monotonic() + PERSIST_TIMEOUT_S
    seen = persisted_rows(server)
    while seen != rows:
        assert seen is None or seen < rows, f"strata_persist_rows_total is {seen}, more than the {rows} rows written"
        assert time.monotonic() < deadline, (
            f"strata_persist_rows_total is {seen} after {PERSIST_TIMEOUT_S} s; {rows} rows were written"
        )
        time.sleep(0.05)
        seen = persisted_rows(server)


@dataclass
class Persisted:
    server: Server
    db: str
    objects: Path
    files: dict[str, list[Path]] = field(default_factory=dict)  # table -> its .parquet files
    phase_of: dict[Path, int] = field(default_factory=dict)  # file -> the phase that wrote it
    # table -> its tags in the order the bodies first named them (the series key)
    series_key: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def persisted(tmp_path_factory) -> Persisted:
    data_dir = tmp_path_factory.mktemp("strata-parquet")
    db = "parquet_files"
    with running_server(data_dir, "--persist-age", "200ms", "--partition-duration", "1h") as server:
        out = Persisted(server=server, db=db, objects=data_dir / "objects" / db)
        rng = random.Random(20240101)
        written = 0
        seen: set[Path] = set()
        for phase, tables in enumerate(PHASES):
            pairs = [(t, r) for t, rows in tables.items() for r in rows]
            rng.shuffle(pairs)
            lines = [line(t, r) for t, r in pairs]
            for t, r in pairs:
                key = out.series_key.setdefault(t, [])
                # `line` writes a row's tags in name order.
                key.extend(c for c in sorted(r) if SCHEMAS[t].get(c) == "tag" and c not in key)
            # One request per phase: it is one WAL record, so each table's rows
            # of the phase are persisted together (one file per partition).
            r = requests.post(
                server.url + "/api/v2/write",
                params={"bucket": db, "precision": "ns"},
                data="\n".join(lines).encode(),
                timeout=HTTP_TIMEOUT_S,
            )
            assert r.status_code == 204, f"phase {phase}: HTTP {r.status_code}: {r.text}"
            written += len(lines)
            wait_persisted(server, written)
            for p in sorted(out.objects.rglob("*.parquet")):
                if p not in seen:
                    seen.add(p)
                    out.phase_of[p] = phase
        for p in sorted(seen):
            out.files.setdefault(p.relative_to(out.objects).parts[0], []).append(p)
        yield out


# --- reading files ----------------------------------------------------------------


def pyarrow_rows(table: pa.Table) -> list[Row]:
    """Rows of an Arrow table, ``time`` as integer ns (no precision lost)."""
    if "time" in table.column_names:
        i = table.column_names.index("time")
        table = table.set_column(i, "time", table.column(i).cast(pa.int64()))
    return table.to_pylist()


def widen(rows: list[Row], table: str) -> list[Row]:
    cols = columns_of(table)
    return [{c: r.get(c) for c in cols} for r in rows]


def canonical(rows: list[Row]) -> list[Row]:
    """Rows in a total order, so that two multisets compare as lists."""
    return sorted(rows, key=lambda r: repr(sorted(typed(r).items())))


def sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def duckdb_rows(con: duckdb.DuckDBPyConnection, source: str) -> list[Row]:
    """``SELECT *`` over a read_parquet(...) source, ``time`` as integer ns."""
    cur = con.execute(f'SELECT * REPLACE (epoch_ns("time") AS "time") FROM {source}')
    names = [d[0] for d in cur.description]
    return [dict(zip(names, values)) for values in cur.fetchall()]


def partition_of(path: Path, objects: Path) -> tuple[str, int]:
    """(table, partition start in ns) from ``<table>/YYYY-MM-DD/HH/<id>.parquet``."""
    parts = path.relative_to(objects).parts
    assert len(parts) == 4, path
    table, day, hour, name = parts
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) and re.fullmatch(r"\d{2}", hour), path
    assert name.endswith(".parquet"), path
    start = datetime.strptime(f"{day}T{hour}", "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)
    return table, int(start.timestamp()) * SEC_NS


def _null_last_key(row: Row, cols: list[str]) -> tuple:
    return tuple((1, "") if row[c] is None else (0, row[c]) for c in cols)


# --- the tests --------------------------------------------------------------------


def test_files_per_partition(persisted: Persisted):
    """Exactly the expected directories: one file per table, hour partition and
    persist, and nothing else (the manifest lives elsewhere)."""
    everything = sorted(p for p in persisted.objects.rglob("*") if p.is_file())
    assert everything == sorted(persisted.phase_of), "files other than .parquet under the database's prefix"

    expected: dict[tuple[str, int], int] = {}
    for phase, tables in enumerate(PHASES):
        for table, rows in tables.items():
            for part in {r["time"] // HOUR_NS * HOUR_NS for r in rows}:
                expected[(table, part)] = expected.get((table, part), 0) + 1
    actual: dict[tuple[str, int], int] = {}
    for p in persisted.phase_of:
        key = partition_of(p, persisted.objects)
        actual[key] = actual.get(key, 0) + 1
    assert actual == expected

    r = requests.get(persisted.server.url + "/metrics", timeout=HTTP_TIMEOUT_S)
    assert re.search(rf"^strata_persist_files_total {len(persisted.phase_of)}$", r.text, re.M), r.text


def test_rows_inside_partition_and_sorted(persisted: Persisted):
    """Each file's rows lie in the hour its path names, and are sorted by the
    series key (tags in the order the writes first named them; nulls last, SQL's
    ASC) and then time, as the file's sorting_columns declare."""
    for table, paths in persisted.files.items():
        for p in paths:
            _, start = partition_of(p, persisted.objects)
            pf = pq.ParquetFile(p)
            names = pf.schema_arrow.names
            tags = [c for c in persisted.series_key.get(table, []) if c in names]
            if table == "cpu":
                # `az` sorts first by name but was created last: it ends the key.
                assert persisted.series_key[table][-1] == "az"
            assert names == sorted(names), f"{p}: columns not in schema order"
            declared = [(names.index(c), False, False) for c in [*tags, "time"]]
            for g in range(pf.metadata.num_row_groups):
                sorting = pf.metadata.row_group(g).sorting_columns
                got = [(s.column_index, s.descending, s.nulls_first) for s in sorting]
                assert got == declared, f"{p} row group {g}: sorting_columns"

            rows = pyarrow_rows(pq.read_table(p))
            assert rows, p
            outside = [r["time"] for r in rows if not start <= r["time"] < start + HOUR_NS]
            assert not outside, f"{p}: times outside its partition [{start}, {start + HOUR_NS}): {outside}"
            keys = [(*_null_last_key(r, tags), r["time"]) for r in rows]
            assert keys == sorted(keys), f"{p}: rows not sorted by {tags} (nulls last) then time"
            assert len(set(keys)) == len(keys), f"{p}: duplicate series and time"


def test_pyarrow_union_equals_written_rows(persisted: Persisted):
    """The union of every file is exactly the written rows: values, NULLs and
    types (tags strings, time timestamp[ns] without zone, int64, uint64,
    double, bool, string); later files carry the column added later, earlier
    ones do not."""
    for table in SCHEMAS:
        paths = persisted.files[table]
        union: list[Row] = []
        for p in paths:
            t = pq.read_table(p)
            for f in t.schema:
                kind = "time" if f.name == "time" else SCHEMAS[table][f.name]
                if kind == "time":
                    assert f.type == pa.timestamp("ns") and not f.nullable, (p, f)
                elif kind == "tag":
                    assert pa.types.is_dictionary(f.type) and f.type.value_type == pa.string(), (p, f)
                else:
                    assert f.type == ARROW_TYPES[kind], (p, f)
            # The Parquet logical types, as any reader sees them without Arrow's schema.
            for c in pq.ParquetFile(p).schema:
                kind = "time" if c.name == "time" else SCHEMAS[table][c.name]
                logical = c.logical_type.to_json()
                if kind == "time":
                    assert (c.physical_type, logical) == (
                        "INT64",
                        '{"Type":"Timestamp","isAdjustedToUTC":false,"timeUnit":"nanoseconds",'
                        '"is_from_converted_type":false,"force_set_converted_type":false}',
                    ), (p, c)
                elif kind in ("tag", "string"):
                    assert (c.physical_type, logical) == ("BYTE_ARRAY", '{"Type":"String"}'), (p, c)
                elif kind == "uint":
                    assert (c.physical_type, logical) == ("INT64", '{"Type":"Int","bitWidth":64,"isSigned":false}'), (p, c)
            union += pyarrow_rows(t)
        assert_rows(canonical(widen(union, table)), canonical(expected_rows(table)))

    cpu = {p: pq.read_schema(p).names for p in persisted.files["cpu"]}
    assert {("temp" in names, "az" in names) for names in cpu.values()} == {(False, False), (True, True)}, cpu
    for p, names in cpu.items():
        assert ("temp" in names) == (persisted.phase_of[p] == 1), p


def test_duckdb_agrees_with_pyarrow(persisted: Persisted):
    """duckdb reads every file (one by one, in file order) as pyarrow does, and
    all of a table's files at once with union_by_name=true as the written rows,
    with SQL types VARCHAR, TIMESTAMP_NS, BIGINT, UBIGINT, DOUBLE, BOOLEAN."""
    con = duckdb.connect()
    for table in SCHEMAS:
        paths = persisted.files[table]
        for p in paths:
            assert_rows(duckdb_rows(con, f"read_parquet({sql_list([p])})"), pyarrow_rows(pq.read_table(p)))

        source = f"read_parquet({sql_list(paths)}, union_by_name = true)"
        described = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        assert described == {
            c: "TIMESTAMP_NS" if c == "time" else DUCKDB_TYPES[SCHEMAS[table][c]] for c in columns_of(table)
        }
        rows = duckdb_rows(con, source)
        assert_rows(canonical(rows), canonical(expected_rows(table)))
        count = con.execute(f"SELECT count(*) FROM {source}").fetchone()
        assert count == (len(expected_rows(table)),)


def test_compression_and_encodings(persisted: Persisted):
    """Every column chunk is LZ4_RAW (pyarrow's name for it is "LZ4"); tag
    columns are dictionary-encoded."""
    for table, paths in persisted.files.items():
        for p in paths:
            md = pq.ParquetFile(p).metadata
            assert md.num_rows > 0 and md.num_row_groups >= 1, p
            for g in range(md.num_row_groups):
                rg = md.row_group(g)
                for j in range(rg.num_columns):
                    c = rg.column(j)
                    assert c.compression == "LZ4", (p, g, c.path_in_schema, c.compression)
                    if SCHEMAS[table].get(c.path_in_schema) == "tag":
                        assert c.has_dictionary_page, (p, g, c.path_in_schema)
                        assert "RLE_DICTIONARY" in c.encodings, (p, g, c.path_in_schema, c.encodings)


def test_statistics_match_data(persisted: Persisted):
    """Every column chunk has statistics (and a page index) whose null count,
    min and max are those of its rows; uint64 min/max use unsigned order."""
    for table, paths in persisted.files.items():
        for p in paths:
            pf = pq.ParquetFile(p)
            for g in range(pf.metadata.num_row_groups):
                rg = pf.metadata.row_group(g)
                rows = pyarrow_rows(pf.read_row_group(g))
                for j in range(rg.num_columns):
                    c = rg.column(j)
                    name = c.path_in_schema
                    where = f"{p} row group {g} column {name}"
                    assert c.is_stats_set, where
                    assert c.has_column_index and c.has_offset_index, where
                    s = c.statistics
                    values = [r[name] for r in rows if r[name] is not None]
                    assert s.null_count == len(rows) - len(values), where
                    assert s.num_values == len(values), where
                    if not values:
                        continue
                    assert s.has_min_max, where
                    # time: the raw int64 ns, as datetime would drop the nanoseconds.
                    lo, hi = (s.min_raw, s.max_raw) if name == "time" else (s.min, s.max)
                    assert typed([lo, hi]) == typed([min(values), max(values)]), where


def test_sql_reads_the_files(persisted: Persisted):
    """Strata's own SQL, now reading only files, returns every written row with
    the catalog's types, also through time and tag predicates (file pruning)."""
    base, db = persisted.server.url, persisted.db

    def rendered(rows: list[Row]) -> list[Row]:
        return [{**r, "time": rfc3339(r["time"])} for r in rows]

    for table in SCHEMAS:
        cols = columns_of(table)
        select = ", ".join(f'"{c}"' for c in cols)
        expected = expected_rows(table)
        assert sql(base, db, f'SELECT count(*) AS n FROM "{table}"') == [{"n": len(expected)}]
        assert_rows(canonical(sql(base, db, f'SELECT {select} FROM "{table}"')), canonical(rendered(expected)))
        assert column_kinds(base, db, table, cols) == {
            c: "time" if c == "time" else ("string" if SCHEMAS[table][c] in ("tag", "string") else SCHEMAS[table][c])
            for c in cols
        }

    cpu = expected_rows("cpu")
    select = ", ".join(f'"{c}"' for c in columns_of("cpu"))
    lo, hi = DAY0 + 11 * HOUR_NS, DAY0 + 12 * HOUR_NS
    cases = {
        f"\"time\" >= '{rfc3339(lo)}' AND \"time\" < '{rfc3339(hi)}'": [r for r in cpu if lo <= r["time"] < hi],
        "\"host\" = 'a'": [r for r in cpu if r["host"] == "a"],
        "\"region\" IS NULL": [r for r in cpu if r["region"] is None],
        "\"temp\" IS NOT NULL": [r for r in cpu if r["temp"] is not None],
        "\"bytes\" > 9223372036854775807": [r for r in cpu if r["bytes"] is not None and r["bytes"] > I64_MAX],
    }
    for where, expected in cases.items():
        assert expected, where
        rows = sql(base, db, f'SELECT {select} FROM "cpu" WHERE {where}')
        assert_rows(canonical(rows), canonical(rendered(expected)))


def rfc3339(ns: int) -> str:
    """Integer ns -> the server's rendering, e.g. ``2024-01-01T10:00:00.000000001Z``."""
    s, frac = divmod(ns, SEC_NS)
    return datetime.fromtimestamp(s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def test_dataset_is_what_the_tests_claim():
    """Guards the dataset itself: at least 3 hours per table with tags, equal
    timestamps across series, NULL tags and fields, floats that are whole."""
    cpu = expected_rows("cpu")
    assert len({r["time"] // HOUR_NS for r in cpu}) >= 3
    assert len({r["time"] // HOUR_NS for r in expected_rows("disk")}) >= 3
    times = [r["time"] for r in cpu]
    assert len(set(times)) < len(times)
    assert any(r["dc"] is None for r in cpu) and any(r["region"] is None for r in cpu)
    assert all(any(r[c] is None for r in cpu) for c in ("count", "bytes", "ok", "msg", "temp", "az"))
    assert any(isinstance(r["usage"], float) and r["usage"].is_integer() for r in cpu)
    assert not any(isinstance(v, float) and not math.isfinite(v) for r in cpu for v in r.values())
