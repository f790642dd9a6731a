"""Fixtures of the client compatibility suite.

One real `strata serve` process runs for the whole session, on a free port
(``--http-bind 127.0.0.1:0``) with a fresh data directory; every test writes to
a database of its own (fixture ``db``), so tests do not see each other's rows.
The binary comes from ``STRATA_BIN`` (scripts/compat.sh sets it). A test
module that needs other ``serve`` options starts a server of its own with
``running_server(data_dir, *extra_args)``.

Reading back goes through ``/api/v3/query_sql`` with plain ``requests`` (see
``sql``), never through the client under test, so a client cannot mask a
server bug by being lenient in both directions.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest
import requests

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
HTTP_TIMEOUT_S = 30.0

_LISTENING = re.compile(r"listening on (http://[^\s,]+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strata_bin() -> str:
    path = os.environ.get("STRATA_BIN")
    if not path:
        target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "strata-target")
        path = str(Path(target) / "debug" / "strata")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.exit(
            f"strata binary not found at {path}; run scripts/compat.sh or set STRATA_BIN",
            returncode=2,
        )
    return path


@dataclass
class Server:
    """A running `strata serve`."""

    proc: subprocess.Popen
    url: str
    data_dir: Path
    log_lines: collections.deque = field(default_factory=lambda: collections.deque(maxlen=2000))

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        port = urlsplit(self.url).port
        assert port is not None, self.url
        return port

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(list(self.log_lines)[-n:])


class _Listening(threading.Event):
    """Set once the server has logged its address."""

    url: str | None = None


def _drain(stream, sink: collections.deque, found: _Listening) -> None:
    """Reads the server's stderr until EOF so the pipe never fills up."""
    for raw in iter(stream.readline, b""):
        line = _ANSI.sub("", raw.decode("utf-8", "replace").rstrip("\n"))
        sink.append(line)
        if not found.is_set():
            m = _LISTENING.search(line)
            if m:
                found.url = m.group(1)
                found.set()
    stream.close()


def _start(data_dir: Path, extra_args: tuple[str, ...] = ()) -> Server:
    env = dict(os.environ)
    env.setdefault("NO_COLOR", "1")
    env.setdefault("STRATA_LOG", "info")
    # Options given on the command line win over any STRATA_* left in the environment.
    proc = subprocess.Popen(
        [strata_bin(), "serve", "--data-dir", str(data_dir), "--http-bind", "127.0.0.1:0", *extra_args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    found = _Listening()
    lines: collections.deque = collections.deque(maxlen=2000)
    threading.Thread(target=_drain, args=(proc.stderr, lines, found), daemon=True).start()

    deadline = time.monotonic() + START_TIMEOUT_S
    while not found.wait(0.05):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            tail = "\n".join(lines)
            pytest.fail(
                f"strata serve did not log 'listening on http://...' "
                f"(exit code {proc.returncode}); its stderr:\n{tail}",
                pytrace=False,
            )
    server = Server(proc=proc, url=found.url or "", data_dir=data_dir, log_lines=lines)

    # The address is logged once the socket is bound; wait until requests are served.
    while True:
        try:
            r = requests.get(server.url + "/ping", timeout=2)
            if r.status_code == 204:
                return server
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(
                f"strata serve at {server.url} never answered GET /ping with 204; "
                f"its stderr:\n{server.log_tail()}",
                pytrace=False,
            )
        time.sleep(0.05)


def _stop(proc: subprocess.Popen) -> int | None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT_S. Returns the SIGTERM exit code
    (None when it had to be killed)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT_S)
        return None


_RUNNING: list[Server] = []


@contextlib.contextmanager
def running_server(data_dir: Path, *extra_args: str) -> Iterator[Server]:
    """Runs ``strata serve --data-dir DATA_DIR ... EXTRA_ARGS`` until the block
    ends; its log tail goes with every test that fails meanwhile, and a server
    that does not exit 0 on SIGTERM fails the block's end."""
    server = _start(data_dir, tuple(extra_args))
    _RUNNING.append(server)
    try:
        yield server
    finally:
        _RUNNING.remove(server)
        code = _stop(server.proc)
        # Graceful shutdown on SIGTERM is part of the contract; a hang or a
        # crash shows up as an error of the last test.
        if code != 0:
            pytest.fail(
                f"strata serve did not exit cleanly on SIGTERM "
                f"({'killed after timeout' if code is None else f'exit code {code}'}); "
                f"stderr tail:\n{server.log_tail()}",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def strata(tmp_path_factory) -> Iterator[Server]:
    """The running server (session-wide)."""
    with running_server(tmp_path_factory.mktemp("strata-data")) as server:
        yield server


@pytest.fixture(scope="session")
def base_url(strata: Server) -> str:
    """``http://127.0.0.1:PORT`` of the running server."""
    return strata.url


_db_counter = itertools.count(1)


@pytest.fixture
def db(request) -> str:
    """A database name no other test uses (letters, digits and ``_`` only)."""
    stem = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    stem = re.sub(r"^test_", "", stem)[:48]
    return f"{stem}_{next(_db_counter)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the tail of each running server's log to every failing test."""
    report = yield
    if report.failed:
        for server in _RUNNING:
            report.sections.append((f"strata serve {server.url} stderr (tail)", server.log_tail()))
    return report


# --- reading back -------------------------------------------------------------


def sql(base: str, db: str, q: str) -> list[dict[str, Any]]:
    """Runs ``q`` through GET /api/v3/query_sql (format=json) and returns the rows.

    Fails the test with the server's answer on any status but 200."""
    r = requests.get(
        base + "/api/v3/query_sql",
        params={"db": db, "q": q, "format": "json"},
        timeout=HTTP_TIMEOUT_S,
    )
    assert r.status_code == 200, f"query {q!r} on db {db!r}: HTTP {r.status_code}: {r.text}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    rows = r.json()
    assert isinstance(rows, list), rows
    return rows


def typed(value: Any) -> Any:
    """A value paired with its JSON type, so that ``1 == 1.0 == True`` cannot
    hide a type change (an int field read back as a float, a bool as 1)."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def assert_rows(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Exact comparison: same rows in the same order, same columns (a NULL must
    be present as None), same values and same JSON types."""
    assert typed(actual) == typed(expected)


def column_kinds(base: str, db: str, table: str, columns: list[str]) -> dict[str, str]:
    """Arrow type of each column, reduced to one of time / string / float / int /
    uint / bool, as the query engine sees it (``arrow_typeof``)."""
    select = ", ".join(f'arrow_typeof("{c}") AS "{c}"' for c in columns)
    rows = sql(base, db, f'SELECT {select} FROM "{table}" LIMIT 1')
    assert len(rows) == 1, rows
    return {c: _kind(rows[0][c]) for c in columns}


def _kind(arrow_type: str) -> str:
    t = arrow_type.replace(" ", "")
    if t.startswith("Timestamp("):
        return "time" if ("Nanosecond" in t or t.startswith("Timestamp(ns")) else f"time?{arrow_type}"
    if t in ("Utf8", "LargeUtf8", "Utf8View") or (t.startswith("Dictionary(") and t.endswith("Utf8)")):
        return "string"
    return {
        "Float64": "float",
        "Int64": "int",
        "UInt64": "uint",
        "Boolean": "bool",
    }.get(t, arrow_type)


def ts(s: str) -> str:
    """``'2024-01-01T00:00:00'`` or with a fraction -> the server's rendering,
    RFC 3339 with exactly nine fractional digits and ``Z``."""
    if "." in s:
        head, frac = s.split(".", 1)
    else:
        head, frac = s, ""
    assert len(frac) <= 9, s
    return f"{head}.{frac.ljust(9, '0')}Z"
