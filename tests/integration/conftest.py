"""Fixtures for Hush's integration tests: a real hushd per test, users made with hushctl, real XMPP clients.

Run with Debian's interpreter (slixmpp is a Debian package):  /usr/bin/python3 -m pytest tests/integration

Environment:
  HUSH_BUILD_DIR          where hushd and hushctl are (default: <repo>/build; relative to the repository)
  HUSH_TEST_POSTGRES_URL  a PostgreSQL database to run the postgresql-parametrized tests against (scripts/with-postgres
                          sets it); each hushd gets its own freshly created database next to it
  HUSH_REQUIRE_POSTGRES=1 a missing HUSH_TEST_POSTGRES_URL fails those tests instead of skipping them
  HUSH_TEST_TIMEOUT       seconds for each wait (default 20)
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from xmpp_client import TIMEOUT, XmppLoop

REPO = Path(__file__).resolve().parents[2]
LISTEN_RE = re.compile(r"^hushd: listening (\S+) (\S+):(\d+)$")


# --------------------------------------------------------------------------------------------------------------
# hushd and hushctl
# --------------------------------------------------------------------------------------------------------------

def build_dir() -> Path:
    """$HUSH_BUILD_DIR (a relative path is relative to the repository, as in ./dev), default <repo>/build."""
    return (REPO / os.environ.get("HUSH_BUILD_DIR", "build")).resolve()


@pytest.fixture(scope="session")
def hush_binaries() -> dict[str, Path]:
    bins = {name: build_dir() / name for name in ("hushd", "hushctl")}
    for name, path in bins.items():
        if not (path.is_file() and os.access(path, os.X_OK)):
            pytest.fail(f"{path} is missing: build first (./dev test, or ninja -C {build_dir()}), "
                        f"or point HUSH_BUILD_DIR at a build directory")
    return bins


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # 25.0, 0.5: TOML floats
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def toml_key(key: str) -> str:
    """A bare key when TOML allows one, else a quoted key ("b.test" names one key, not a table b)."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def render_config(config: dict) -> str:
    """dict of sections -> TOML. A list of dicts becomes an array of tables ([[listen]]); a section name may be
    dotted ("s2s.hosts"), its keys are quoted as needed ({"b.test": "127.0.0.1:5269"})."""
    out = []
    for section, body in config.items():
        if isinstance(body, list):
            for table in body:
                out.append(f"[[{section}]]")
                out += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
                out.append("")
        else:
            out.append(f"[{section}]")
            out += [f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items()]
            out.append("")
    return "\n".join(out)


class HushServer:
    """One hushd process with its own directory, config, data and logs."""

    def __init__(self, bins: dict[str, Path], workdir: Path, config: dict):
        self.bins = bins
        self.workdir = workdir
        self.config_path = workdir / "hush.toml"
        self.stderr_path = workdir / "hushd.stderr.log"
        self.config = config
        self.config_path.write_text(render_config(config))
        self.proc: subprocess.Popen | None = None
        self.stdout_lines: list[str] = []
        self._lines: queue.Queue = queue.Queue()
        self.ports: dict[str, int] = {}
        self.returncode: int | None = None

    # -- lifecycle --

    def start(self, timeout: float = TIMEOUT) -> "HushServer":
        stderr = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [str(self.bins["hushd"]), "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                text=True, bufsize=1, cwd=self.workdir)
        finally:
            stderr.close()
        threading.Thread(target=self._read_stdout, name="hushd-stdout", daemon=True).start()
        self._wait_ready(timeout)
        return self

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)  # EOF

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(remaining, 0))
            except queue.Empty:
                self.kill()
                raise AssertionError(f"hushd did not print 'hushd: ready' within {timeout}s\n{self.describe()}")
            if line is None:
                status = self.proc.wait(timeout=TIMEOUT)
                self.returncode = status
                raise AssertionError(f"hushd exited with status {status} before 'hushd: ready'\n{self.describe()}")
            m = LISTEN_RE.match(line)
            if m:
                self.ports[m.group(1)] = int(m.group(3))
            elif line == "hushd: ready":
                missing = {l["kind"] for l in self.config.get("listen", [])} - set(self.ports)
                if missing:
                    raise AssertionError(f"hushd ready without announcing listeners {missing}\n{self.describe()}")
                return

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Wait for exit; kill and fail if it takes longer than timeout."""
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"hushd did not exit within {timeout}s\n{self.describe()}")
        return self.returncode

    def stop(self, timeout: float = TIMEOUT) -> int:
        """SIGTERM, then wait for exit (kill and fail on timeout). Returns the exit status."""
        if self.running:
            self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.running:
            self.proc.kill()
            self.proc.wait()

    def restart(self, timeout: float = TIMEOUT) -> "HushServer":
        """SIGTERM (must exit 0), then start a new hushd on the same config, data dir and database. The new process
        listens on new ports (port(...) answers for it); the old stderr log is kept as hushd.stderr.N.log."""
        status = self.stop(timeout)
        if status != 0:
            raise AssertionError(f"hushd exited with status {status} after SIGTERM (expected 0)\n{self.describe()}")
        generation = 1
        while (self.workdir / f"hushd.stderr.{generation}.log").exists():
            generation += 1
        if self.stderr_path.exists():
            self.stderr_path.rename(self.workdir / f"hushd.stderr.{generation}.log")
        # The old stdout reader thread ends with None (EOF) on the old queue: wait for it, so that it cannot
        # put anything on the new one.
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._lines.get(timeout=max(deadline - time.monotonic(), 0)) is None:
                    break
            except queue.Empty:
                raise AssertionError(f"hushd's stdout still open {timeout}s after it exited\n{self.describe()}")
        self.stdout_lines.append(f"--- restart {generation} ---")
        self.proc = None
        self.returncode = None
        self.ports = {}
        self._lines = queue.Queue()
        return self.start(timeout)

    # -- helpers --

    def port(self, kind: str = "c2s") -> int:
        return self.ports[kind]

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def wait_log(self, text: str, timeout: float = TIMEOUT) -> None:
        """Wait until hushd's log contains `text` (for events only the server sees, such as a peer stream closing).
        The log is a file, so this checks it every 20 ms until the deadline."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr_text():
            if time.monotonic() > deadline:
                raise AssertionError(f"hushd never logged {text!r} within {timeout}s\n{self.describe()}")
            await asyncio.sleep(0.02)

    async def wait_log_count(self, text: str, count: int, timeout: float = TIMEOUT) -> None:
        """Wait until hushd's log contains `text` at least `count` times (checked as wait_log does)."""
        deadline = time.monotonic() + timeout
        while self.stderr_text().count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"hushd logged {text!r} fewer than {count} times within {timeout}s\n"
                                     f"{self.describe()}")
            await asyncio.sleep(0.02)

    def describe(self, tail: int = 200) -> str:
        err = self.stderr_text().splitlines()[-tail:]
        return ("--- config " + str(self.config_path) + " ---\n" + self.config_path.read_text()
                + "--- hushd stdout ---\n" + "\n".join(self.stdout_lines)
                + f"\n--- hushd stderr (last {tail} lines of {self.stderr_path}) ---\n" + "\n".join(err))

    def hushctl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(self.bins["hushctl"]), "--config", str(self.config_path), *args],
            input=input, stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True, text=True, timeout=TIMEOUT)
        if check and result.returncode != 0:
            raise AssertionError(f"hushctl {' '.join(args)} exited {result.returncode}\n"
                                 f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def adduser(self, jid: str, password: str) -> None:
        self.hushctl("adduser", jid, password)


# --------------------------------------------------------------------------------------------------------------
# storage backends
# --------------------------------------------------------------------------------------------------------------

def _psql(url: str, sql: str) -> None:
    result = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)
    if result.returncode != 0:
        raise AssertionError(f"psql {sql!r} failed: {result.stderr}")


class PostgresDatabases:
    """Creates a fresh database per hushd on the server HUSH_TEST_POSTGRES_URL points at; drops them at the end."""

    def __init__(self, base_url: str):
        self.base = urlsplit(base_url)
        self.created: list[str] = []

    def _url(self, dbname: str) -> str:
        return urlunsplit(self.base._replace(path="/" + dbname))

    def create(self) -> str:
        name = "hush_it_" + uuid.uuid4().hex[:12]
        _psql(self._url("postgres"), f'create database "{name}"')
        self.created.append(name)
        return self._url(name)

    def drop_all(self) -> None:
        for name in self.created:
            _psql(self._url("postgres"), f'drop database if exists "{name}" with (force)')
        self.created.clear()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_backend(request) -> str:
    """Parametrizes a test over the storage backends. postgresql needs HUSH_TEST_POSTGRES_URL (skipped without it,
    unless HUSH_REQUIRE_POSTGRES=1, which makes a missing URL a failure)."""
    if request.param == "postgresql" and not os.environ.get("HUSH_TEST_POSTGRES_URL"):
        message = "HUSH_TEST_POSTGRES_URL is not set (run under scripts/with-postgres)"
        if os.environ.get("HUSH_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " but HUSH_REQUIRE_POSTGRES=1")
        pytest.skip(message)
    return request.param


# --------------------------------------------------------------------------------------------------------------
# the hush fixture: start servers
# --------------------------------------------------------------------------------------------------------------

def base_config(data_dir: Path) -> dict:
    return {
        "server": {"hosts": ["localhost"], "data_dir": str(data_dir), "threads": 2},
        "log": {"level": "debug"},
        "tls": {"certificate": "", "key": ""},
        "listen": [
            {"kind": "c2s", "address": "127.0.0.1", "port": 0},
            {"kind": "c2s_direct_tls", "address": "127.0.0.1", "port": 0},
        ],
        "storage": {"backend": "sqlite", "path": "hush.db"},
        # Test accounts are minutes old: trust every local account, as the suites of other features expect
        # (the anti-SPIM suites set the default — new accounts are strangers — where they test it).
        "antispim": {"trusted_after_hours": 0, "trusted_min_contacts": 0},
    }


@pytest.fixture
def hush(request, tmp_path, hush_binaries):
    """Factory: hush(storage="sqlite", **sections) starts a hushd and returns a HushServer once it is ready.

    Extra keyword arguments are config sections merged over the defaults, e.g. hush(limits={"max_stanza_bytes":
    8192}). Teardown stops every server still running with SIGTERM and fails the test unless it exits 0."""
    servers: list[HushServer] = []
    request.node.hush_servers = servers
    databases: PostgresDatabases | None = None

    def start(storage: str = "sqlite", **sections) -> HushServer:
        nonlocal databases
        workdir = tmp_path / f"hushd{len(servers)}"
        workdir.mkdir()
        config = base_config(workdir / "data")
        if storage == "postgresql":
            base_url = os.environ.get("HUSH_TEST_POSTGRES_URL")
            if not base_url:
                pytest.fail("storage='postgresql' needs HUSH_TEST_POSTGRES_URL")
            if databases is None:
                databases = PostgresDatabases(base_url)
            config["storage"] = {"backend": "postgresql", "url": databases.create(), "pool_size": 2}
        elif storage != "sqlite":
            raise ValueError(storage)
        for section, values in sections.items():
            if isinstance(values, dict) and isinstance(config.get(section), dict):
                config[section] = {**config[section], **values}
            else:
                config[section] = values
        server = HushServer(hush_binaries, workdir, config)
        servers.append(server)
        return server.start()

    yield start

    problems = []
    for server in servers:
        if server.proc is None or server.returncode is not None:
            continue  # never started, or the test already waited for it
        try:
            status = server.stop()
        except AssertionError as e:
            problems.append(str(e))
            continue
        if status != 0:
            problems.append(f"hushd exited with status {status} after SIGTERM (expected 0)\n{server.describe()}")
    if databases is not None:
        databases.drop_all()
    if problems:
        pytest.fail("\n\n".join(problems))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach each hushd's config, stdout and stderr to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, server in enumerate(getattr(item, "hush_servers", [])):
            report.sections.append((f"hushd #{i} ({report.when})", server.describe()))
        for i, server in enumerate(getattr(item, "prosody_servers", [])):  # federation.py's fixture
            report.sections.append((f"prosody #{i} ({report.when})", server.describe()))


@pytest.fixture
def xmpp():
    """XmppLoop for the test: xmpp.client(jid, password) inside xmpp.run(scenario())."""
    loop = XmppLoop()
    yield loop
    loop.close()

