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
"""

from __future__ import annotations

import pytest
from arc_client import ArcClient
from arc_client.exceptions import ArcIngestionError

from conftest import assert_rows, column_kinds, sql, ts

T0_US = 1704067200_000000  # 2024-01-01T00:00:00Z in microseconds


class Recorder:
    """Records the requests the client's httpx.Client sends (method, path,
    headers), to prove which endpoint and encoding a call used."""

    def __init__(self, client: ArcClient) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        http = client.write._http._get_client()  # arc_client 0.1.2 internals
        http.event_hooks = {"request": [self._on_request], "response": []}

    def _on_request(self, request) -> None:
        self.requests.append((request.method, request.url.path, {k.lower(): v for k, v in request.headers.items()}))


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


def test_columnar_nulls(strata, db):
    """None in a column is a NULL for that row, and reads back as null."""
    with arc(strata, db) as c:
        c.write.write_columnar(
            "sparse",
            {
                "time": [T0_US, T0_US + 1_000_000, T0_US + 2_000_000],
                "host": ["a", None, "c"],
                "x": [1.5, None, 3.5],
                "y": [None, 7, None],
            },
        )
    rows = sql(strata.url, db, 'SELECT "time", "host", "x", "y" FROM "sparse" ORDER BY "time"')
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
