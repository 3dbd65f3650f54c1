"""A stand-in XEP-0357 app server for the push tests: a peer XMPP *service*, push.test, reached over S2S (an app
server is a service — push.example.net — never a user's account, and hushd refuses anything else).

Two raw streams, as between real servers:
  - hushd connects to it ([s2s.hosts] points push.test here): it offers STARTTLS (a self-signed certificate) and
    dialback, says every dialback key is valid (it is a test double, not an authoritative server), and records the
    stanzas that arrive, in order;
  - it connects to hushd to answer: STARTTLS with a certificate of the test CA hushd trusts ([s2s] ca_file), SASL
    EXTERNAL, then the answers.
Every read has a deadline (threads and queues, nothing sleeps).

    app = AppServer(tmp_path, test_ca); app.start()
    server = hush(..., **app.hush_sections())        # or merge them into the test's own sections
    push = app.next_stanza()                          # the next notification (an ElementTree element)
    app.answer(server.port("s2s"), push)              # an empty result; error="<error .../>" for an error
"""

from __future__ import annotations

import base64
import queue
import socket
import ssl
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import TIMEOUT
from federation import self_signed
from xmpp_raw import SASL_NS, STREAM_NS, TLS_NS, RawStream, q

SERVER_NS = "jabber:server"
DIALBACK_NS = "jabber:server:dialback"
DIALBACK_FEATURE_NS = "urn:xmpp:features:dialback"
DOMAIN = "push.test"


def s2s_header(to: str, from_: str, stream_id: str | None = None) -> str:
    id_attr = f" id='{stream_id}'" if stream_id else ""
    return (f"<?xml version='1.0'?><stream:stream xmlns='{SERVER_NS}' xmlns:stream='{STREAM_NS}' "
            f"xmlns:db='{DIALBACK_NS}' to='{to}' from='{from_}'{id_attr} version='1.0'>")


class AppServer:
    def __init__(self, workdir: Path, test_ca):
        self.server_cert = self_signed(Path(workdir) / "push-app", DOMAIN)
        self.client_cert = test_ca.issue(DOMAIN)  # for SASL EXTERNAL towards hushd
        self.ca_path = test_ca.cert_path
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.stanzas: queue.Queue = queue.Queue()  # what hushd sent (ElementTree elements), or an Exception
        self.streams: list[RawStream] = []
        self.stop = threading.Event()
        self._answering: RawStream | None = None

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def hush_sections(self, domain: str) -> dict:
        """Config sections for a hushd serving `domain` that can reach push.test and accept its answers."""
        return {
            "server": {"hosts": [domain]},
            "listen": [{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                       {"kind": "s2s", "address": "127.0.0.1", "port": 0}],
            "s2s": {"ca_file": str(self.ca_path)},
            "s2s.hosts": {DOMAIN: f"127.0.0.1:{self.port}"},
        }

    # -- hushd → push.test -------------------------------------------------------------------------------------

    def start(self) -> "AppServer":
        threading.Thread(target=self._accept, name="push-app-accept", daemon=True).start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for s in self.streams + ([self._answering] if self._answering else []):
            s.close()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(sock,), name="push-app-stream", daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            raw = RawStream(sock, timeout=TIMEOUT)
            self.streams.append(raw)
            header = raw.read_header()
            peer = header.get("from")
            raw.send(s2s_header(peer, DOMAIN, "s1") +
                     f"<stream:features><starttls xmlns='{TLS_NS}'><required/></starttls></stream:features>")
            raw.read_until(q(TLS_NS, "starttls"))
            raw.send(f"<proceed xmlns='{TLS_NS}'/>")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.server_cert[0]), str(self.server_cert[1]))
            raw.sock.settimeout(TIMEOUT)
            raw.sock = ctx.wrap_socket(raw.sock, server_side=True)
            raw._new_parser()
            raw.read_header()
            raw.send(s2s_header(peer, DOMAIN, "s2") +
                     f"<stream:features><dialback xmlns='{DIALBACK_FEATURE_NS}'><errors/></dialback>"
                     "</stream:features>")
            while not self.stop.is_set():
                try:
                    element = raw.read_element(timeout=0.5)
                except TimeoutError:
                    continue
                if element.tag == q(DIALBACK_NS, "result"):
                    raw.send(f"<db:result type='valid' from='{DOMAIN}' to='{element.get('from')}'/>")
                else:
                    self.stanzas.put(element)
        except Exception as e:  # noqa: BLE001 — handed to the test, which fails with it
            if not self.stop.is_set():
                self.stanzas.put(e)

    def next_stanza(self, timeout: float = TIMEOUT) -> ET.Element:
        """The next stanza hushd sent push.test (fails the test after `timeout`)."""
        try:
            element = self.stanzas.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"push.test received nothing within {timeout}s") from None
        if isinstance(element, Exception):
            raise AssertionError(f"push.test's stream from hushd failed: {element!r}")
        return element

    def received_nothing_more(self) -> bool:
        return self.stanzas.empty()

    # -- push.test → hushd -------------------------------------------------------------------------------------

    def answer(self, hush_s2s_port: int, hush_domain: str, request: ET.Element, error: str | None = None) -> None:
        """Answer `request` (an iq hushd sent): an empty result, or an error iq carrying `error` (an <error/>
        element's XML). One stream to hushd, opened on first use."""
        if self._answering is None:
            raw = RawStream.connect("127.0.0.1", hush_s2s_port, timeout=TIMEOUT)
            raw.open_stream(header=s2s_header(hush_domain, DOMAIN))
            raw.features()
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.load_cert_chain(str(self.client_cert[0]), str(self.client_cert[1]))
            raw.starttls(ctx)
            raw.open_stream(header=s2s_header(hush_domain, DOMAIN))
            raw.features()
            raw.send(f"<auth xmlns='{SASL_NS}' mechanism='EXTERNAL'>{base64.b64encode(DOMAIN.encode()).decode()}"
                     "</auth>")
            answer = raw.read_element()
            assert answer.tag == q(SASL_NS, "success"), ET.tostring(answer)
            raw.open_stream(header=s2s_header(hush_domain, DOMAIN))
            raw.features()
            self._answering = raw
        kind = "error" if error else "result"
        self._answering.send(f"<iq type='{kind}' id='{request.get('id')}' from='{request.get('to')}' "
                             f"to='{request.get('from')}'>{error or ''}</iq>")
