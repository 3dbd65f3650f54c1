"""A tiny raw-socket XMPP client for tests that need to send exactly the bytes a real client library would never
send (PLAIN before TLS, a stream to an unknown host, ...).

It parses what the server sends with an incremental XML parser, so tests look at real elements rather than
matching substrings. Every read has a deadline; nothing here sleeps.

    s = RawStream.connect("127.0.0.1", port)
    s.open_stream("localhost")          # sends the stream header, returns the server's <stream:stream> element
    features = s.read_element()         # the <stream:features/> element
    s.starttls()                        # optional: upgrade, then open_stream() again
    s.auth_plain("alice", "secret")     # returns the <success/> or <failure/> element
"""

from __future__ import annotations

import base64
import select
import socket
import ssl
import struct
import time
import xml.etree.ElementTree as ET

STREAM_NS = "http://etherx.jabber.org/streams"
CLIENT_NS = "jabber:client"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
STREAMS_ERR_NS = "urn:ietf:params:xml:ns:xmpp-streams"
STANZAS_ERR_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"

DEFAULT_TIMEOUT = 10.0


def q(ns: str, name: str) -> str:
    """Clark notation: q(SASL_NS, 'failure') == '{urn:...:xmpp-sasl}failure'."""
    return "{%s}%s" % (ns, name)


def stream_header(to: str | None, lang: str = "en") -> str:
    to_attr = f" to='{to}'" if to is not None else ""
    return (f"<?xml version='1.0'?><stream:stream{to_attr} version='1.0' xml:lang='{lang}' "
            f"xmlns='{CLIENT_NS}' xmlns:stream='{STREAM_NS}'>")


def children_names(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


def stream_error_condition(element: ET.Element) -> str | None:
    """The defined condition of a <stream:error/> element (e.g. 'policy-violation'), or None."""
    if element.tag != q(STREAM_NS, "error"):
        return None
    for child in element:
        if child.tag.startswith("{%s}" % STREAMS_ERR_NS) and child.tag != q(STREAMS_ERR_NS, "text"):
            return child.tag.split("}", 1)[1]
    return None


class StreamClosed(Exception):
    """The server closed the stream (</stream:stream>) or the TCP connection while we expected more."""


class RawStream:
    def __init__(self, sock: socket.socket, timeout: float = DEFAULT_TIMEOUT):
        self.sock = sock
        self.timeout = timeout
        self.received = bytearray()  # everything read so far on this connection (for failure messages)
        self.eof = False
        self.stream_closed = False  # saw </stream:stream>
        self.root: ET.Element | None = None
        self._pending: list[ET.Element] = []
        self._new_parser()

    @classmethod
    def connect(cls, host: str, port: int, timeout: float = DEFAULT_TIMEOUT, direct_tls: bool = False,
                source: str | None = None) -> "RawStream":
        """`source`: the local address to connect from (any 127.x reaches a loopback listener)."""
        sock = socket.create_connection((host, port), timeout=timeout,
                                        source_address=(source, 0) if source else None)
        stream = cls(sock, timeout)
        if direct_tls:
            stream._wrap_tls()
        return stream

    # --- plumbing ---------------------------------------------------------------------------------------------

    def _new_parser(self) -> None:
        self._parser = ET.XMLPullParser(("start", "end"))
        self._depth = 0
        self.root = None
        self.stream_closed = False

    def _wrap_tls(self, ctx: ssl.SSLContext | None = None) -> None:
        """Upgrade to TLS; `ctx` may carry a client certificate (a peer server doing SASL EXTERNAL)."""
        if ctx is None:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _feed(self, data: bytes) -> None:
        self._parser.feed(data)
        for event, element in self._parser.read_events():
            if event == "start":
                if self._depth == 0:
                    self.root = element
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    self.stream_closed = True
                elif self._depth == 1:
                    self._pending.append(element)
                    if self.root is not None:
                        self.root.remove(element)

    def _read_some(self, deadline: float) -> None:
        """Read one chunk (or note EOF); raise TimeoutError at the deadline."""
        if self.eof:
            raise StreamClosed(f"connection closed; received so far: {self.received_text()!r}")
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no data within the deadline; received so far: {self.received_text()!r}")
            # An SSL socket may hold decrypted bytes that select() cannot see.
            pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0
            if not pending:
                readable, _, _ = select.select([self.sock], [], [], remaining)
                if not readable:
                    continue
            self.sock.settimeout(max(remaining, 0.01))
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
                data = b""
            except ssl.SSLWantReadError:
                continue
            if not data:
                self.eof = True
                return
            self.received += data
            self._feed(data)
            return

    def received_text(self) -> str:
        return self.received.decode("utf-8", "replace")

    # --- reading ----------------------------------------------------------------------------------------------

    def read_header(self, timeout: float | None = None) -> ET.Element:
        """Wait for the server's <stream:stream> start tag."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self.root is None:
            self._read_some(deadline)
            if self.eof and self.root is None:
                raise StreamClosed(f"closed before a stream header; received: {self.received_text()!r}")
        return self.root

    def read_element(self, timeout: float | None = None) -> ET.Element:
        """The next top-level child of the stream (a stanza, features, a stream error, ...)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self._pending:
            if self.stream_closed or self.eof:
                raise StreamClosed(f"stream closed; received: {self.received_text()!r}")
            self._read_some(deadline)
        return self._pending.pop(0)

    def read_until(self, tag: str, timeout: float | None = None) -> ET.Element:
        """Skip top-level elements until one with this (Clark notation) tag arrives."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            element = self.read_element(max(deadline - time.monotonic(), 0.001))
            if element.tag == tag:
                return element

    def wait_closed(self, timeout: float | None = None) -> None:
        """Wait until the server closes the TCP connection (reading and discarding whatever comes first)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.eof:
            self._read_some(deadline)

    # --- conversations ----------------------------------------------------------------------------------------

    def open_stream(self, to: str | None = "localhost", header: str | None = None) -> ET.Element:
        """Send a stream header (`header` replaces the client one); return the server's stream header element."""
        self._new_parser()
        self.send(header if header is not None else stream_header(to))
        return self.read_header()

    def features(self) -> ET.Element:
        return self.read_until(q(STREAM_NS, "features"))

    def starttls(self, ctx: ssl.SSLContext | None = None) -> None:
        """<starttls/>, wait for <proceed/>, upgrade the socket. Open a new stream afterwards."""
        self.send(f"<starttls xmlns='{TLS_NS}'/>")
        reply = self.read_element()
        if reply.tag != q(TLS_NS, "proceed"):
            raise AssertionError(f"expected <proceed/>, got {ET.tostring(reply)!r}")
        self._wrap_tls(ctx)

    def secure(self, domain: str = "localhost") -> ET.Element:
        """Open a stream, STARTTLS, open the stream again inside TLS; return the features offered there."""
        self.open_stream(domain)
        self.features()
        self.starttls()
        self.open_stream(domain)
        return self.features()

    def auth_plain(self, username: str, password: str) -> ET.Element:
        """Send SASL PLAIN; return the server's answer (<success/> or <failure/>)."""
        token = base64.b64encode(b"\0" + username.encode() + b"\0" + password.encode()).decode()
        self.send(f"<auth xmlns='{SASL_NS}' mechanism='PLAIN'>{token}</auth>")
        return self.read_element()

    def bind(self, resource: str = "raw") -> str:
        """Bind a resource on a freshly opened authenticated stream; return the full JID."""
        self.send(f"<iq type='set' id='bind1'><bind xmlns='{BIND_NS}'><resource>{resource}</resource></bind></iq>")
        reply = self.read_until(q(CLIENT_NS, "iq"))
        jid = reply.find(f"{q(BIND_NS, 'bind')}/{q(BIND_NS, 'jid')}")
        if reply.get("type") != "result" or jid is None or not jid.text:
            raise AssertionError(f"bind failed: {ET.tostring(reply)!r}")
        return jid.text

    def login(self, username: str, password: str, domain: str = "localhost", resource: str = "raw") -> str:
        """STARTTLS (unless already on TLS), PLAIN, bind. Return the bound full JID."""
        self.authenticate(username, password, domain)
        return self.bind(resource)

    def authenticate(self, username: str, password: str, domain: str = "localhost") -> ET.Element:
        """STARTTLS (unless already on TLS), PLAIN, and the restarted stream; return its features (bind, sm...)."""
        self.open_stream(domain)
        features = self.features()
        if not isinstance(self.sock, ssl.SSLSocket):
            if features.find(q(TLS_NS, "starttls")) is None:
                raise AssertionError(f"no <starttls/> offered: {ET.tostring(features)!r}")
            self.starttls()
            self.open_stream(domain)
            features = self.features()
        answer = self.auth_plain(username, password)
        if answer.tag != q(SASL_NS, "success"):
            raise AssertionError(f"PLAIN failed: {ET.tostring(answer)!r}")
        self.open_stream(domain)
        return self.features()

    def cut(self) -> None:
        """Drop the TCP connection the way a phone losing its network does to the server: no closing handshake,
        a reset rather than a FIN (SO_LINGER 0), whatever was in flight lost."""
        raw = self.sock
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
