"""InfluxDB 2.x Python client (PyPI ``influxdb-client``) against Strata's
``POST /api/v2/write``.

Every write goes through ``write_api(write_options=SYNCHRONOUS).write(...)``,
the client's ordinary blocking path: Points, line-protocol strings and dicts,
in ns, ms and s precision, with and without gzip. The bucket is Strata's
database; org and token are sent and ignored.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from conftest import assert_rows, column_kinds, sql, ts


@pytest.fixture
def v2(strata):
    with InfluxDBClient(url=strata.url, token="x", org="o", timeout=30_000) as c:
        yield c


def test_points_ns_all_field_types(strata, db, v2):
    """Point objects with tags and float, int, bool and string fields at
    nanosecond precision. The client writes the whole float 21.0 as bare
    ``21``, which line protocol defines as a float: it must stay a float."""
    p1 = (
        Point("weather")
        .tag("location", "Prague")
        .tag("sensor", "s-1")
        .field("temperature", 21.0)
        .field("humidity", 60)
        .field("raining", False)
        .field("summary", 'cloudy, "mild" \\ windy')
        .time(1704067200123456789, WritePrecision.NS)
    )
    p2 = (
        Point("weather")
        .tag("location", "Brno")
        .tag("sensor", "s 2,=x")
        .field("temperature", 25.3)
        .field("humidity", -5)
        .field("raining", True)
        .field("summary", "sunny ☀")
        .time(1704067201000000001, WritePrecision.NS)
    )
    v2.write_api(write_options=SYNCHRONOUS).write(bucket=db, record=[p1, p2])

    rows = sql(
        strata.url,
        db,
        'SELECT "time", "location", "sensor", "temperature", "humidity", "raining", "summary" '
        'FROM "weather" ORDER BY "time"',
    )
    assert_rows(
        rows,
        [
            {
                "time": ts("2024-01-01T00:00:00.123456789"),
                "location": "Prague",
                "sensor": "s-1",
                "temperature": 21.0,
                "humidity": 60,
                "raining": False,
                "summary": 'cloudy, "mild" \\ windy',
            },
            {
                "time": ts("2024-01-01T00:00:01.000000001"),
                "location": "Brno",
                "sensor": "s 2,=x",
                "temperature": 25.3,
                "humidity": -5,
                "raining": True,
                "summary": "sunny ☀",
            },
        ],
    )
    kinds = column_kinds(
        strata.url, db, "weather", ["time", "location", "sensor", "temperature", "humidity", "raining", "summary"]
    )
    assert kinds == {
        "time": "time",
        "location": "string",
        "sensor": "string",
        "temperature": "float",
        "humidity": "int",
        "raining": "bool",
        "summary": "string",
    }


def test_points_datetime_s_and_ms(strata, db, v2):
    """Points timed with datetimes at second and millisecond precision: the
    client converts and sends ?precision=s / ?precision=ms, one request each."""
    w = v2.write_api(write_options=SYNCHRONOUS)
    w.write(
        bucket=db,
        record=Point("dt").tag("p", "s").field("v", 1.5).time(datetime(2024, 1, 1, 0, 0, 5, tzinfo=timezone.utc), WritePrecision.S),
    )
    w.write(
        bucket=db,
        record=Point("dt")
        .tag("p", "ms")
        .field("v", 2.5)
        .time(datetime(2024, 1, 1, 0, 0, 6, 789000, tzinfo=timezone.utc), WritePrecision.MS),
    )
    rows = sql(strata.url, db, 'SELECT "time", "p", "v" FROM "dt" ORDER BY "time"')
    assert_rows(
        rows,
        [
            {"time": ts("2024-01-01T00:00:05"), "p": "s", "v": 1.5},
            {"time": ts("2024-01-01T00:00:06.789"), "p": "ms", "v": 2.5},
        ],
    )


def test_line_protocol_string_seconds(strata, db, v2):
    """A raw line-protocol string with write_precision=S, including an unsigned
    integer field (``u`` suffix) at the uint64 maximum."""
    v2.write_api(write_options=SYNCHRONOUS).write(
        bucket=db,
        record="lp,host=a n=1i,u=18446744073709551615u 1704067200\nlp,host=b n=2i,u=0u 1704067260",
        write_precision=WritePrecision.S,
    )
    rows = sql(strata.url, db, 'SELECT "time", "host", "n", "u" FROM "lp" ORDER BY "time"')
    assert_rows(
        rows,
        [
            {"time": ts("2024-01-01T00:00:00"), "host": "a", "n": 1, "u": 18446744073709551615},
            {"time": ts("2024-01-01T00:01:00"), "host": "b", "n": 2, "u": 0},
        ],
    )
    assert column_kinds(strata.url, db, "lp", ["n", "u"]) == {"n": "int", "u": "uint"}


@pytest.mark.parametrize(
    "precision, stamp, expected",
    [
        (WritePrecision.NS, 1704067200123456789, "2024-01-01T00:00:00.123456789"),
        (WritePrecision.US, 1704067200123456, "2024-01-01T00:00:00.123456"),
        (WritePrecision.MS, 1704067200123, "2024-01-01T00:00:00.123"),
        (WritePrecision.S, 1704067200, "2024-01-01T00:00:00"),
    ],
)
def test_write_precision(strata, db, v2, precision, stamp, expected):
    """Every WritePrecision is sent as ?precision= and honoured."""
    v2.write_api(write_options=SYNCHRONOUS).write(bucket=db, record=f"prec v=1i {stamp}", write_precision=precision)
    assert_rows(sql(strata.url, db, 'SELECT "time", "v" FROM "prec"'), [{"time": ts(expected), "v": 1}])


def test_dict_records_ms(strata, db, v2):
    """Dictionary records (measurement/tags/fields/time) at millisecond
    precision; ``field_types`` makes the client send an unsigned integer."""
    v2.write_api(write_options=SYNCHRONOUS).write(
        bucket=db,
        record=[
            {
                "measurement": "d",
                "tags": {"k": "v1"},
                "fields": {"f": 1.25, "n": 7, "c": 42},
                "time": 1704067200123,
                "field_types": {"c": "uint"},
            },
            {
                "measurement": "d",
                "tags": {"k": "v2"},
                "fields": {"f": -3.5, "n": -7, "c": 0},
                "time": 1704067200124,
                "field_types": {"c": "uint"},
            },
        ],
        write_precision=WritePrecision.MS,
    )
    rows = sql(strata.url, db, 'SELECT "time", "k", "f", "n", "c" FROM "d" ORDER BY "time"')
    assert_rows(
        rows,
        [
            {"time": ts("2024-01-01T00:00:00.123"), "k": "v1", "f": 1.25, "n": 7, "c": 42},
            {"time": ts("2024-01-01T00:00:00.124"), "k": "v2", "f": -3.5, "n": -7, "c": 0},
        ],
    )
    assert column_kinds(strata.url, db, "d", ["f", "n", "c"]) == {"f": "float", "n": "int", "c": "uint"}


def test_gzip(strata, db):
    """enable_gzip=True sends the body with Content-Encoding: gzip."""
    with InfluxDBClient(url=strata.url, token="x", org="o", enable_gzip=True, timeout=30_000) as c:
        points = [
            Point("gz").tag("i", str(i)).field("v", i + 0.5).time(1704067200 + i, WritePrecision.S)
            for i in range(50)
        ]
        c.write_api(write_options=SYNCHRONOUS).write(bucket=db, record=points)
    rows = sql(strata.url, db, 'SELECT "time", "i", "v" FROM "gz" ORDER BY "time"')
    assert len(rows) == 50
    assert_rows(rows[:2], [
        {"time": ts("2024-01-01T00:00:00"), "i": "0", "v": 0.5},
        {"time": ts("2024-01-01T00:00:01"), "i": "1", "v": 1.5},
    ])
    assert_rows(rows[-1:], [{"time": ts("2024-01-01T00:00:49"), "i": "49", "v": 49.5}])


def test_default_batching_write_api_flushes_on_close(strata, db):
    """The client's default write_api() batches in a background thread; closing
    it flushes everything to the server."""
    with InfluxDBClient(url=strata.url, token="x", org="o", timeout=30_000) as c:
        with c.write_api() as w:
            for i in range(3):
                w.write(bucket=db, record=Point("batch").field("v", i).time(1704067200 + i, WritePrecision.S))
    rows = sql(strata.url, db, 'SELECT "time", "v" FROM "batch" ORDER BY "time"')
    assert_rows(rows, [{"time": ts(f"2024-01-01T00:00:0{i}"), "v": i} for i in range(3)])


def test_ping_and_version(v2):
    """ping() is GET /ping answering 2xx; version() reads X-Influxdb-Version."""
    assert v2.ping() is True
    assert v2.version() not in ("", "unknown")


def test_type_conflict_raises_and_keeps_valid_lines(strata, db, v2):
    """A type conflict makes the synchronous write raise ApiException with
    status 400 and the JSON error body; valid lines of the request are kept."""
    w = v2.write_api(write_options=SYNCHRONOUS)
    w.write(bucket=db, record="tc v=1i 1", write_precision=WritePrecision.S)
    with pytest.raises(ApiException) as err:
        w.write(bucket=db, record='tc v=2i 2\ntc v="text" 3\ntc v=true 4', write_precision=WritePrecision.S)
    assert err.value.status == 400
    body = json.loads(err.value.body)
    assert body["error"]
    assert [line["line"] for line in body["lines"]] == [2, 3], body
    rows = sql(strata.url, db, 'SELECT "time", "v" FROM "tc" ORDER BY "time"')
    assert_rows(
        rows,
        [
            {"time": ts("1970-01-01T00:00:01"), "v": 1},
            {"time": ts("1970-01-01T00:00:02"), "v": 2},
        ],
    )


def test_missing_bucket_raises(strata, v2):
    """An empty bucket is refused by the server (400), and the client raises."""
    with pytest.raises(ApiException) as err:
        v2.write_api(write_options=SYNCHRONOUS).write(bucket="", record="m v=1")
    assert err.value.status == 400
