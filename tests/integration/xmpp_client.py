"""Real XMPP clients for the integration tests: slixmpp (Debian's python3-slixmpp) with queues of what each
received, and one asyncio loop per test that runs a scenario under a deadline and aborts its clients at the end.
conftest.py's `xmpp` fixture hands tests an XmppLoop.

HUSH_TEST_TIMEOUT  seconds for each wait (default 20)
"""

from __future__ import annotations

import asyncio
import os
import ssl

TIMEOUT = float(os.environ.get("HUSH_TEST_TIMEOUT", "20"))


class AuthFailed(Exception):
    pass


class Client:
    """A slixmpp ClientXMPP plus queues of what it received. Make it with XmppLoop.client(); use it inside
    XmppLoop.run()."""

    def __init__(self, jid: str, password: str, mech: str | None = "SCRAM-SHA-256",
                 loop: asyncio.AbstractEventLoop | None = None):
        import slixmpp

        loop = loop or asyncio.get_event_loop()
        self.xmpp = x = slixmpp.ClientXMPP(jid, password)
        x.loop = loop
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        if mech:
            x["feature_mechanisms"].use_mech = mech
        x.register_plugin("xep_0030")  # disco
        x.register_plugin("xep_0199")  # ping
        self.session = loop.create_future()       # result: bound JID; exception: AuthFailed / ConnectionError
        self.closed = asyncio.Event()             # the TCP connection is gone
        self.messages: asyncio.Queue = asyncio.Queue()
        self.message_errors: asyncio.Queue = asyncio.Queue()
        self.stream_errors: asyncio.Queue = asyncio.Queue()
        self.auth_failures: list = []

        def fail_session(exc: Exception) -> None:
            if not self.session.done():
                self.session.set_exception(exc)

        def on_session_start(_event) -> None:
            if not self.session.done():
                self.session.set_result(x.boundjid.full)

        def on_failed_auth(stanza) -> None:
            self.auth_failures.append(stanza)
            fail_session(AuthFailed(str(stanza)))

        def on_connection_failed(error) -> None:
            # slixmpp would retry forever with back-off; a test wants the error now.
            x.cancel_connection_attempt()
            fail_session(ConnectionError(f"connection failed: {error}"))

        def on_disconnected(reason) -> None:
            self.closed.set()
            fail_session(ConnectionError(f"disconnected before the session started: {reason}"))

        x.add_event_handler("session_start", on_session_start)
        x.add_event_handler("failed_auth", on_failed_auth)
        x.add_event_handler("failed_all_auth", lambda _e: fail_session(AuthFailed("no mechanism left")))
        x.add_event_handler("connection_failed", on_connection_failed)
        x.add_event_handler("disconnected", on_disconnected)
        x.add_event_handler("message", lambda m: self.messages.put_nowait(m))
        x.add_event_handler("message_error", lambda m: self.message_errors.put_nowait(m))
        x.add_event_handler("stream_error", lambda e: self.stream_errors.put_nowait(e))

        # Every stanza received, in order, for expect_stanza() / received_matching(). The filter sees them before
        # slixmpp's handlers and passes them on unchanged.
        self.inbox: list = []
        self._inbox_changed = asyncio.Event()

        def record(stanza):
            self.inbox.append(stanza)
            self._inbox_changed.set()
            return stanza

        x.add_filter("in", record)

    @property
    def jid(self) -> str:
        """The full JID the server bound."""
        return self.xmpp.boundjid.full

    async def connect(self, port: int, direct_tls: bool = False, presence: bool = True,
                      timeout: float = TIMEOUT) -> str:
        """Connect, authenticate, bind; return the bound full JID. Raises AuthFailed or ConnectionError."""
        if direct_tls:
            self.xmpp.connect(address=("127.0.0.1", port), use_ssl=True, force_starttls=False,
                              disable_starttls=True)
        else:
            self.xmpp.connect(address=("127.0.0.1", port))  # STARTTLS, mandatory (force_starttls=True)
        try:
            jid = await asyncio.wait_for(asyncio.shield(self.session), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.xmpp.requested_jid}: no session within {timeout}s") from None
        if presence:
            self.xmpp.send_presence()
            # The server handles one stream's stanzas in order: once the ping is answered, the presence has been
            # processed and this resource is available (a message to the bare JID sent by another client right
            # after connect() returns would otherwise race with it).
            await self.ping_server(timeout)
        return jid

    async def ping_server(self, timeout: float = TIMEOUT) -> None:
        """XEP-0199 ping to our server; raises unless it answers with a result."""
        await self.xmpp["xep_0199"].send_ping(self.xmpp.boundjid.domain, timeout=timeout)

    async def wait_auth_failure(self, timeout: float = TIMEOUT):
        """Expect the login to fail with failed_auth; return the <failure/> stanza."""
        try:
            await asyncio.wait_for(asyncio.shield(self.session), timeout)
        except AuthFailed:
            return self.auth_failures[0]
        except asyncio.TimeoutError:
            raise AssertionError(f"no failed_auth within {timeout}s") from None
        raise AssertionError(f"login unexpectedly succeeded as {self.jid}")

    def send_message(self, to: str, body: str) -> None:
        self.xmpp.send_message(mto=to, mbody=body, mtype="chat")

    async def next_message(self, timeout: float = TIMEOUT):
        try:
            return await asyncio.wait_for(self.messages.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.xmpp.boundjid}: no message within {timeout}s") from None

    async def next_message_error(self, timeout: float = TIMEOUT):
        try:
            return await asyncio.wait_for(self.message_errors.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.xmpp.boundjid}: no message error within {timeout}s") from None

    async def next_stream_error(self, timeout: float = TIMEOUT):
        try:
            return await asyncio.wait_for(self.stream_errors.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.xmpp.boundjid}: no stream error within {timeout}s") from None

    def received_matching(self, predicate) -> list:
        """The stanzas in the inbox (received and not yet taken by expect_stanza) for which predicate is true."""
        return [st for st in self.inbox if predicate(st)]

    async def expect_stanza(self, predicate, what: str = "a matching stanza", timeout: float = TIMEOUT):
        """Wait for the first received stanza (already received, or arriving within timeout) for which predicate
        (called with the slixmpp stanza; its .xml is the ElementTree element) is true; take it out of the inbox and
        return it. Others stay in the inbox."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for i, st in enumerate(self.inbox):
                if predicate(st):
                    del self.inbox[i]
                    return st
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                stanzas = [st for st in self.inbox if st.xml.tag.split("}")[-1] in ("message", "presence", "iq")]
                raise AssertionError(f"{self.xmpp.boundjid}: no {what} within {timeout}s; stanzas received and not "
                                     f"taken (last 20 of {len(stanzas)}): "
                                     + " | ".join(str(st) for st in stanzas[-20:]))
            self._inbox_changed.clear()  # no await since the scan: nothing can have arrived in between
            try:
                await asyncio.wait_for(self._inbox_changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def iq(self, itype: str, payload: str | None = None, to: str | None = None, timeout: float = TIMEOUT):
        """Send an iq of type get/set with `payload` (XML text) as its child, to `to` (None: no 'to', i.e. the
        account itself). Returns the answer (a result or an error iq: no exception for an error); raises
        AssertionError when none comes within timeout."""
        import xml.etree.ElementTree as ET

        from slixmpp.exceptions import IqError, IqTimeout

        iq = self.xmpp.make_iq(ito=to, itype=itype)
        if payload is not None:
            iq.xml.append(ET.fromstring(payload))
        try:
            return await iq.send(timeout=timeout)
        except IqError as e:
            return e.iq
        except IqTimeout:
            raise AssertionError(f"{self.xmpp.boundjid}: no answer to {iq} within {timeout}s") from None

    async def wait_closed(self, timeout: float = TIMEOUT) -> None:
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.xmpp.boundjid}: connection still open after {timeout}s") from None

    async def disconnect(self, timeout: float = TIMEOUT) -> None:
        if self.xmpp.transport is None:
            return
        self.xmpp.disconnect(wait=timeout / 2)
        await self.wait_closed(timeout)


class XmppLoop:
    """An asyncio loop per test. run(coroutine) runs a scenario with an overall deadline; client() makes
    Clients that are aborted at teardown."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.clients: list[Client] = []

    def client(self, jid: str, password: str, mech: str | None = "SCRAM-SHA-256") -> Client:
        c = Client(jid, password, mech, self.loop)
        self.clients.append(c)
        return c

    def run(self, coroutine, timeout: float = TIMEOUT * 6):
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, timeout))

    def close(self) -> None:
        async def shutdown():
            for c in self.clients:
                c.xmpp.cancel_connection_attempt()
                transport = c.xmpp.transport
                if transport is not None:
                    # Not slixmpp's abort(): it calls close() then abort(), and abort() on an asyncio SSL
                    # transport that close() already detached raises AttributeError.
                    try:
                        transport.abort()
                    except Exception:  # already closing: connection_lost follows anyway
                        pass
            for c in self.clients:
                if c.xmpp.transport is not None or not c.closed.is_set():
                    try:
                        await asyncio.wait_for(c.closed.wait(), 2)
                    except asyncio.TimeoutError:
                        pass

        try:
            self.loop.run_until_complete(shutdown())
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            asyncio.set_event_loop(None)
            self.loop.close()
