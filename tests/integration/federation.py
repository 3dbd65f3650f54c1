"""Federation test helpers: certificates made with the openssl CLI (a test CA, leaf certificates for XMPP domains,
self-signed ones) and a real Prosody 0.12 run from a temp dir as a federation peer on loopback.

Prosody finds its peers without DNS through its `unbound` option (libunbound answers *.test itself, RFC 6761): a
hosts file maps each peer domain to 127.0.0.1 and an SRV record names the peer's s2s port. Two peer domains at most
(a host and one service domain of it, such as hush.test and conference.hush.test): libunbound gets its SRV records
as `local-data` options, and lua-unbound passes an option table's values one per key, so the two records go under the
two spellings of the one option libunbound accepts ("local-data" and "local-data:"; a table of strings as the value
crashes Prosody 0.12 at start).

    from federation import TestCA, ProsodyServer, prosody, test_ca   # the last two are pytest fixtures
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import TIMEOUT

XMPP_ADDR_OID = "1.3.6.1.5.5.7.8.5"


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    if result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


def _leaf_extensions(domain: str) -> str:
    # DNS-ID and XmppAddr for the domain (RFC 6120 §13.7.1.2); both client and server use, as servers present the
    # same certificate when they connect out.
    return (f"subjectAltName=DNS:{domain},otherName:{XMPP_ADDR_OID};UTF8:{domain}\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
            "keyUsage=critical,digitalSignature\n"
            "basicConstraints=critical,CA:false\n")


class TestCA:
    """A throwaway certificate authority (ECDSA P-256)."""

    __test__ = False  # not a pytest test class

    def __init__(self, workdir: Path):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert_path = self.dir / "ca.crt"
        self.key_path = self.dir / "ca.key"
        (self.dir / "ca.ext").write_text("basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n"
                                         "subjectKeyIdentifier=hash\n")
        _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(self.key_path), "-out", str(self.cert_path), "-days", "2", "-subj",
                 "/CN=Hush test CA", "-addext", "basicConstraints=critical,CA:true",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)

    def issue(self, domain: str) -> tuple[Path, Path]:
        """A leaf certificate for the XMPP domain; returns (certificate, key) paths."""
        cert, key, csr = (self.dir / f"{domain}.crt", self.dir / f"{domain}.key", self.dir / f"{domain}.csr")
        ext = self.dir / f"{domain}.ext"
        ext.write_text(_leaf_extensions(domain))
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={domain}", cwd=self.dir)
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert_path), "-CAkey", str(self.key_path),
                 "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext), cwd=self.dir)
        return cert, key


def self_signed(workdir: Path, domain: str) -> tuple[Path, Path]:
    """A self-signed certificate naming the domain; returns (certificate, key) paths."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = workdir / f"{domain}.self.crt", workdir / f"{domain}.self.key"
    ext = _leaf_extensions(domain).replace("basicConstraints=critical,CA:false\n", "")
    args = ["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={domain}"]
    for line in ext.strip().splitlines():
        args += ["-addext", line]
    _openssl(*args, cwd=workdir)
    return cert, key


def free_port() -> int:
    """A loopback port nobody listens on right now (for servers that must know each other's ports up front)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lua_string(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


class ProsodyServer:
    """One Prosody 0.12 with its own config, data and log in `workdir`, on free loopback ports."""

    def __init__(self, workdir: Path, domain: str, cert: Path, key: Path, peers: dict[str, int] | None = None,
                 cafile: Path | None = None, secure_auth: bool = False, pubsub: str | None = None,
                 admins: list[str] | None = None, muc: str | bool | None = None):
        if shutil.which("prosody") is None:
            pytest.fail("prosody is not installed (Debian packages prosody and lua-unbound; ./dev test installs them)")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.domain = domain
        self.cert, self.key = Path(cert), Path(key)
        self.peers = dict(peers or {})
        self.cafile = cafile
        self.secure_auth = secure_auth
        self.pubsub = pubsub  # a pubsub component's domain (XEP-0060 service), if any
        # A XEP-0045 MUC component's domain, if any (True: conference.<domain>).
        self.muc = f"conference.{domain}" if muc is True else (muc or None)
        self.admins = list(admins or [])
        self.c2s_port = free_port()
        self.s2s_port = free_port()
        self.config_path = self.workdir / "prosody.cfg.lua"
        self.log_path = self.workdir / "prosody.log"
        self.pidfile = self.workdir / "prosody.pid"
        self.proc: subprocess.Popen | None = None
        self._write_config()

    def _write_config(self) -> None:
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        hosts_file = self.workdir / "hosts"
        hosts_file.write_text("".join(f"127.0.0.1 {d}\n" for d in self.peers))
        # lua-unbound takes one local-data string per key (a table of them crashes Prosody 0.12 at start), and
        # libunbound reads both "local-data" and "local-data:" as its local-data option: one peer domain each.
        if len(self.peers) > 2:
            raise ValueError("ProsodyServer supports two federation peer domains at most")
        srv = "; ".join(f'["local-data{":" * i}"] = "_xmpp-server._tcp.{d}. 60 IN SRV 0 0 {p} {d}."'
                        for i, (d, p) in enumerate(self.peers.items())) or '["local-data"] = ""'
        ssl_options = f"certificate = {_lua_string(self.cert)}; key = {_lua_string(self.key)};"
        if self.cafile:
            ssl_options += f" cafile = {_lua_string(self.cafile)};"
        self.config_path.write_text(f"""
run_as_root = true
daemonize = false
pidfile = {_lua_string(self.pidfile)}
data_path = {_lua_string(data)}
interfaces = {{ "127.0.0.1" }}
use_ipv6 = false
c2s_ports = {{ {self.c2s_port} }}
s2s_ports = {{ {self.s2s_port} }}
c2s_direct_tls_ports = {{}}
s2s_direct_tls_ports = {{}}
http_ports = {{}}
https_ports = {{}}
component_ports = {{}}
log = {{ debug = {_lua_string(self.log_path)} }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "presence"; "posix"; }}
modules_disabled = {{ "s2s_bidi"; }}
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = {"true" if self.secure_auth else "false"}
ssl = {{ {ssl_options} }}
unbound = {{
    resolvconf = false;
    hoststxt = {_lua_string(hosts_file)};
    options = {{ {srv} }};
}}
admins = {{ {" ".join(_lua_string(a) + ";" for a in self.admins)} }}
VirtualHost {_lua_string(self.domain)}
""" + (f"Component {_lua_string(self.pubsub)} \"pubsub\"\n" if self.pubsub else "")
   + (f"Component {_lua_string(self.muc)} \"muc\"\n"
      # Anyone may create a room (XEP-0045 §10.1), locked until its owner configures it (§10.1.2, the default).
      "    restrict_room_creation = false\n"
      "    muc_room_locking = true\n" if self.muc else ""))

    def start(self, timeout: float = TIMEOUT) -> "ProsodyServer":
        log = open(self.workdir / "prosody.stdout.log", "wb")
        try:
            self.proc = subprocess.Popen(["prosody", "-F", "--config", str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"prosody exited with {self.proc.returncode} before listening\n{self.describe()}")
            try:
                with socket.create_connection(("127.0.0.1", self.c2s_port), timeout=0.5):
                    pass
                with socket.create_connection(("127.0.0.1", self.s2s_port), timeout=0.5):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"prosody did not listen within {timeout}s\n{self.describe()}")
                # Not a sleep to synchronize on: a bounded poll of the port, as nothing else tells us it is ready.
                time.sleep(0.05)

    def register(self, user: str, password: str) -> None:
        result = subprocess.run(["prosodyctl", "--config", str(self.config_path), "register", user, self.domain,
                                 password], capture_output=True, text=True, timeout=TIMEOUT)
        if result.returncode != 0:
            raise AssertionError(f"prosodyctl register {user} failed: {result.stdout}{result.stderr}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def describe(self, tail: int = 150) -> str:
        stdout = (self.workdir / "prosody.stdout.log")
        out = stdout.read_text(errors="replace") if stdout.exists() else ""
        return (f"--- prosody config {self.config_path} ---\n{self.config_path.read_text()}"
                f"--- prosody stdout ---\n{out}"
                f"--- prosody log (last {tail} lines) ---\n" + "\n".join(self.log_text().splitlines()[-tail:]))

    def stop(self, timeout: float = TIMEOUT) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def test_ca(tmp_path) -> TestCA:
    return TestCA(tmp_path / "ca")


@pytest.fixture
def prosody(request, tmp_path):
    """Factory: prosody(domain, cert, key, peers={domain: s2s_port}, cafile=None, secure_auth=False, pubsub=None,
    muc=None, admins=None) returns a ProsodyServer, not yet started (its ports are known, so the peer's config can
    name them); muc=True adds a MUC service at conference.<domain>. Stopped at teardown; its log is attached to a
    failing test's report."""
    servers: list[ProsodyServer] = []
    request.node.prosody_servers = servers

    def make(domain: str, cert: Path, key: Path, **options) -> ProsodyServer:
        server = ProsodyServer(tmp_path / f"prosody{len(servers)}", domain, cert, key, **options)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
