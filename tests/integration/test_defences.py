"""Server-wide defences end to end (issue 6): rate policies, user consensus after K users block (XEP-0191) or
report (XEP-0377) a sender over real S2S, outbound protection of a compromised local account, admin notices, the
admin API's reports and flagged accounts, and imports with a trust level over HTTPS."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from federation import TestCA
from test_antispim import STANZAS_NS, is_challenge, is_chat, is_error_from
from test_blocklist import start_server
from test_federation import free_port
from test_im import PASSWORDS, login
from xmpp_raw import CLIENT_NS, q

BLOCKLIST_NS = "urn:hush:blocklist:0"


def with_http(**sections) -> dict:
    return {"listen": [{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                       {"kind": "http", "address": "127.0.0.1", "port": 0}], **sections}


def call(server, method: str, path: str, token: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port("http"), timeout=10)
    conn.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
    res = conn.getresponse()
    body = res.read().decode()
    conn.close()
    return res.status, body


def metric(server, line_prefix: str) -> int:
    _, text = call(server, "GET", "/metrics")
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return int(line.split()[-1])
    raise AssertionError(f"no metric {line_prefix} in\n{text}")


def error_of(st) -> tuple[str, str]:
    """(type, text) of an error stanza."""
    error = st.xml.find(q(CLIENT_NS, "error"))
    return error.get("type"), error.findtext(q(STANZAS_NS, "text")) or ""


def is_headline(subject_part: str):
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, "message") and e.get("type") == "headline"
                and subject_part in (e.findtext(q(CLIENT_NS, "subject")) or ""))
    return match


def test_rate_policy_refuses_a_fast_stranger(hush, xmpp):
    """Two stranger messages a minute from one sender: the third is refused with policy-violation naming the limit;
    the refusal is counted per policy in /metrics."""
    server = hush(**with_http(antispim={"chain": ["rate", "challenge"], "trust_local_users": False},
                              **{"antispim.rate.messages": {"sender": "2/min"}}))
    server.adduser("bob@localhost", PASSWORDS["bob"])
    server.adduser("mallory@localhost", PASSWORDS["dave"])

    async def scenario():
        mallory = xmpp.client("mallory@localhost/x", PASSWORDS["dave"])
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "one")
        await mallory.expect_stanza(is_challenge("bob@localhost"), "the challenge (the first message is held)")
        mallory.send_message("bob@localhost", "two")
        mallory.send_message("bob@localhost", "three")
        err = await mallory.expect_stanza(is_error_from("bob@localhost", "policy-violation"), "the rate refusal")
        kind, text = error_of(err)
        assert kind == "modify"  # RFC 6120 §8.3.3.12
        assert "limit 2 per minute per sender" in text, text

    xmpp.run(scenario())
    assert metric(server, 'hush_antispim_verdicts_total{policy="rate",verdict="reject",mode="enforced"}') == 1


def test_consensus_after_k_users_block_and_report_over_s2s(hush, xmpp):
    """u1 blocks mallory@b.test (XEP-0191), u2 blocks and reports with stanza ids (XEP-0377): with users = 2 the
    sender goes on a.test's server-wide list (published), u3 then refuses mallory's invitation, the admin hears of
    it, and the report is listed by the API and hushctl."""
    port_a, port_b = free_port(), free_port()
    a = start_server(hush, "a.test", port_a, {"b.test": port_b}, http=True,
                     server={"admins": ["admin@a.test"]},
                     antispim={"chain": ["blocklist", "challenge"]},
                     **{"antispim.consensus": {"users": 2, "voter_min_age_hours": 0, "voter_min_contacts": 0}})
    b = start_server(hush, "b.test", port_b, {"a.test": port_a}, antispim={"chain": ["pass"]})
    for user in ("u1", "u2", "u3", "admin"):
        a.adduser(f"{user}@a.test", "a-password-1")
    b.adduser("mallory@b.test", PASSWORDS["dave"])
    token = a.hushctl("token", "create", "ops").stdout.strip()

    async def scenario():
        admin = xmpp.client("admin@a.test/desk", "a-password-1")
        await login(admin, a.port("c2s"))
        u1 = xmpp.client("u1@a.test/x", "a-password-1")
        u2 = xmpp.client("u2@a.test/x", "a-password-1")
        await login(u1, a.port("c2s"))
        await login(u2, a.port("c2s"))
        block = "<block xmlns='urn:xmpp:blocking'><item jid='mallory@b.test'/></block>"
        assert (await u1.iq("set", block)).xml.get("type") == "result"
        report = ("<block xmlns='urn:xmpp:blocking'><item jid='mallory@b.test'>"
                  "<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'>"
                  "<stanza-id xmlns='urn:xmpp:sid:0' by='u2@a.test' id='spam-1'/>"
                  "<text xml:lang='en'>pills again</text></report></item></block>")
        assert (await u2.iq("set", report)).xml.get("type") == "result"
        notice = await admin.expect_stanza(is_headline("user consensus blocked jid mallory@b.test"),
                                           "the admin's notice")
        assert "local users weighing 2 voters" in notice.xml.findtext(q(CLIENT_NS, "body"))

        mallory = xmpp.client("mallory@b.test/bot", PASSWORDS["dave"])
        await login(mallory, b.port("c2s"))
        mallory.send_message("u3@a.test", "cheap pills")
        err = await mallory.expect_stanza(is_error_from("u3@a.test", "policy-violation"), "u3's server refuses")
        assert "mallory@b.test" in error_of(err)[1]

    xmpp.run(scenario())
    status, body = call(a, "GET", "/blocklist.xml")
    entry = ET.fromstring(body).find(f"{{{BLOCKLIST_NS}}}entry")
    assert (entry.get("type"), entry.get("value"), entry.get("source")) == ("jid", "mallory@b.test", "user consensus")
    assert entry.get("expires")
    status, body = call(a, "GET", "/api/reports", token)
    assert status == 200
    reports = json.loads(body)
    assert len(reports) == 1
    assert reports[0]["reporter"] == "u2@a.test" and reports[0]["reported"] == "mallory@b.test"
    assert reports[0]["reason"] == "spam" and reports[0]["stanza_ids"] == ["spam-1"]
    assert reports[0]["text"] == "pills again"
    assert call(a, "GET", "/api/reports?limit=zero", token)[0] == 400
    assert call(a, "GET", "/api/reports", "wrong-token")[0] == 401
    listed = a.hushctl("reports").stdout
    assert "u2@a.test reported mallory@b.test\tspam\tspam-1\tpills again" in listed
    assert metric(a, 'hush_antispim_consensus_total{event="block"}') == 1
    assert metric(a, 'hush_antispim_consensus_total{event="vote"}') == 2


def test_consensus_dry_run_only_counts(hush, xmpp):
    server = hush(**with_http(antispim={"chain": ["blocklist"]},
                              **{"antispim.consensus": {"users": 1, "dry_run": True, "voter_min_age_hours": 0,
                                                        "voter_min_contacts": 0}}))
    server.adduser("u1@localhost", "a-password-1")

    async def scenario():
        u1 = xmpp.client("u1@localhost/x", "a-password-1")
        await login(u1, server.port("c2s"))
        block = "<block xmlns='urn:xmpp:blocking'><item jid='bot@spam.test'/></block>"
        assert (await u1.iq("set", block)).xml.get("type") == "result"
        await server.wait_log("antispim: consensus (dry run) would block jid bot@spam.test")

    xmpp.run(scenario())
    assert metric(server, 'hush_antispim_consensus_total{event="would_block"}') == 1
    assert "bot@spam.test" not in call(server, "GET", "/blocklist.xml")[1]


def test_a_compromised_account_is_throttled_then_suspended_until_cleared(hush, xmpp):
    """alice (a new account) writes to ever more strangers: past 2 she is throttled and flagged, past 4 suspended;
    her contacts still get her messages; the admin is told; the API lists and clears the flag."""
    server = hush(**with_http(server={"hosts": ["localhost"], "admins": ["admin@localhost"]},
                              antispim={"chain": ["pass"], "trust_local_users": False},
                              **{"antispim.outbound": {"new_throttle_at": 2, "new_suspend_at": 4}}))
    for user in ("alice", "admin", "s1", "s2", "s3", "s4", "s5", "s6"):
        server.adduser(f"{user}@localhost", "a-password-1")
    token = server.hushctl("token", "create", "ops").stdout.strip()

    async def scenario():
        admin = xmpp.client("admin@localhost/desk", "a-password-1")
        await login(admin, server.port("c2s"))
        s1 = xmpp.client("s1@localhost/x", "a-password-1")
        await login(s1, server.port("c2s"))
        alice = xmpp.client("alice@localhost/x", "a-password-1")
        await login(alice, server.port("c2s"))
        for n in (1, 2):
            alice.send_message(f"s{n}@localhost", f"hello s{n}")
        await s1.expect_stanza(is_chat("alice@localhost", "hello s1"), "the first contact")
        alice.send_message("s3@localhost", "hello s3")
        err = await alice.expect_stanza(is_error_from("s3@localhost", "policy-violation"), "the throttle")
        assert error_of(err) == ("wait", "you have contacted too many new people recently; try again later")
        await admin.expect_stanza(is_headline("account alice@localhost flagged"), "the flag notice")
        alice.send_message("s4@localhost", "hello s4")
        await alice.expect_stanza(is_error_from("s4@localhost", "policy-violation"), "still throttled")
        alice.send_message("s5@localhost", "hello s5")
        err = await alice.expect_stanza(is_error_from("s5@localhost", "policy-violation"), "the suspension")
        assert error_of(err)[0] == "cancel" and "suspended" in error_of(err)[1]
        await admin.expect_stanza(is_headline("account alice@localhost suspended"), "the suspension notice")
        # Her contacts are not strangers: they still hear from her.
        alice.send_message("s1@localhost", "are you there?")
        await s1.expect_stanza(is_chat("alice@localhost", "are you there?"), "a contact's message")

        status, body = call(server, "GET", "/api/accounts/flagged", token)
        assert status == 200
        flagged = json.loads(body)
        assert [(f["account"], f["state"]) for f in flagged] == [("alice@localhost", "suspended")]
        assert "by a new account" in flagged[0]["reason"]
        assert "alice@localhost\tsuspended" in server.hushctl("account", "flagged").stdout
        assert call(server, "DELETE", "/api/accounts/flagged/bob@localhost", token)[0] == 404
        assert call(server, "DELETE", "/api/accounts/flagged/not%20a%20jid", token)[0] == 400
        assert call(server, "DELETE", "/api/accounts/flagged/alice@localhost", token)[0] == 204

        # Cleared: she may contact someone new again.
        s6 = xmpp.client("s6@localhost/x", "a-password-1")
        await login(s6, server.port("c2s"))
        alice.send_message("s6@localhost", "hello s6")
        await s6.expect_stanza(is_chat("alice@localhost", "hello s6"), "the first contact after clearing")

    xmpp.run(scenario())
    assert metric(server, 'hush_antispim_outbound_total{outcome="suspended"}') == 1
    assert metric(server, 'hush_antispim_outbound_total{outcome="throttled"}') == 2
    assert server.hushctl("account", "flagged").stdout == ""


class _ListHandler(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def https_list(tmp_path):
    """Serves one document over HTTPS with a certificate for 'localhost' from a throwaway CA."""
    ca = TestCA(tmp_path / "ca")
    cert, key = ca.issue("localhost")
    handler = type("Handler", (_ListHandler,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def serve(body: str) -> str:
        handler.body = body.encode()
        return f"https://localhost:{httpd.server_address[1]}/blocklist.xml"

    serve.ca = ca.cert_path
    yield serve
    httpd.shutdown()


def test_https_import_with_challenge_only_trust(hush, xmpp, https_list):
    """A list fetched over HTTPS (certificate checked against [s2s] ca_file) with trust = "challenge": bob lets
    strangers through, but a listed sender is still asked the question — and not refused."""
    url = https_list(f"<blocklist xmlns='{BLOCKLIST_NS}' server='lists.test'>"
                     "<entry type='jid' value='mallory@localhost' reason='known bot' source='admin' "
                     "added='2026-01-01T00:00:00Z'/></blocklist>")
    server = hush(antispim={"chain": ["blocklist", "challenge"], "trust_local_users": False},
                  s2s={"ca_file": str(https_list.ca)},
                  **{"antispim.challenge": {"strangers": "allow"},
                     "antispim.import": [{"url": url, "trust": "challenge", "interval_seconds": 3600}]})
    for user in ("bob", "carol"):
        server.adduser(f"{user}@localhost", PASSWORDS[user])
    server.adduser("mallory@localhost", PASSWORDS["dave"])

    async def scenario():
        await server.wait_log(f"antispim: imported 1 entry from {url} (trust: challenge)")
        bob = xmpp.client("bob@localhost/x", PASSWORDS["bob"])
        await login(bob, server.port("c2s"))
        carol = xmpp.client("carol@localhost/x", PASSWORDS["carol"])
        await login(carol, server.port("c2s"))
        carol.send_message("bob@localhost", "hi, I am not listed")
        await bob.expect_stanza(is_chat("carol@localhost", "hi, I am not listed"), "an unlisted stranger, let in")
        mallory = xmpp.client("mallory@localhost/x", PASSWORDS["dave"])
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "cheap pills")
        await mallory.expect_stanza(is_challenge("bob@localhost"), "the challenge for the listed sender")
        assert not bob.received_matching(lambda s: (s.xml.get("from") or "").startswith("mallory@"))

    xmpp.run(scenario())


def test_hushctl_blocklist_import_from_a_file(hush, tmp_path):
    server = hush()
    listing = tmp_path / "jabberspam.txt"
    listing.write_text("# JabberSPAM-style list\nspam.test\nBots.Example  # open registration\nnot a domain!\n")
    out = server.hushctl("blocklist", "import", str(listing), "--expires", "24").stdout
    assert out == f"imported 2 entries from {listing}\n"
    listed = server.hushctl("blocklist", "list").stdout
    assert f"domain\tbots.example\tlisted by {listing}\timport:{listing}\t" in listed
    assert "domain\tspam.test" in listed and "expires " in listed
    bad = server.hushctl("blocklist", "import", str(tmp_path / "missing.xml"), check=False)
    assert bad.returncode == 1 and "cannot read" in bad.stderr
