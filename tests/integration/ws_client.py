"""A raw RFC 7395 (XMPP over WebSocket) client for the integration tests, on Debian's python3-websockets (10.4).

Every message the server sends is parsed on its own with xml.etree (RFC 7395 §3.3.3: each WebSocket message is one
complete XML element): two elements, half an element, text or an undeclared prefix (stream:error without
xmlns:stream) fail the parse, and a stanza without an explicit xmlns='jabber:client' is not in that namespace.
Every wait has a deadline; nothing sleeps.

    ws = await WsSession.connect(f"wss://127.0.0.1:{port}/xmpp-websocket")
    jid = await ws.login("alice", "secret", resource="browser")   # open, SCRAM-SHA-256, restart, bind
    await ws.send("<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>hi</body></message>")
    reply = await ws.read_until(lambda e: e.tag == q(CLIENT_NS, "message"))
    await ws.close_stream()                                            # <close/> both ways, WebSocket closed
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import ssl
import xml.etree.ElementTree as ET

import websockets
import websockets.exceptions

from xmpp_client import TIMEOUT
from xmpp_raw import BIND_NS, CLIENT_NS, SASL_NS, STREAM_NS, q, stream_error_condition

FRAMING_NS = "urn:ietf:params:xml:ns:xmpp-framing"
SASL2_NS = "urn:xmpp:sasl:2"
BIND2_NS = "urn:xmpp:bind:0"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
PATH = "/xmpp-websocket"


def insecure_tls() -> ssl.SSLContext:
    """hushd's certificate is self-signed: clients must not verify it."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def framed(text: str) -> ET.Element:
    """One server message as RFC 7395 wants it: exactly one complete element (ET.fromstring refuses two elements,
    half of one, bare text and undeclared prefixes), and a stanza explicitly in jabber:client."""
    try:
        element = ET.fromstring(text)
    except ET.ParseError as e:
        raise AssertionError(f"a server message that is not one complete XML element ({e}): {text!r}") from None
    local = element.tag.split("}")[-1]
    if local in ("message", "presence", "iq"):
        assert element.tag == q(CLIENT_NS, local), f"a stanza without xmlns='jabber:client': {text!r}"
    return element


live: list["WsSession"] = []  # every session opened, for abort_all() at the end of a test


async def abort_all() -> None:
    """Drop every session still open without a closing handshake (websockets would otherwise wait close_timeout
    for the server to end TLS when the test's loop shuts down)."""
    sessions = list(live)
    live.clear()
    for session in sessions:
        if session.conn.transport is not None:
            session.conn.transport.abort()
    for session in sessions:
        try:
            await asyncio.wait_for(session.conn.wait_closed(), 2)
        except asyncio.TimeoutError:
            pass


class WsClosed(Exception):
    """The WebSocket closed while a message was expected."""


class WsSession:
    def __init__(self, conn):
        self.conn = conn
        self.received: list[str] = []  # every message from the server, as text (for failure messages)

    @classmethod
    async def connect(cls, url: str, *, origin: str | None = None, headers: dict | None = None,
                      subprotocols: tuple[str, ...] | None = ("xmpp",), max_size: int | None = 2 ** 22,
                      timeout: float = TIMEOUT) -> "WsSession":
        """Open the WebSocket (raises websockets.exceptions.InvalidStatusCode when the server refuses the upgrade)."""
        kwargs = {"subprotocols": list(subprotocols) if subprotocols else None, "open_timeout": timeout,
                  "close_timeout": timeout, "ping_interval": None, "max_size": max_size}
        if url.startswith("wss:"):
            kwargs["ssl"] = insecure_tls()
        if origin is not None:
            kwargs["origin"] = origin
        if headers:
            kwargs["extra_headers"] = headers
        conn = await websockets.connect(url, **kwargs)
        session = cls(conn)
        live.append(session)
        if subprotocols and "xmpp" in subprotocols:
            assert conn.subprotocol == "xmpp", f"the server did not select the xmpp subprotocol: {conn.subprotocol!r}"
        return session

    # --- plumbing ---------------------------------------------------------------------------------------------

    def transcript(self) -> str:
        return "\n".join(self.received[-30:])

    async def send(self, data: str | bytes) -> None:
        await self.conn.send(data)

    async def recv(self, timeout: float = TIMEOUT) -> ET.Element:
        """The next server message, checked and parsed on its own."""
        try:
            message = await asyncio.wait_for(self.conn.recv(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no message from the server within {timeout}s; received:\n{self.transcript()}") \
                from None
        except websockets.exceptions.ConnectionClosed as e:
            raise WsClosed(f"WebSocket closed ({e}); received:\n{self.transcript()}") from None
        assert isinstance(message, str), f"a binary frame from the server (RFC 7395 uses text frames): {message!r}"
        self.received.append(message)
        return framed(message)

    async def read_until(self, predicate, what: str = "a matching element", timeout: float = TIMEOUT) -> ET.Element:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout}s; received:\n{self.transcript()}")
            element = await self.recv(remaining)  # its AssertionError at the deadline says what came instead
            if predicate(element):
                return element

    async def wait_closed(self, timeout: float = TIMEOUT) -> int | None:
        """Wait until the WebSocket is closed; return the close code (1000 normal, 1009 too big, 1006 no frame)."""
        try:
            await asyncio.wait_for(self.conn.wait_closed(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"the WebSocket is still open after {timeout}s; received:\n{self.transcript()}") \
                from None
        return self.conn.close_code

    async def drain_until_closed(self, timeout: float = TIMEOUT) -> list[ET.Element]:
        """Every message until the server closes the WebSocket."""
        seen = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"the WebSocket is still open after {timeout}s; received:\n{self.transcript()}")
            try:
                seen.append(await self.recv(remaining))
            except WsClosed:
                return seen

    async def expect_stream_error(self, condition: str, timeout: float = TIMEOUT) -> ET.Element:
        """The server ends the stream for `condition`: <stream:error/> with it, then <close/> (the last message),
        then the WebSocket closes. Returns the error element."""
        seen = await self.drain_until_closed(timeout)
        errors = [e for e in seen if e.tag == q(STREAM_NS, "error")]
        assert [stream_error_condition(e) for e in errors] == [condition], self.transcript()
        assert len(seen) >= 2 and seen[-1].tag == q(FRAMING_NS, "close") and seen[-2] is errors[0], \
            f"expected <stream:error/> then <close/> last; received:\n{self.transcript()}"
        return errors[0]

    # --- the stream -------------------------------------------------------------------------------------------

    async def open(self, to: str = "localhost") -> ET.Element:
        """Send <open/>; return the server's <open/> (checked: framing namespace, from, id, version, xml:lang)."""
        await self.send(f"<open xmlns='{FRAMING_NS}' to='{to}' version='1.0'/>")
        opened = await self.recv()
        check_open(opened, to, self.transcript())
        return opened

    async def features(self) -> ET.Element:
        features = await self.recv()
        assert features.tag == q(STREAM_NS, "features"), f"expected <stream:features/>:\n{self.transcript()}"
        return features

    async def scram(self, user: str, password: str, mechanism: str = "SCRAM-SHA-256", cb_type: str | None = None,
                    cb_data: bytes = b"") -> ET.Element:
        """A SCRAM exchange, without channel binding (gs2 'n') unless cb_type is given (a -PLUS mechanism); returns
        <success/> (its server signature checked) or <failure/>."""
        digest = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-1": hashlib.sha1}[mechanism.removesuffix("-PLUS")]
        nonce = b64(os.urandom(18))
        gs2 = f"p={cb_type},," if cb_type else "n,,"
        first_bare = f"n={user},r={nonce}"
        await self.send(f"<auth xmlns='{SASL_NS}' mechanism='{mechanism}'>{b64(gs2 + first_bare)}</auth>")
        challenge = await self.recv()
        if challenge.tag != q(SASL_NS, "challenge"):
            return challenge
        server_first = base64.b64decode(challenge.text).decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        assert attrs["r"].startswith(nonce), server_first
        salted = hashlib.pbkdf2_hmac(digest().name, password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", digest).digest()
        stored_key = digest(client_key).digest()
        without_proof = "c=" + b64(gs2.encode() + cb_data) + ",r=" + attrs["r"]
        auth_message = ",".join([first_bare, server_first, without_proof]).encode()
        signature = hmac.new(stored_key, auth_message, digest).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        await self.send(f"<response xmlns='{SASL_NS}'>{b64(without_proof + ',p=' + b64(proof))}</response>")
        answer = await self.recv()
        if answer.tag == q(SASL_NS, "success"):
            server_key = hmac.new(salted, b"Server Key", digest).digest()
            expected = b64(hmac.new(server_key, auth_message, digest).digest())
            assert base64.b64decode(answer.text or "").decode() == "v=" + expected, "wrong SCRAM server signature"
        return answer

    def server_certificate(self) -> bytes | None:
        """The server's certificate (DER) on wss://, None on ws://."""
        tls = self.conn.transport.get_extra_info("ssl_object")
        return tls.getpeercert(binary_form=True) if tls is not None else None

    async def bind(self, resource: str = "ws") -> str:
        await self.send(f"<iq xmlns='{CLIENT_NS}' type='set' id='bind1'><bind xmlns='{BIND_NS}'>"
                        f"<resource>{resource}</resource></bind></iq>")
        reply = await self.read_until(lambda e: e.tag == q(CLIENT_NS, "iq") and e.get("id") == "bind1", "bind result")
        jid = reply.findtext(f"{q(BIND_NS, 'bind')}/{q(BIND_NS, 'jid')}")
        assert reply.get("type") == "result" and jid, self.transcript()
        return jid

    async def authenticate(self, user: str, password: str, domain: str = "localhost",
                           mechanism: str = "SCRAM-SHA-256") -> ET.Element:
        """<open/>, SASL, the restarted <open/>; return the features offered after authentication."""
        await self.open(domain)
        features = await self.features()
        assert mechanism in mechanisms(features), self.transcript()
        answer = await self.scram(user, password, mechanism)
        assert answer.tag == q(SASL_NS, "success"), self.transcript()
        await self.open(domain)  # RFC 7395 §3.5: a new <open/> restarts the stream
        return await self.features()

    async def login(self, user: str, password: str, resource: str = "ws", domain: str = "localhost") -> str:
        features = await self.authenticate(user, password, domain)
        assert features.find(q(BIND_NS, "bind")) is not None, self.transcript()
        return await self.bind(resource)

    async def online(self) -> None:
        """What a client does once bound: fetch the roster, send initial presence; returns once both were handled."""
        await self.send(f"<iq xmlns='{CLIENT_NS}' type='get' id='roster0'><query xmlns='jabber:iq:roster'/></iq>")
        await self.send(f"<presence xmlns='{CLIENT_NS}'/>")
        await self.ping("online")

    async def ping(self, ident: str = "ping1", to: str = "localhost") -> None:
        """A server ping round trip: the session is alive and everything sent before it was handled."""
        await self.send(f"<iq xmlns='{CLIENT_NS}' type='get' id='{ident}' to='{to}'><ping xmlns='urn:xmpp:ping'/></iq>")
        reply = await self.read_until(lambda e: e.tag == q(CLIENT_NS, "iq") and e.get("id") == ident,
                                      f"the answer to ping {ident}")
        assert reply.get("type") == "result", self.transcript()

    async def close_stream(self, timeout: float = TIMEOUT) -> int | None:
        """<close/> from the client: the server answers <close/> and closes the WebSocket. Returns the close code."""
        await self.send(f"<close xmlns='{FRAMING_NS}'/>")
        await self.read_until(lambda e: e.tag == q(FRAMING_NS, "close"), "the server's <close/>", timeout)
        return await self.wait_closed(timeout)

    async def abort(self) -> None:
        if self.conn.transport is not None:
            self.conn.transport.abort()


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def check_open(opened: ET.Element, host: str, transcript: str = "") -> None:
    assert opened.tag == q(FRAMING_NS, "open"), f"expected the server's <open/>:\n{transcript}"
    assert opened.get("from") == host and opened.get("version") == "1.0", transcript
    assert opened.get("id") and opened.get(XML_LANG) == "en" and len(opened) == 0, transcript


def mechanisms(features: ET.Element) -> list[str]:
    found = features.find(q(SASL_NS, "mechanisms"))
    return [m.text for m in found] if found is not None else []
