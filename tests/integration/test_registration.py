"""Registration controls (issue 17) end to end with real slixmpp clients (its XEP-0077 plugin, plus the XEP-0445
<preauth/> iq, which slixmpp 1.8 has no plugin for): invitation links from hushctl, registering with a token,
used-up / expired / revoked tokens refused with XEP-0445's error, invite-only mode refusing strangers, the XEP-0158
question in open mode (wrong, then right), reserved names, the limits per address and per /24 (clients connect
from different 127.x addresses), and the approval queue (a pending account cannot log in until approved)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from conftest import TIMEOUT
from test_im import error_condition
from xmpp_raw import CLIENT_NS, RawStream, q
from xmpp_client import AuthFailed

REGISTER_NS = "jabber:iq:register"
DATA_NS = "jabber:x:data"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
TOKEN_REFUSED = "The provided token is invalid or expired"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def solve(question: str) -> str:
    """The answer to Hush's CAPTCHA question ("What is four plus nine? Answer in digits.")."""
    m = re.fullmatch(r"What is (\w+) (plus|minus) (\w+)\? Answer in digits\.", question)
    assert m, question
    a, b = WORDS.index(m.group(1)), WORDS.index(m.group(3))
    return str(a + b if m.group(2) == "plus" else a - b)


def outcome(iq) -> tuple:
    """("result",) or ("error", condition, text) of an iq reply (a slixmpp stanza)."""
    if iq["type"] == "result":
        return ("result",)
    error = iq.xml.find(q(CLIENT_NS, "error"))
    text = error.find(q(STANZAS_NS, "text")) if error is not None else None
    return ("error", error_condition(iq), text.text if text is not None else "")


class Registrant:
    """A slixmpp client that registers in-band when the server offers it (xep_0077's 'register' event, after
    STARTTLS, before SASL): first a XEP-0445 token if it has one, then the XEP-0077 form, answering the CAPTCHA
    question with answer(question) when the form asks one. Then slixmpp goes on to log in with the same
    credentials, as a real client does after registering."""

    def __init__(self, xmpp, user: str, password: str, token: str | None = None, answer=solve):
        self.user, self.password, self.token, self.answer = user, password, token, answer
        self.client = xmpp.client(f"{user}@localhost/reg", password)
        x = self.client.xmpp
        for plugin in ("xep_0004", "xep_0066", "xep_0077"):
            x.register_plugin(plugin)
        x["xep_0077"].force_registration = True
        # slixmpp 1.8 queues every iq until a session starts; registration happens before one.
        x._always_send_everything = True
        self.preauth: tuple | None = None
        self.question: str | None = None
        self.registered = xmpp.loop.create_future()
        x.add_event_handler("register", self._register)

    async def _register(self, form) -> None:
        from slixmpp.exceptions import IqError, IqTimeout
        x = self.client.xmpp
        try:
            if self.token is not None:
                iq = x.make_iq_set()
                iq.xml.append(ET.fromstring(f"<preauth xmlns='urn:xmpp:pars:0' token='{self.token}'/>"))
                try:
                    self.preauth = outcome(await iq.send(timeout=TIMEOUT))
                except IqError as e:
                    self.preauth = outcome(e.iq)
            request = x.Iq()
            request["type"] = "set"
            request.enable("register")
            data = form.xml.find(f"{q(REGISTER_NS, 'query')}/{q(DATA_NS, 'x')}")
            if data is None:
                request["register"]["username"] = self.user
                request["register"]["password"] = self.password
            else:
                values = {"FORM_TYPE": None, "username": self.user, "password": self.password}
                for field in data.findall(q(DATA_NS, "field")):
                    var = field.get("var")
                    if var == "qa":
                        self.question = field.get("label")
                        values["qa"] = self.answer(self.question)
                    elif field.get("type") == "hidden":
                        values[var] = field.findtext(q(DATA_NS, "value"))
                submit = ET.Element(q(DATA_NS, "x"), {"type": "submit"})
                for var, value in values.items():
                    f = ET.SubElement(submit, q(DATA_NS, "field"), {"var": var})
                    ET.SubElement(f, q(DATA_NS, "value")).text = value or ""
                request["register"].xml.append(submit)
            try:
                result = outcome(await request.send(timeout=TIMEOUT))
            except IqError as e:
                result = outcome(e.iq)
            self.registered.set_result(result)
        except (IqTimeout, Exception) as e:  # the test sees it on the future instead of a hang
            if not self.registered.done():
                self.registered.set_exception(e)

    async def run(self, port: int) -> tuple:
        """Connect and register; returns the registration's outcome (the login continues in the background)."""
        self.client.xmpp.connect(address=("127.0.0.1", port))
        return await asyncio.wait_for(asyncio.shield(self.registered), TIMEOUT)

    async def logged_in(self) -> str:
        return await asyncio.wait_for(asyncio.shield(self.client.session), TIMEOUT)


def create_invite(server, *args: str) -> tuple[str, str, str]:
    """hushctl invite create ARGS: (id, uri, token)."""
    lines = server.hushctl("invite", "create", *args).stdout.splitlines()
    m = re.match(r"created invite ([0-9a-f]{12}) on ", lines[0])
    assert m, lines
    uri = lines[1]
    token = re.search(r"preauth=([a-z2-7]+)", uri).group(1)
    return m.group(1), uri, token


def users(server) -> list[str]:
    return server.hushctl("users").stdout.split()


def test_invite_links_and_registering_with_a_token(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend, registration={"mode": "invite"})
    server.adduser("alice@localhost", "alice-secret-1")
    invite_id, uri, token = create_invite(server, "--uses", "2", "--expires", "24")
    assert re.fullmatch(r"xmpp:localhost\?register;preauth=[a-z2-7]{24}", uri), uri
    assert create_invite(server, "--user", "Juliet")[1].startswith("xmpp:juliet@localhost?register;preauth=")
    assert re.fullmatch(r"xmpp:alice@localhost\?roster;preauth=[a-z2-7]{24};ibr=y",
                        create_invite(server, "--inviter", "alice@localhost")[1])
    assert server.hushctl("invite", "create", "--uses", "0", check=False).returncode == 1
    assert server.hushctl("invite", "create", "--user", "alice", check=False).returncode == 1  # exists
    assert server.hushctl("invite", "create", "--inviter", "nobody@localhost", check=False).returncode == 1

    # XEP-0445 §4: the stream feature that says tokens are accepted, next to XEP-0077's.
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        features = s.secure()
        assert features.find(q("urn:xmpp:ibr-token:0", "register")) is not None, s.received_text()
        assert features.find(q("http://jabber.org/features/iq-register", "register")) is not None

    async def scenario():
        port = server.port("c2s")
        stranger = Registrant(xmpp, "mallory", "mallory-secret-9")
        assert (await stranger.run(port))[:2] == ("error", "forbidden")

        carol = Registrant(xmpp, "carol", "carol-secret-3", token)
        assert await carol.run(port) == ("result",)
        assert carol.preauth == ("result",)
        assert await carol.logged_in() == "carol@localhost/reg"

        dave = Registrant(xmpp, "dave", "dave-secret-4", token)
        assert await dave.run(port) == ("result",)
        assert await dave.logged_in() == "dave@localhost/reg"

        # Two uses, both taken: XEP-0445's error, and no account.
        erin = Registrant(xmpp, "erin", "erin-secret-5", token)
        assert (await erin.run(port))[:2] == ("error", "forbidden")
        assert erin.preauth == ("error", "item-not-found", TOKEN_REFUSED)

    xmpp.run(scenario())
    assert {"carol@localhost", "dave@localhost"} <= set(users(server))
    assert "erin@localhost" not in users(server) and "mallory@localhost" not in users(server)
    listed = [line.split("\t") for line in server.hushctl("invite", "list").stdout.splitlines()]
    mine = next(row for row in listed if row[0] == invite_id)
    assert mine[1:5] == ["localhost", "-", "admin", "0/2"] and mine[-1] == "used up"
    bound = next(row for row in listed if row[2] == "juliet")
    assert bound[4] == "1/1" and bound[-1] == "live"


def test_revoked_and_expired_tokens_are_refused(hush, xmpp):
    server = hush(registration={"mode": "invite"})
    revoked_id, _, revoked = create_invite(server)
    assert server.hushctl("invite", "revoke", revoked_id[:8]).stdout == f"revoked invite {revoked_id}\n"
    assert server.hushctl("invite", "revoke", revoked_id, check=False).returncode == 1
    expired_id, _, expired = create_invite(server, "--expires", "1")
    # An hour is long for a test: age the invite in the database instead.
    db = sqlite3.connect(server.workdir / "data" / "hush.db")
    with db:
        assert db.execute("UPDATE registration_invites SET expires_at = 1 WHERE token_sha256 LIKE ?",
                          (expired_id + "%",)).rowcount == 1
    db.close()
    assert server.hushctl("invite", "list").stdout.rstrip("\n").endswith("expired")

    async def scenario():
        for user, token in (("romeo", revoked), ("juliet", expired), ("tybalt", "not-a-real-token")):
            r = Registrant(xmpp, user, f"{user}-secret-7", token)
            assert (await r.run(server.port("c2s")))[:2] == ("error", "forbidden"), user
            assert r.preauth == ("error", "item-not-found", TOKEN_REFUSED), user

    xmpp.run(scenario())
    assert not {"romeo@localhost", "juliet@localhost", "tybalt@localhost"} & set(users(server))


def test_open_registration_captcha_wrong_then_right_and_reserved_names(hush, xmpp):
    server = hush(registration={"mode": "open", "reserved_names": ["boss"]})

    async def scenario():
        port = server.port("c2s")
        wrong = Registrant(xmpp, "carol", "carol-secret-3", answer=lambda question: str(int(solve(question)) + 1))
        result = await wrong.run(port)
        assert result[:2] == ("error", "not-acceptable"), result
        assert wrong.question and wrong.question.startswith("What is ")

        right = Registrant(xmpp, "carol", "carol-secret-3")
        assert await right.run(port) == ("result",)
        assert await right.logged_in() == "carol@localhost/reg"

        # A reserved name is taken, as XEP-0077 says of any taken name: a default one, and a configured one.
        for name in ("postmaster", "Boss"):
            reserved = Registrant(xmpp, name, "boss-secret-12")
            assert (await reserved.run(port))[:2] == ("error", "conflict"), name

    xmpp.run(scenario())
    assert "carol@localhost" in users(server)
    assert "postmaster@localhost" not in users(server) and "boss@localhost" not in users(server)


def raw_register(source: str, port: int, user: str) -> ET.Element:
    """Register from `source` (a 127.x address) on a raw stream; returns the answer."""
    with RawStream.connect("127.0.0.1", port, source=source) as s:
        s.secure()
        s.send(f"<iq type='set' id='r1'><query xmlns='{REGISTER_NS}'><username>{user}</username>"
               f"<password>{user}-password-1</password></query></iq>")
        return s.read_until(q(CLIENT_NS, "iq"))


def is_notice(subject: str, body_part: str):
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, "message") and e.get("type") == "headline"
                and e.findtext(q(CLIENT_NS, "subject")) == "Hush: " + subject
                and body_part in (e.findtext(q(CLIENT_NS, "body")) or ""))
    return match


def test_limits_per_address_per_network_and_in_total(hush, xmpp):
    server = hush(server={"admins": ["alice@localhost"]},
                  listen=[{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                          {"kind": "http", "address": "127.0.0.1", "port": 0}],
                  registration={"mode": "open", "captcha": False, "max_per_ip": 1, "max_per_network": 2,
                                "max_total": 3})
    server.adduser("alice@localhost", "alice-secret-1")
    port = server.port("c2s")

    def answer(source, user):
        reply = raw_register(source, port, user)
        return reply.get("type") if reply.get("type") == "result" else error_condition(reply)

    async def scenario():
        # An admin online hears of each burst once per window (headlines: an offline admin finds them in the log).
        alice = xmpp.client("alice@localhost/a", "alice-secret-1")
        await alice.connect(port)
        for source, user, expected in (("127.0.0.2", "user1", "result"),
                                       ("127.0.0.2", "user2", "resource-constraint"),  # the address
                                       ("127.0.0.3", "user2", "result"),
                                       ("127.0.0.4", "user3", "resource-constraint"),  # 127.0.0.0/24 is full
                                       ("127.0.1.4", "user3", "result"),               # another /24
                                       ("127.0.2.4", "user4", "resource-constraint"),  # three in all
                                       ("127.0.0.5", "user4", "resource-constraint")):  # the network again
            assert await asyncio.to_thread(answer, source, user) == expected, (source, user)
        network = is_notice("registration limit reached", "Registrations from 127.0.0.0/24 reached max_per_network")
        total = is_notice("registration limit reached", "Registrations on this server reached max_total (3 per 60")
        await alice.expect_stanza(network, "the network notice")
        await alice.expect_stanza(total, "the total notice")
        await alice.ping_server()  # anything sent before this answer has arrived
        # expect_stanza took each out of the inbox: nothing like them is left (no second notice for the repeat).
        assert alice.received_matching(network) == [] and alice.received_matching(total) == []

    xmpp.run(scenario())
    assert set(users(server)) - {"alice@localhost"} == {"user1@localhost", "user2@localhost", "user3@localhost"}
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port('http')}/metrics", timeout=10) as res:
        metrics = res.read().decode()
    counted = dict(re.findall(r'^hush_registrations_total\{outcome="(\w+)"\} (\d+)$', metrics, re.M))
    assert (counted["created"], counted["refused_limit_address"], counted["refused_limit_network"],
            counted["refused_limit_total"], counted["refused_captcha"]) == ("3", "1", "2", "1", "0")


def test_approval_queue(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend, registration={"mode": "open", "captcha": False, "approval": True})
    server.adduser("alice@localhost", "alice-secret-1")

    async def register_and_try(user: str) -> Registrant:
        r = Registrant(xmpp, user, f"{user}-secret-3")
        assert await r.run(server.port("c2s")) == ("result",)
        with pytest.raises(AuthFailed):
            await r.logged_in()
        assert "account-disabled" in str(r.client.auth_failures[0])
        return r

    xmpp.run(register_and_try("carol"))
    xmpp.run(register_and_try("dave"))
    pending = [line.split("\t") for line in server.hushctl("registration", "pending").stdout.splitlines()]
    assert [(p[0], p[2]) for p in pending] == [("carol@localhost", "127.0.0.1"), ("dave@localhost", "127.0.0.1")]

    assert server.hushctl("registration", "approve", "carol@localhost").stdout == "approved carol@localhost\n"
    assert server.hushctl("registration", "deny", "dave@localhost").stdout == "denied dave@localhost (account deleted)\n"
    # Only pending accounts: an ordinary one is neither approved nor denied.
    assert server.hushctl("registration", "deny", "alice@localhost", check=False).returncode == 1
    assert server.hushctl("registration", "pending").stdout == ""
    assert "dave@localhost" not in users(server) and "alice@localhost" in users(server)

    async def carol_logs_in():
        carol = xmpp.client("carol@localhost/a", "carol-secret-3")
        assert await carol.connect(server.port("c2s")) == "carol@localhost/a"

    xmpp.run(carol_logs_in())


COMMANDS_NS = "http://jabber.org/protocol/commands"
DISCO_ITEMS_NS = "http://jabber.org/protocol/disco#items"


def test_users_invite_with_the_xep_0401_command_within_their_quota(hush, xmpp):
    server = hush(registration={"mode": "invite", "invites_per_user": 2})
    server.adduser("alice@localhost", "alice-secret-1")

    async def scenario():
        port = server.port("c2s")
        alice = xmpp.client("alice@localhost/a", "alice-secret-1")
        await alice.connect(port)
        items = await alice.iq("get", f"<query xmlns='{DISCO_ITEMS_NS}' node='{COMMANDS_NS}'/>", to="localhost")
        nodes = [i.get("node") for i in items.xml.find(q(DISCO_ITEMS_NS, "query"))]
        assert "urn:xmpp:invite#invite" in nodes, nodes

        execute = f"<command xmlns='{COMMANDS_NS}' node='urn:xmpp:invite#invite' action='execute'/>"
        uris = []
        for _ in range(2):
            answer = await alice.iq("set", execute, to="localhost")
            assert answer["type"] == "result", str(answer)
            command = answer.xml.find(q(COMMANDS_NS, "command"))
            assert command.get("status") == "completed"
            fields = {f.get("var"): f.findtext(q(DATA_NS, "value"))
                      for f in command.find(q(DATA_NS, "x")).findall(q(DATA_NS, "field"))}
            assert re.fullmatch(r"xmpp:alice@localhost\?roster;preauth=[a-z2-7]{24};ibr=y", fields["uri"])
            assert fields["expire"].endswith("Z")
            uris.append(fields["uri"])
        # The quota: two live invitations.
        refused = await alice.iq("set", execute, to="localhost")
        assert refused["type"] == "error" and error_condition(refused) == "resource-constraint"

        # The invitee registers with alice's link; then alice may invite again.
        token = re.search(r"preauth=([a-z2-7]+)", uris[0]).group(1)
        bob = Registrant(xmpp, "bob", "bob-secret-2", token)
        assert await bob.run(port) == ("result",)
        assert await bob.logged_in() == "bob@localhost/reg"
        # XEP-0401: inviter and invitee are contacts already (mutual subscription), so neither is a stranger.
        roster = await alice.iq("get", "<query xmlns='jabber:iq:roster'/>")
        items = {i.get("jid"): i.get("subscription")
                 for i in roster.xml.find(q("jabber:iq:roster", "query")).findall(q("jabber:iq:roster", "item"))}
        assert items == {"bob@localhost": "both"}, items
        again = await alice.iq("set", execute, to="localhost")
        assert again["type"] == "result", str(again)

    xmpp.run(scenario())
    # The used invitation was swept when alice made the next one; the other two are live.
    listed = [line.split("\t") for line in server.hushctl("invite", "list").stdout.splitlines()]
    assert [(row[3], row[4], row[-1]) for row in listed] == [("alice@localhost", "1/1", "live")] * 2


def test_no_user_invitations_while_registration_is_closed(hush, xmpp):
    server = hush(registration={"mode": "closed"})
    server.adduser("alice@localhost", "alice-secret-1")

    async def scenario():
        alice = xmpp.client("alice@localhost/a", "alice-secret-1")
        await alice.connect(server.port("c2s"))
        items = await alice.iq("get", f"<query xmlns='{DISCO_ITEMS_NS}' node='{COMMANDS_NS}'/>", to="localhost")
        assert "urn:xmpp:invite#invite" not in [i.get("node") for i in items.xml.find(q(DISCO_ITEMS_NS, "query"))]
        refused = await alice.iq("set", f"<command xmlns='{COMMANDS_NS}' node='urn:xmpp:invite#invite' "
                                        "action='execute'/>", to="localhost")
        assert refused["type"] == "error" and error_condition(refused) == "forbidden"

    xmpp.run(scenario())
    assert server.hushctl("invite", "list").stdout == ""


def test_admins_work_through_the_approval_queue_with_an_ad_hoc_command(hush, xmpp):
    server = hush(server={"admins": ["alice@localhost"]},
                  registration={"mode": "open", "captcha": False, "approval": True})
    server.adduser("alice@localhost", "alice-secret-1")
    server.adduser("bob@localhost", "bob-secret-2")
    node = "urn:hush:registration:0#approve"
    execute = f"<command xmlns='{COMMANDS_NS}' node='{node}' action='execute'/>"

    def submit(session: str, approve: list[str], deny: list[str]) -> str:
        def field(var, values):
            return f"<field var='{var}'>" + "".join(f"<value>{v}</value>" for v in values) + "</field>"
        return (f"<command xmlns='{COMMANDS_NS}' node='{node}' sessionid='{session}' action='complete'>"
                f"<x xmlns='{DATA_NS}' type='submit'>{field('approve', approve)}{field('deny', deny)}</x></command>")

    async def scenario():
        port = server.port("c2s")
        alice = xmpp.client("alice@localhost/a", "alice-secret-1")
        await alice.connect(port)
        for user in ("carol", "dave", "erin"):
            assert await Registrant(xmpp, user, f"{user}-secret-3").run(port) == ("result",)
        for user in ("carol", "dave", "erin"):
            await alice.expect_stanza(is_notice("account waiting for approval",
                                                f"{user}@localhost registered from 127.0.0.1 and waits for approval"),
                                      f"the notice about {user}")
        items = await alice.iq("get", f"<query xmlns='{DISCO_ITEMS_NS}' node='{COMMANDS_NS}'/>", to="localhost")
        assert node in [i.get("node") for i in items.xml.find(q(DISCO_ITEMS_NS, "query"))]

        first = await alice.iq("set", execute, to="localhost")
        command = first.xml.find(q(COMMANDS_NS, "command"))
        assert command is not None and command.get("status") == "executing", str(first)
        form = command.find(q(DATA_NS, "x"))
        options = [o.findtext(q(DATA_NS, "value"))
                   for o in form.find(f"{q(DATA_NS, 'field')}[@var='approve']").findall(q(DATA_NS, "option"))]
        assert options == ["carol@localhost", "dave@localhost", "erin@localhost"]

        # Not an admin: refused, whatever the session.
        bob = xmpp.client("bob@localhost/b", "bob-secret-2")
        await bob.connect(port)
        refused = await bob.iq("set", submit(command.get("sessionid"), ["carol@localhost"], []), to="localhost")
        assert refused["type"] == "error" and error_condition(refused) == "forbidden"

        done = await alice.iq("set", submit(command.get("sessionid"), ["carol@localhost"], ["dave@localhost"]),
                              to="localhost")
        finished = done.xml.find(q(COMMANDS_NS, "command"))
        assert finished.get("status") == "completed", str(done)
        assert finished.findtext(q(COMMANDS_NS, "note")) == "Approved 1, denied 1."
        # The session is used up.
        again = await alice.iq("set", submit(command.get("sessionid"), ["erin@localhost"], []), to="localhost")
        assert again["type"] == "error" and error_condition(again) == "bad-request"

        carol = xmpp.client("carol@localhost/c", "carol-secret-3")
        assert await carol.connect(port) == "carol@localhost/c"

    xmpp.run(scenario())
    assert server.hushctl("registration", "pending").stdout.split("\t")[0] == "erin@localhost"
    assert "dave@localhost" not in users(server)
