"""Prometheus remote write 1.0 against Strata's ``POST /api/v1/write`` and
``POST /api/v1/prom/write`` (``?db=NAME``).

The independent encoder is Google's ``protobuf`` package (``prometheus.WriteRequest``,
``TimeSeries``, ``Label``, ``Sample`` and a minimal ``Histogram``, built at run
time from a ``FileDescriptorProto`` with the field numbers of Prometheus'
``prompb/types.proto`` and ``remote.proto``, no protoc) and ``cramjam``'s snappy
block format (``compress_raw``), sent as Prometheus does: ``Content-Type:
application/x-protobuf``, ``Content-Encoding: snappy``,
``X-Prometheus-Remote-Write-Version: 0.1.0``.

Covered: the mapping (table = ``__name__``, other labels = tags, an empty label
value = absent tag, float field ``value``, millisecond timestamps stored in
nanoseconds, negative ones included), the staleness marker NaN kept bit for bit
(read through ``format=parquet``; JSON renders NaN and inf as null), per-series
errors (400 partial write listing 1-based series numbers, good series written),
native histograms reported, and whole-request errors (remote write 2.0 content
type 415, missing ``db``, corrupt snappy, not a protobuf).
"""

from __future__ import annotations

import io
import struct

import cramjam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from conftest import HTTP_TIMEOUT_S, assert_rows, column_kinds, sql, ts

T0 = 1704067200_000  # 2024-01-01T00:00:00Z in milliseconds
STALE_BITS = 0x7FF0000000000002  # Prometheus' staleness marker (value.StaleNaN)
STALE = struct.unpack("<d", struct.pack("<Q", STALE_BITS))[0]
PROTOBUF = "application/x-protobuf"


def _messages() -> dict[str, type]:
    """The message classes of package ``prometheus`` (proto3)."""
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="strata_compat/prometheus.proto", package="prometheus", syntax="proto3")

    def message(name: str, *fields: tuple[str, int, int, str | None]) -> None:
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, type_name in fields:
            label = F.LABEL_REPEATED if type_name else F.LABEL_OPTIONAL
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = f".prometheus.{type_name}"

    message("WriteRequest", ("timeseries", 1, F.TYPE_MESSAGE, "TimeSeries"))
    message(
        "TimeSeries",
        ("labels", 1, F.TYPE_MESSAGE, "Label"),
        ("samples", 2, F.TYPE_MESSAGE, "Sample"),
        ("histograms", 4, F.TYPE_MESSAGE, "Histogram"),
    )
    message("Label", ("name", 1, F.TYPE_STRING, None), ("value", 2, F.TYPE_STRING, None))
    message("Sample", ("value", 1, F.TYPE_DOUBLE, None), ("timestamp", 2, F.TYPE_INT64, None))
    message("Histogram", ("sum", 3, F.TYPE_DOUBLE, None), ("timestamp", 15, F.TYPE_INT64, None))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {n.name: message_factory.GetMessageClass(n) for n in pool.FindFileByName(fdp.name).message_types_by_name.values()}


PB = _messages()


def write_request(*series: tuple[list[tuple[str, str]], list[tuple[float, int]]], histograms: int = 0) -> bytes:
    """A serialized WriteRequest: each series is ``(labels, [(value, timestamp_ms)])``;
    the last series gets ``histograms`` native histogram samples."""
    req = PB["WriteRequest"]()
    for labels, samples in series:
        ts_ = req.timeseries.add()
        for name, value in labels:
            ts_.labels.add(name=name, value=value)
        for value, t in samples:
            ts_.samples.add(value=value, timestamp=t)
    for i in range(histograms):
        req.timeseries[-1].histograms.add(sum=1.5, timestamp=T0 + i)
    return req.SerializeToString()


def post(base: str, payload: bytes, db: str | None, path: str = "/api/v1/write", content_type: str = PROTOBUF,
         snappy: bool = True) -> requests.Response:
    body = bytes(cramjam.snappy.compress_raw(payload)) if snappy else payload
    headers = {"Content-Type": content_type, "Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "0.1.0"}
    params = {"db": db} if db is not None else {}
    return requests.post(base + path, params=params, data=body, headers=headers, timeout=HTTP_TIMEOUT_S)


def parquet(base: str, db: str, q: str) -> pa.Table:
    """The rows of ``q`` as Parquet: exact float bits and integer nanoseconds."""
    r = requests.get(base + "/api/v3/query_sql", params={"db": db, "q": q, "format": "parquet"}, timeout=HTTP_TIMEOUT_S)
    assert r.status_code == 200, r.text
    return pq.read_table(io.BytesIO(r.content))


def bits(values: list[float]) -> list[int]:
    return [struct.unpack("<Q", struct.pack("<d", v))[0] for v in values]


def error_json(r: requests.Response, status: int, code: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["code"] == code and body["message"] == body["error"], body
    return body


HTTP = "http_requests_total"


@pytest.mark.parametrize(
    "path, content_type",
    [("/api/v1/write", PROTOBUF), ("/api/v1/prom/write", "application/x-protobuf; proto=prometheus.WriteRequest")],
)
def test_series_and_samples(strata, db, path, content_type):
    """Two metrics, four series, several samples each: one row per sample."""
    payload = write_request(
        ([("__name__", HTTP), ("code", "200"), ("instance", "a:9090"), ("job", "api")],
         [(10.0, T0), (12.5, T0 + 15_000), (17.0, T0 + 30_000)]),
        # Labels in another order, and the staleness marker last.
        ([("job", "api"), ("instance", "a:9090"), ("code", "500"), ("__name__", HTTP)],
         [(0.0, T0), (1.0, T0 + 15_000), (STALE, T0 + 30_000)]),
        ([("__name__", "node_load1"), ("instance", "a:9100")],
         [(0.25, T0 + 1), (1.7976931348623157e308, T0 + 2), (-0.0, T0 + 3)]),
        ([("__name__", "node_load1"), ("instance", "b:9100")], [(-1.5e-300, -1), (3.0, T0 + 999)]),
    )
    r = post(strata.url, payload, db, path=path, content_type=content_type)
    assert (r.status_code, r.text) == (204, "")

    rows = sql(strata.url, db, f'SELECT "code", "instance", "job", "time", "value" FROM "{HTTP}" ORDER BY "time", "code"')
    api = {"instance": "a:9090", "job": "api"}
    assert_rows(rows, [
        {"code": "200", **api, "time": ts("2024-01-01T00:00:00"), "value": 10.0},
        {"code": "500", **api, "time": ts("2024-01-01T00:00:00"), "value": 0.0},
        {"code": "200", **api, "time": ts("2024-01-01T00:00:15"), "value": 12.5},
        {"code": "500", **api, "time": ts("2024-01-01T00:00:15"), "value": 1.0},
        {"code": "200", **api, "time": ts("2024-01-01T00:00:30"), "value": 17.0},
        {"code": "500", **api, "time": ts("2024-01-01T00:00:30"), "value": None},  # NaN: null in JSON
    ])
    rows = sql(strata.url, db, 'SELECT "instance", "time", "value" FROM "node_load1" ORDER BY "time"')
    assert_rows(rows, [
        {"instance": "b:9100", "time": ts("1969-12-31T23:59:59.999"), "value": -1.5e-300},
        {"instance": "a:9100", "time": ts("2024-01-01T00:00:00.001"), "value": 0.25},
        {"instance": "a:9100", "time": ts("2024-01-01T00:00:00.002"), "value": 1.7976931348623157e308},
        {"instance": "a:9100", "time": ts("2024-01-01T00:00:00.003"), "value": -0.0},
        {"instance": "b:9100", "time": ts("2024-01-01T00:00:00.999"), "value": 3.0},
    ])
    assert bits([rows[3]["value"]]) == [0x8000000000000000]  # -0.0 stays negative
    # The JSON null above is a NaN, not an SQL NULL.
    assert sql(strata.url, db, f'SELECT COUNT(*) AS n FROM "{HTTP}" WHERE "value" IS NULL') == [{"n": 0}]
    assert sql(strata.url, db, f'SELECT COUNT(*) AS n FROM "{HTTP}" WHERE isnan("value")') == [{"n": 1}]

    # The staleness marker is kept bit for bit; times are integer nanoseconds.
    t = parquet(strata.url, db, f'SELECT "time", "value" FROM "{HTTP}" WHERE "code" = \'500\' ORDER BY "time"')
    assert t.column("time").cast(pa.int64()).to_pylist() == [T0 * 1_000_000, (T0 + 15_000) * 1_000_000, (T0 + 30_000) * 1_000_000]
    assert bits(t.column("value").to_pylist()) == bits([0.0, 1.0, STALE])
    assert column_kinds(strata.url, db, HTTP, ["time", "code", "instance", "job", "value"]) == {
        "time": "time", "code": "string", "instance": "string", "job": "string", "value": "float",
    }
    assert column_kinds(strata.url, db, "node_load1", ["instance", "value"]) == {"instance": "string", "value": "float"}


def test_bad_series_partial_write(strata, db):
    """Series 2 has no ``__name__``, series 3 an empty one, series 5 carries a
    native histogram: 400 listing them, every float sample of the rest written."""
    payload = write_request(
        ([("__name__", "up"), ("job", "a")], [(1.0, T0), (0.0, T0 + 1000)]),
        ([("job", "b")], [(5.0, T0)]),
        ([("__name__", ""), ("job", "c")], [(6.0, T0)]),
        ([("__name__", "up"), ("job", "d")], [(1.0, T0)]),
        ([("__name__", "rpc_seconds"), ("job", "e")], [(0.5, T0 + 7)]),
        histograms=1,
    )
    body = error_json(post(strata.url, payload, db), 400, "invalid")
    assert body["error"] == "partial write: 3 of 5 lines rejected; 4 rows written", body
    assert [line["line"] for line in body["lines"]] == [2, 3, 5], body
    assert body["lines"][0]["message"] == 'series {job="b"} has no metric name (label "__name__")'
    assert body["lines"][1]["message"] == 'series {__name__="", job="c"} has no metric name (label "__name__")', body
    assert "native histogram" in body["lines"][2]["message"] and '"rpc_seconds"' in body["lines"][2]["message"]

    rows = sql(strata.url, db, 'SELECT "job", "time", "value" FROM "up" ORDER BY "time", "job"')
    assert_rows(rows, [
        {"job": "a", "time": ts("2024-01-01T00:00:00"), "value": 1.0},
        {"job": "d", "time": ts("2024-01-01T00:00:00"), "value": 1.0},
        {"job": "a", "time": ts("2024-01-01T00:00:01"), "value": 0.0},
    ])
    assert_rows(sql(strata.url, db, 'SELECT "job", "time", "value" FROM "rpc_seconds"'),
                [{"job": "e", "time": ts("2024-01-01T00:00:00.007"), "value": 0.5}])
    tables = sql(strata.url, db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'iox' ORDER BY 1")
    assert tables == [{"table_name": "rpc_seconds"}, {"table_name": "up"}]


def test_whole_request_errors(strata, db):
    """Remote write 2.0, no database, corrupt snappy, not a WriteRequest: refused
    whole, nothing written."""
    payload = write_request(([("__name__", "up")], [(1.0, T0)]))
    r = post(strata.url, payload, db, content_type="application/x-protobuf;proto=io.prometheus.write.v2.Request")
    assert "Prometheus remote write 1.0" in error_json(r, 415, "unsupported media type")["error"]
    r = post(strata.url, payload, db, path="/api/v1/prom/write", content_type="text/plain")
    assert "Prometheus remote write 1.0" in error_json(r, 415, "unsupported media type")["error"]

    assert error_json(post(strata.url, payload, None), 400, "invalid")["error"] == (
        'missing query parameter "db": the database to write to')
    for path in ("/api/v1/write", "/api/v1/prom/write"):
        r = post(strata.url, b"\xff\xff\xff\xff not snappy at all", db, path=path, snappy=False)
        assert error_json(r, 400, "invalid")["error"].startswith("invalid snappy body: ")
    # Snappy's framed format is not the block format remote write uses.
    r = post(strata.url, bytes(cramjam.snappy.compress(payload)), db, snappy=False)
    assert error_json(r, 400, "invalid")["error"].startswith("invalid snappy body: ")
    r = post(strata.url, b"\x0a\xff\xff\xff", db)  # valid snappy, truncated protobuf
    assert error_json(r, 400, "invalid")["error"].startswith(
        "not a Prometheus remote write 1.0 request (protobuf prometheus.WriteRequest): ")

    r = post(strata.url, write_request(([("__name__", "up"), ("ok", "yes")], [(2.0, T0 + 5)])), db)
    assert (r.status_code, r.text) == (204, "")
    assert_rows(sql(strata.url, db, 'SELECT * FROM "up"'), [{"ok": "yes", "time": ts("2024-01-01T00:00:00.005"), "value": 2.0}])


def test_empty_label_value_is_absent_tag(strata, db):
    """``dc=""`` is no tag at all (NULL), like a series without the label, while
    another series of the same metric sets it."""
    payload = write_request(
        ([("__name__", "temp"), ("host", "h1"), ("dc", "")], [(20.5, T0)]),
        ([("__name__", "temp"), ("host", "h2"), ("dc", "eu")], [(21.5, T0)]),
        ([("__name__", "temp"), ("host", "h3")], [(22.5, T0)]),
        ([("__name__", "temp"), ("dc", ""), ("host", "")], [(23.5, T0 + 1)]),
    )
    r = post(strata.url, payload, db, path="/api/v1/prom/write")
    assert (r.status_code, r.text) == (204, "")
    rows = sql(strata.url, db, 'SELECT "dc", "host", "time", "value" FROM "temp" ORDER BY "value"')
    t = ts("2024-01-01T00:00:00")
    assert_rows(rows, [
        {"dc": None, "host": "h1", "time": t, "value": 20.5},
        {"dc": "eu", "host": "h2", "time": t, "value": 21.5},
        {"dc": None, "host": "h3", "time": t, "value": 22.5},
        {"dc": None, "host": None, "time": ts("2024-01-01T00:00:00.001"), "value": 23.5},
    ])
    assert sql(strata.url, db, """SELECT COUNT(*) AS n FROM "temp" WHERE "dc" IS NULL""") == [{"n": 3}]
    assert sql(strata.url, db, """SELECT COUNT(*) AS n FROM "temp" WHERE "dc" = ''""") == [{"n": 0}]
    assert column_kinds(strata.url, db, "temp", ["dc", "host", "value"]) == {"dc": "string", "host": "string", "value": "float"}
