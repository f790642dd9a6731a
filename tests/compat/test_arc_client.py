"""Arc's Python client (PyPI ``arc-tsdb-client``, module ``arc_client``) against
Strata's ``POST /api/v1/write/msgpack``.

What the client sends (arc_client 0.1.2, ingestion/writer.py and msgpack.py):

- ``write.write_columnar(measurement, columns, database=, compress=, time_unit=)``:
  one MessagePack map ``{"m": name, "columns": {...}}``; ``time`` values are
  converted by the client to microseconds. No tag list is sent, so Strata
  makes string columns tags and every other column a field.
- ``write.write_records([...])``: a MessagePack *array* of row maps
  ``{"m", "t" (microseconds), "fields": {...}, "tags": {...}}``.
- ``write.buffered()``: records merged into one columnar write, missing
  values padded with nil.
- Every request carries ``Content-Type: application/msgpack``,
  ``x-arc-database`` (the client's ``database``, or the call's ``database=``),
  ``Authorization: Bearer <token>`` and, with compression on (the default),
  ``Content-Encoding: gzip``.

The client's ``write_line_protocol`` posts ``text/plain`` (gzip by default) to
``/api/v1/write/line-protocol`` with the same database header; Strata serves
that route with nanosecond timestamps.

Queries (query/executor.py, async_executor.py, models/query.py):

- ``query.query(sql, database=)``: ``POST /api/v1/query`` with the JSON body
  ``{"sql": sql}`` and ``x-arc-database`` (the client's database, ``default``
  unless configured, is always sent); the answer is parsed into
  ``QueryResponse(success, columns, data, row_count, execution_time_ms,
  timestamp, error)``.
- ``query.query_arrow`` (and ``query_pandas``/``query_polars`` on top of it):
  ``POST /api/v1/query/arrow``, same body and header plus ``Accept:
  application/vnd.apache.arrow.stream``, read with ``pyarrow.ipc.open_stream``;
  a JSON content type is read as an error (its ``error`` key).
- ``query.list_databases()`` sends ``SHOW DATABASES``, ``query.show_tables(db)``
  ``SHOW TABLES FROM db``, both through ``query.query``.
- A status other than 2xx raises (``handle_response_error`` reads ``error``),
  which ``query``/``query_arrow`` re-raise as ``ArcQueryError``.
"""

from __future__ import annotations

import asyncio
import json

import pyarrow as pa
import pytest
from arc_client import ArcClient, AsyncArcClient
from arc_client.exceptions import ArcIngestionError, ArcQueryError

from conftest import assert_rows, column_kinds, sql, ts, typed

T0_US = 1704067200_000000  # 2024-01-01T00:00:00Z in microseconds


class Recorder:
    """Records the requests the client's httpx.Client sends (method, path,
    headers), to prove which endpoint and encoding a call used."""

    def __init__(self, client: ArcClient) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.bodies: list[bytes] = []
        http = client.write._http._get_client()  # arc_client 0.1.2 internals
        http.event_hooks = {"request": [self._on_request], "response": []}

    def _on_request(self, request) -> None:
        self.requests.append((request.method, request.url.path, {k.lower(): v for k, v in request.headers.items()}))
        self.bodies.append(request.content)


def arc(strata, database: str, **kw) -> ArcClient:
    return ArcClient(host=strata.host, port=strata.port, token="ignored", database=database, timeout=30, **kw)


def test_columnar_gzip_default(strata, db):
    """write_columnar with the client defaults (gzip on): tags from string
    columns, float/int/bool fields, microsecond timestamps."""
    with arc(strata, db) as c:
        rec = Recorder(c)
        c.write.write_columnar(
            measurement="cpu",
            columns={
                "time": [T0_US, T0_US + 500_000, T0_US + 1_000_001],
                "host": ["server01", "server02", "server01"],
                "region": ["eu", "eu", "us"],
                "usage": [12.5, 99.0, 0.0],
                "count": [1, -2, 9223372036854775807],
                "ok": [True, False, True],
            },
        )
    assert len(rec.requests) == 1
    method, path, headers = rec.requests[0]
    assert (method, path) == ("POST", "/api/v1/write/msgpack")
    assert headers["content-type"] == "application/msgpack"
    assert headers["content-encoding"] == "gzip"
    assert headers["x-arc-database"] == db

    rows = sql(strata.url, db, 'SELECT "time", "host", "region", "usage", "count", "ok" FROM "cpu" ORDER BY "time"')
    assert_rows(
        rows,
        [
            {"time": ts("2024-01-01T00:00:00"), "host": "server01", "region": "eu", "usage": 12.5, "count": 1, "ok": True},
            {"time": ts("2024-01-01T00:00:00.5"), "host": "server02", "region": "eu", "usage": 99.0, "count": -2, "ok": False},
            {
                "time": ts("2024-01-01T00:00:01.000001"),
                "host": "server01",
                "region": "us",
                "usage": 0.0,
                "count": 9223372036854775807,
                "ok": True,
            },
        ],
    )
    assert column_kinds(strata.url, db, "cpu", ["time", "host", "region", "usage", "count", "ok"]) == {
        "time": "time",
        "host": "string",
        "region": "string",
        "usage": "float",
        "count": "int",
        "ok": "bool",
    }


@pytest.mark.parametrize(
    "time_unit, value, expected",
    [
        ("s", 1704067205, "2024-01-01T00:00:05"),
        ("ms", 1704067200123, "2024-01-01T00:00:00.123"),
        ("us", 1704067200123456, "2024-01-01T00:00:00.123456"),
    ],
)
def test_columnar_time_units(strata, db, time_unit, value, expected):
    """The client's time_unit= conversion (to microseconds) lands on the
    right instant."""
    with arc(strata, db) as c:
        c.write.write_columnar("units", {"time": [value], "v": [1.0]}, time_unit=time_unit)
    assert_rows(sql(strata.url, db, 'SELECT "time", "v" FROM "units"'), [{"time": ts(expected), "v": 1.0}])


def test_columnar_uncompressed_database_per_call(strata, db):
    """compression=False sends plain MessagePack (no Content-Encoding); the
    call's database= wins over the client's default database."""
    with arc(strata, "default", compression=False) as c:
        rec = Recorder(c)
        c.write.write_columnar(
            "plain",
            {"time": [T0_US, T0_US + 1_000_000], "host": ["a", "b"], "v": [1.5, 2.5]},
            database=db,
        )
    (_, path, headers), = rec.requests
    assert path == "/api/v1/write/msgpack"
    assert "content-encoding" not in headers
    assert headers["x-arc-database"] == db
    rows = sql(strata.url, db, 'SELECT "time", "host", "v" FROM "plain" ORDER BY "time"')
    assert_rows(
        rows,
        [
            {"time": ts("2024-01-01T00:00:00"), "host": "a", "v": 1.5},
            {"time": ts("2024-01-01T00:00:01"), "host": "b", "v": 2.5},
        ],
    )


SPARSE_ROWS = 'SELECT "time", "host", "x", "y" FROM "sparse" ORDER BY "time"'


def write_sparse(c: ArcClient, db: str) -> None:
    """Three rows of ``sparse`` in ``db``, with NULLs in every column but time."""
    c.write.write_columnar(
        "sparse",
        {
            "time": [T0_US, T0_US + 1_000_000, T0_US + 2_000_000],
            "host": ["a", None, "c"],
            "x": [1.5, None, 3.5],
            "y": [None, 7, None],
        },
        database=db,
    )


def test_columnar_nulls(strata, db):
    """None in a column is a NULL for that row, and reads back as null."""
    with arc(strata, db) as c:
        write_sparse(c, db)
    rows = sql(strata.url, db, SPARSE_ROWS)
    assert_rows(
        rows,
        [
            {"time": ts("2024-01-01T00:00:00"), "host": "a", "x": 1.5, "y": None},
            {"time": ts("2024-01-01T00:00:01"), "host": None, "x": None, "y": 7},
            {"time": ts("2024-01-01T00:00:02"), "host": "c", "x": 3.5, "y": None},
        ],
    )


def test_records_row_format(strata, db):
    """write_records: the row format (array of {m, t, tags, fields}); tags
    and fields are given apart, so a string field stays a field."""
    with arc(strata, db) as c:
        rec = Recorder(c)
        c.write.write_records(
            [
                {
                    "measurement": "rows",
                    "timestamp": T0_US,
                    "tags": {"host": "a", "dc": "x"},
                    "fields": {"v": 1.5, "n": 2, "s": "text", "b": True},
                },
                {
                    "measurement": "rows",
                    "timestamp": T0_US + 1_000_000,
                    "tags": {"host": "b", "dc": "x"},
                    "fields": {"v": 2.5, "n": -3, "s": "more ✓", "b": False},
                },
                {
                    "measurement": "other",
                    "timestamp": T0_US + 2_000_000,
                    "fields": {"only": 1},
                },
            ]
        )
    assert [r[1] for r in rec.requests] == ["/api/v1/write/msgpack"]
    rows = sql(strata.url, db, 'SELECT "time", "host", "dc", "v", "n", "s", "b" FROM "rows" ORDER BY "time"')
    assert_rows(
        rows,
        [
            {"time": ts("2024-01-01T00:00:00"), "host": "a", "dc": "x", "v": 1.5, "n": 2, "s": "text", "b": True},
            {"time": ts("2024-01-01T00:00:01"), "host": "b", "dc": "x", "v": 2.5, "n": -3, "s": "more ✓", "b": False},
        ],
    )
    assert column_kinds(strata.url, db, "rows", ["host", "dc", "v", "n", "s", "b"]) == {
        "host": "string",
        "dc": "string",
        "v": "float",
        "n": "int",
        "s": "string",
        "b": "bool",
    }
    assert_rows(sql(strata.url, db, 'SELECT "time", "only" FROM "other"'), [{"time": ts("2024-01-01T00:00:02"), "only": 1}])


def test_buffered_writer(strata, db):
    """write.buffered(): records with different field sets are merged by the
    client into one columnar write padded with nil."""
    with arc(strata, db) as c:
        rec = Recorder(c)
        with c.write.buffered(batch_size=1000, flush_interval=3600) as buf:
            buf.write({"measurement": "buf", "timestamp": T0_US, "tags": {"host": "a"}, "fields": {"x": 1.0}})
            buf.write({"measurement": "buf", "timestamp": T0_US + 1_000_000, "tags": {"host": "b"}, "fields": {"y": 2}})
            buf.write({"measurement": "buf", "timestamp": T0_US + 2_000_000, "tags": {"host": "c"}, "fields": {"x": 3.0, "y": 4}})
    assert [r[1] for r in rec.requests] == ["/api/v1/write/msgpack"]
    rows = sql(strata.url, db, 'SELECT "time", "host", "x", "y" FROM "buf" ORDER BY "time"')
    assert_rows(
        rows,
        [
            {"time": ts("2024-01-01T00:00:00"), "host": "a", "x": 1.0, "y": None},
            {"time": ts("2024-01-01T00:00:01"), "host": "b", "x": None, "y": 2},
            {"time": ts("2024-01-01T00:00:02"), "host": "c", "x": 3.0, "y": 4},
        ],
    )


def test_health(strata, db):
    """client.health() parses GET /health into its HealthResponse model."""
    with arc(strata, db) as c:
        assert c.health().status == "pass"


def test_type_conflict_raises(strata, db):
    """A column whose type conflicts with the stored one makes the client
    raise ArcIngestionError (the server answered 400); the stored rows are
    unchanged."""
    with arc(strata, db) as c:
        c.write.write_columnar("tc", {"time": [T0_US], "n": [1]})
        with pytest.raises(ArcIngestionError) as err:
            c.write.write_columnar("tc", {"time": [T0_US + 1_000_000], "n": [True]})
        assert "400" in str(err.value)
    assert_rows(sql(strata.url, db, 'SELECT "time", "n" FROM "tc"'), [{"time": ts("2024-01-01T00:00:00"), "n": 1}])


def test_uint64_above_int64_raises(strata, db):
    """An integer above int64's range (MessagePack uint64) is refused, as Arc
    does: the client raises and only the valid row is stored."""
    with arc(strata, db) as c:
        with pytest.raises(ArcIngestionError) as err:
            c.write.write_columnar("big", {"time": [T0_US, T0_US + 1_000_000], "n": [5, 2**63]})
        assert "400" in str(err.value)
    assert_rows(sql(strata.url, db, 'SELECT "time", "n" FROM "big"'), [{"time": ts("2024-01-01T00:00:00"), "n": 5}])


def test_line_protocol_route(strata, db):
    """write_line_protocol goes to /api/v1/write/line-protocol, gzip, with the
    database header, and the rows read back exactly."""
    with arc(strata, db) as c:
        rec = Recorder(c)
        c.write.write_line_protocol(
            [
                "mem,host=a used=1.5,total=8i 1704067200000000000",
                "mem,host=b used=2.5,total=16i 1704067201000000000",
            ]
        )
    method, path, headers = rec.requests[0]
    assert (method, path) == ("POST", "/api/v1/write/line-protocol")
    assert headers["x-arc-database"] == db
    assert_rows(
        sql(strata.url, db, 'SELECT "time", "host", "used", "total" FROM "mem" ORDER BY "time"'),
        [
            {"time": ts("2024-01-01T00:00:00"), "host": "a", "used": 1.5, "total": 8},
            {"time": ts("2024-01-01T00:00:01"), "host": "b", "used": 2.5, "total": 16},
        ],
    )


# --- queries --------------------------------------------------------------


def test_query_json(strata, db):
    """query.query: the JSON shape parsed into QueryResponse; timestamps as
    RFC 3339 with nanoseconds, NULLs as None (never 0)."""
    with arc(strata, db) as c:
        write_sparse(c, db)
        rec = Recorder(c)
        r = c.query.query(SPARSE_ROWS)
    (method, path, headers), = rec.requests
    assert (method, path) == ("POST", "/api/v1/query")
    assert headers["x-arc-database"] == db
    assert json.loads(rec.bodies[0]) == {"sql": SPARSE_ROWS}
    assert r.success is True and r.error is None
    assert r.columns == ["time", "host", "x", "y"]
    assert r.row_count == 3
    assert r.execution_time_ms >= 0.0
    assert r.timestamp and r.timestamp.endswith("Z")
    assert typed(r.data) == typed(
        [
            [ts("2024-01-01T00:00:00"), "a", 1.5, None],
            [ts("2024-01-01T00:00:01"), None, None, 7],
            [ts("2024-01-01T00:00:02"), "c", 3.5, None],
        ]
    )


def test_query_database_table_names(strata, db):
    """``db.table`` reads another database than the client's (whose header
    the client always sends); database= on the call sets the header."""
    with arc(strata, db) as c:
        write_sparse(c, db)
    with arc(strata, "default") as c:
        assert c.query.query(f"SELECT count(*) AS n FROM {db}.sparse").data == [[3]]
        assert c.query.query("SELECT count(*) AS n FROM sparse", database=db).data == [[3]]


def test_query_arrow(strata, db):
    """query.query_arrow: an Arrow IPC stream read by pyarrow; tags as plain
    strings, nanosecond timestamps, NULLs kept."""
    with arc(strata, db) as c:
        write_sparse(c, db)
        rec = Recorder(c)
        table = c.query.query_arrow(SPARSE_ROWS)
    (method, path, headers), = rec.requests
    assert (method, path) == ("POST", "/api/v1/query/arrow")
    assert headers["accept"] == "application/vnd.apache.arrow.stream"
    assert headers["x-arc-database"] == db
    assert table.schema.field("host").type == pa.string()
    assert table.schema.field("x").type == pa.float64()
    assert table.schema.field("y").type == pa.int64()
    assert pa.types.is_timestamp(table.schema.field("time").type)
    assert table.schema.field("time").type.unit == "ns"
    assert table.column("host").to_pylist() == ["a", None, "c"]
    assert table.column("x").to_pylist() == [1.5, None, 3.5]
    assert table.column("y").to_pylist() == [None, 7, None]
    times = table.column("time").cast(pa.int64()).to_pylist()
    assert times == [T0_US * 1000, (T0_US + 1_000_000) * 1000, (T0_US + 2_000_000) * 1000]


def test_query_arrow_large_result(strata, db):
    """A result of many batches reads back whole."""
    with arc(strata, db) as c:
        table = c.query.query_arrow("SELECT value FROM generate_series(1, 200000)")
    assert table.num_rows == 200_000
    assert table.column("value").to_pylist()[-1] == 200_000


def test_query_errors_raise(strata, db):
    """Unknown database (404), bad SQL (400), a write statement (403): the
    client raises ArcQueryError carrying the server's message, and nothing
    was changed."""
    with arc(strata, db) as c:
        write_sparse(c, db)
        # The client's wording of each status (http/base.py), then ours.
        cases = [
            ("SELECT * FROM nope_db.cpu", "Resource not found", "nope_db"),
            ("SELEC 1", "(400)", "SELEC"),
            ("DROP TABLE sparse", "Permission denied", "read-only"),
        ]
        for q, status, text in cases:
            for run in (c.query.query, c.query.query_arrow):
                with pytest.raises(ArcQueryError) as err:
                    run(q)
                assert status in str(err.value) and text in str(err.value), (run, q, str(err.value))
    assert sql_count(strata, db) == 3


def sql_count(strata, db: str) -> int:
    return sql(strata.url, db, 'SELECT count(*) AS n FROM "sparse"')[0]["n"]


def test_list_databases_and_show_tables(strata, db):
    """list_databases (SHOW DATABASES) and show_tables (SHOW TABLES FROM db)."""
    with arc(strata, db) as c:
        write_sparse(c, db)
        c.write.write_columnar("other", {"time": [T0_US], "v": [1.0]})
        assert db in c.query.list_databases()
        r = c.query.show_tables(db)
    assert r.columns == ["database", "table_name"]
    assert r.data == [[db, "other"], [db, "sparse"]]


def test_async_query(strata, db):
    """The async client sends the same requests."""
    with arc(strata, db) as c:
        write_sparse(c, db)

    async def run():
        async with AsyncArcClient(host=strata.host, port=strata.port, token="ignored", database=db, timeout=30) as c:
            r = await c.query.query('SELECT "host" FROM "sparse" WHERE "x" > 2')
            t = await c.query.query_arrow('SELECT count(*) AS n FROM "sparse"')
            return r, t

    r, t = asyncio.run(run())
    assert r.data == [["c"]]
    assert t.column("n").to_pylist() == [3]
