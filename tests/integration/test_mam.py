"""XEP-0313 Message Archive Management (and XEP-0359 stanza-ids) end to end, with slixmpp clients over real TLS
sockets, on SQLite and PostgreSQL: two users talk and both archives hold the conversation; 1,000 messages paged
through forward and backward with XEP-0059 RSM; filters by with and by time; preferences; forged stanza-ids
stripped; nobody queries someone else's archive; a held stranger's message enters the archive only once released;
an offline message is stored once, in the archive, and delivered once with the stanza-id the archive gives.
"""

from __future__ import annotations

import asyncio
import datetime
import sqlite3
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET

from test_antispim import answer_number, challenge_of, client as stranger_client, is_challenge, is_chat
from test_antispim import start as start_antispim
from test_im import PASSWORDS, im_client, login
from xmpp_raw import CLIENT_NS, q

MAM_NS = "urn:xmpp:mam:2"
RSM_NS = "http://jabber.org/protocol/rsm"
FORWARD_NS = "urn:xmpp:forward:0"
DELAY_NS = "urn:xmpp:delay"
SID_NS = "urn:xmpp:sid:0"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"

BURST = 1000


def stamp(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def query_payload(queryid: str, with_: str | None = None, start: str | None = None, end: str | None = None,
                  max_: int | None = None, after: str | None = None, before: str | None = None,
                  extra_fields: str = "") -> str:
    fields = ""
    if with_:
        fields += f"<field var='with'><value>{with_}</value></field>"
    if start:
        fields += f"<field var='start'><value>{start}</value></field>"
    if end:
        fields += f"<field var='end'><value>{end}</value></field>"
    fields += extra_fields
    form = (f"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
            f"<value>{MAM_NS}</value></field>{fields}</x>") if fields else ""
    rsm = ""
    if max_ is not None:
        rsm += f"<max>{max_}</max>"
    if after is not None:
        rsm += f"<after>{after}</after>"
    if before is not None:
        rsm += f"<before>{before}</before>" if before else "<before/>"
    rsm = f"<set xmlns='{RSM_NS}'>{rsm}</set>" if rsm else ""
    return f"<query xmlns='{MAM_NS}' queryid='{queryid}'>{form}{rsm}</query>"


class Page:
    def __init__(self, answer, items: list[dict]):
        self.answer = answer
        self.items = items
        fin = answer.xml.find(q(MAM_NS, "fin"))
        self.fin = fin
        self.complete = fin is not None and fin.get("complete") == "true"
        rsm = fin.find(q(RSM_NS, "set")) if fin is not None else None
        self.first = rsm.findtext(q(RSM_NS, "first")) if rsm is not None else None
        self.last = rsm.findtext(q(RSM_NS, "last")) if rsm is not None else None
        count = rsm.findtext(q(RSM_NS, "count")) if rsm is not None else None
        self.count = int(count) if count is not None else None

    @property
    def bodies(self) -> list[str]:
        return [i["body"] for i in self.items]


def error_condition(answer) -> str | None:
    error = answer.xml.find(q(CLIENT_NS, "error"))
    if error is None:
        return None
    return next((c.tag.split("}")[1] for c in error if c.tag.startswith("{" + STANZAS_NS)), None)


async def mam(c, to: str | None = None, **query) -> Page:
    """One XEP-0313 query; the result messages (which arrive before the iq result) are taken from c's inbox."""
    queryid = uuid.uuid4().hex[:10]
    answer = await c.iq("set", query_payload(queryid, **query), to=to)
    items, rest = [], []
    for st in c.inbox:
        result = st.xml.find(q(MAM_NS, "result")) if st.xml.tag == q(CLIENT_NS, "message") else None
        if result is None or result.get("queryid") != queryid:
            rest.append(st)
            continue
        assert (st.xml.get("from") or "") == c.xmpp.boundjid.bare, ET.tostring(st.xml)
        forwarded = result.find(q(FORWARD_NS, "forwarded"))
        message = forwarded.find(q(CLIENT_NS, "message"))
        items.append({"id": result.get("id"), "stamp": parse_stamp(forwarded.find(q(DELAY_NS, "delay")).get("stamp")),
                      "from": message.get("from"), "to": message.get("to"),
                      "body": message.findtext(q(CLIENT_NS, "body"))})
    c.inbox[:] = rest
    return Page(answer, items)


def stanza_ids(st, by: str) -> list[str]:
    return [e.get("id") for e in st.xml.findall(q(SID_NS, "stanza-id")) if e.get("by") == by]


async def next_chat(c, sender_bare: str):
    while True:
        m = await c.next_message()
        if m["type"] == "chat" and m["from"].bare == sender_bare and m["body"]:
            return m


def test_archive_paging_filters_prefs_and_privacy(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    for name in ("alice", "bob", "carol"):
        server.adduser(f"{name}@localhost", PASSWORDS[name])

    async def scenario():
        alice, bob, carol = (im_client(xmpp, "alice@localhost/phone"), im_client(xmpp, "bob@localhost/desk"),
                             im_client(xmpp, "carol@localhost/laptop"))
        for c in (alice, bob, carol):
            await login(c, server.port("c2s"))

        # The account advertises the archive and stanza-ids.
        info = await bob.iq("get", f"<query xmlns='{DISCO_INFO_NS}'/>", to="bob@localhost")
        features = {f.get("var") for f in info.xml.iter(q(DISCO_INFO_NS, "feature"))}
        assert {MAM_NS, SID_NS, MAM_NS + "#extended"} <= features, features

        # A conversation: each delivered copy carries the receiver's stanza-id, the one its archive result has.
        conversation = [("alice", "bob", "hello bob"), ("bob", "alice", "hi alice"), ("alice", "bob", "how are you?")]
        sids = []
        for sender, receiver, body in conversation:
            s, r = {"alice": alice, "bob": bob}[sender], {"alice": alice, "bob": bob}[receiver]
            s.send_message(f"{receiver}@localhost", body)
            got = await next_chat(r, f"{sender}@localhost")
            assert got["body"] == body
            ids = stanza_ids(got, f"{receiver}@localhost")
            assert len(ids) == 1, str(got)
            sids.append(ids[0])
        page = await mam(bob)
        assert page.bodies == ["hello bob", "hi alice", "how are you?"] and page.complete
        # bob's archive: what he received (with its stanza-id) and what he sent.
        assert page.items[0]["id"] == sids[0] and page.items[2]["id"] == sids[2]
        assert page.items[1]["from"].startswith("bob@localhost") and page.items[1]["to"] == "alice@localhost"
        assert (await mam(alice)).bodies == ["hello bob", "hi alice", "how are you?"]
        assert (await mam(carol)).items == []

        # A stanza-id from outside claiming to be bob's is a forgery: removed, and the real one stamped.
        forged = alice.xmpp.make_message(mto="bob@localhost", mbody="forged id", mtype="chat")
        forged.xml.append(ET.fromstring(f"<stanza-id xmlns='{SID_NS}' by='bob@localhost' id='forged'/>"))
        forged.xml.append(ET.fromstring(f"<stanza-id xmlns='{SID_NS}' by='alice@localhost' id='hers'/>"))
        # bob's JID spelled otherwise is still bob's: compared normalized, as a bare JID.
        forged.xml.append(ET.fromstring(f"<stanza-id xmlns='{SID_NS}' by='Bob@LOCALHOST/x' id='forged2'/>"))
        forged.send()
        got = await next_chat(bob, "alice@localhost")
        bob_ids = stanza_ids(got, "bob@localhost")
        assert len(bob_ids) == 1 and bob_ids[0] != "forged"
        assert stanza_ids(got, "alice@localhost") == ["hers"]  # not bob's to judge
        assert [e.get("id") for e in got.xml.findall(q(SID_NS, "stanza-id"))] == ["hers", bob_ids[0]]

        time.sleep(1.1)
        t_mid = time.time()
        time.sleep(0.1)

        # 1,000 messages from carol, sent as fast as the client writes them.
        for i in range(BURST):
            carol.send_message("bob@localhost", f"m{i:04d}")
        for i in range(BURST):
            got = await next_chat(bob, "carol@localhost")
            assert got["body"] == f"m{i:04d}"
        t_end = time.time()

        expected = [f"m{i:04d}" for i in range(BURST)]
        # The count alone (max 0).
        count = await mam(bob, with_="carol@localhost", max_=0)
        assert count.items == [] and count.count == BURST
        # Forward, 100 at a time: 10 pages, in order, complete only on the last.
        seen, after, pages = [], None, 0
        while True:
            page = await mam(bob, with_="carol@localhost", max_=100, after=after)
            pages += 1
            assert page.answer["type"] == "result", str(page.answer)
            assert len(page.items) == 100
            assert page.first == page.items[0]["id"] and page.last == page.items[-1]["id"]
            seen += page.bodies
            if page.complete:
                break
            after = page.last
            assert pages < 20
        assert pages == 10 and seen == expected
        # Backward from the end (<before/> empty), 100 at a time: each page oldest first, complete on the first.
        seen, before, pages = [], "", 0
        while True:
            page = await mam(bob, with_="carol@localhost", max_=100, before=before)
            pages += 1
            assert len(page.items) == 100
            seen = page.bodies + seen
            if page.complete:
                break
            before = page.first
            assert pages < 20
        assert pages == 10 and seen == expected
        # An over-large page is cut to [mam] max_page (100).
        assert len((await mam(bob, with_="carol@localhost", max_=5000)).items) == 100
        # No form: the default page (50) of everything, oldest first.
        everything = await mam(bob)
        assert everything.bodies[:4] == ["hello bob", "hi alice", "how are you?", "forged id"]
        assert len(everything.items) == 50 and not everything.complete

        # By time: before t_mid only the conversation, after it only the burst.
        early = await mam(bob, end=stamp(t_mid), max_=100)
        assert early.bodies == ["hello bob", "hi alice", "how are you?", "forged id"] and early.complete
        late = await mam(bob, start=stamp(t_mid), end=stamp(t_end + 1), max_=0)
        assert late.count == BURST
        late = await mam(bob, start=stamp(t_mid), max_=10)
        assert late.bodies == expected[:10]
        assert all(t_mid <= i["stamp"] <= t_end + 1 for i in late.items)
        # By with: alice.
        assert (await mam(bob, with_="alice@localhost")).bodies == ["hello bob", "hi alice", "how are you?",
                                                                     "forged id"]
        # carol's archive holds what she sent.
        assert (await mam(carol, max_=0)).count == BURST

        # Errors: an unknown id, a bad form, someone else's archive.
        assert error_condition((await mam(bob, after="12345")).answer) == "item-not-found"
        assert error_condition((await mam(bob, before="not-an-id")).answer) == "item-not-found"
        bad = await bob.iq("set", f"<query xmlns='{MAM_NS}'><x xmlns='jabber:x:data' type='submit'>"
                                  f"<field var='FORM_TYPE'><value>{MAM_NS}</value></field>"
                                  f"<field var='start'><value>last week</value></field></x></query>")
        assert error_condition(bad) == "bad-request"
        other = await mam(bob, to="alice@localhost")
        assert error_condition(other.answer) == "service-unavailable" and other.items == []
        missing = await mam(bob, to="nobody@localhost")  # the same answer: nothing tells the two apart
        assert error_condition(missing.answer) == "service-unavailable" and missing.items == []

        # Preferences: never archive, then nothing new is archived and no stanza-id stamped; back to always.
        prefs = await bob.iq("get", f"<prefs xmlns='{MAM_NS}'/>")
        assert prefs.xml.find(q(MAM_NS, "prefs")).get("default") == "always"
        changed = await bob.iq("set", f"<prefs xmlns='{MAM_NS}' default='never'><always>"
                                      f"<jid>carol@localhost</jid></always><never/></prefs>")
        assert changed["type"] == "result" and changed.xml.find(q(MAM_NS, "prefs")).get("default") == "never"
        alice.send_message("bob@localhost", "not archived")
        got = await next_chat(bob, "alice@localhost")
        assert got["body"] == "not archived" and stanza_ids(got, "bob@localhost") == []
        carol.send_message("bob@localhost", "always archived")
        got = await next_chat(bob, "carol@localhost")
        assert len(stanza_ids(got, "bob@localhost")) == 1
        last = await mam(bob, max_=1, before="")
        assert last.bodies == ["always archived"]
        assert "not archived" not in (await mam(bob, with_="alice@localhost")).bodies

    xmpp.run(scenario(), timeout=300)


def test_held_stranger_message_enters_the_archive_only_when_released(hush, xmpp, storage_backend):
    server = start_antispim(hush, min_answer=0, storage=storage_backend)  # local accounts are strangers here

    async def scenario():
        bob, mallory = stranger_client(xmpp, "bob@localhost/desk"), stranger_client(xmpp, "mallory@localhost/x")
        await login(bob, server.port("c2s"))
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "hi Bob, we met at the conference")
        st = await mallory.expect_stanza(is_challenge("bob@localhost"), "a challenge from bob")
        _, options, _ = challenge_of(st)
        # Held: not delivered, not archived.
        await bob.ping_server()
        assert (await mam(bob)).items == []
        # A stranger cannot query an archive: the same answer for an existing account and a missing one.
        for target in ("bob@localhost", "nobody@localhost"):
            answer = await mam(mallory, to=target)
            assert error_condition(answer.answer) == "service-unavailable", str(answer.answer)
            assert answer.items == []
            prefs = await mallory.iq("get", f"<prefs xmlns='{MAM_NS}'/>", to=target)
            assert error_condition(prefs) == "service-unavailable"
        # Released by the right answer: delivered with its stanza-id, and archived now.
        mallory.send_message("bob@localhost", answer_number(options))
        held = await bob.expect_stanza(is_chat("mallory@localhost", "hi Bob, we met at the conference"),
                                       "the held message")
        ids = stanza_ids(held, "bob@localhost")
        assert len(ids) == 1
        page = await mam(bob)
        assert page.bodies == ["hi Bob, we met at the conference"] and page.items[0]["id"] == ids[0]
        # The answer and the server's challenge talk are in nobody's archive but the sender's own sent items.
        assert answer_number(options) not in page.bodies
        assert all("on behalf of" not in (b or "") for b in (await mam(mallory)).bodies)
        mallory.send_message("bob@localhost", "so, about that talk")
        await bob.expect_stanza(is_chat("mallory@localhost", "so, about that talk"), "a later message")
        assert (await mam(bob)).bodies == ["hi Bob, we met at the conference", "so, about that talk"]

    xmpp.run(scenario())


def test_offline_messages_are_archived_and_a_refused_one_is_not(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend, limits={"max_offline_messages": 1})
    for name in ("alice", "bob"):
        server.adduser(f"{name}@localhost", PASSWORDS[name])

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/phone")
        await login(alice, server.port("c2s"))
        # bob is offline: the first message is stored (and archived), the second refused (and not archived).
        alice.send_message("bob@localhost", "kept for later")
        alice.send_message("bob@localhost", "one too many")
        error = await alice.next_message_error()
        assert error["error"]["condition"] == "resource-constraint"
        # The bounce does not tell alice whether bob's archive took it: no stanza-id of bob's in it.
        assert error.xml.findall(q(SID_NS, "stanza-id")) == []
        bob = im_client(xmpp, "bob@localhost/desk")
        await login(bob, server.port("c2s"))
        got = await next_chat(bob, "alice@localhost")
        assert got["body"] == "kept for later"
        ids = stanza_ids(got, "bob@localhost")  # the offline copy carries its archive id
        assert len(ids) == 1
        page = await mam(bob)
        assert page.bodies == ["kept for later"] and page.items[0]["id"] == ids[0]
        # The sender's archive has both: she sent them.
        assert (await mam(alice)).bodies == ["kept for later", "one too many"]

    xmpp.run(scenario())


def db_rows(server, sql: str) -> list[tuple]:
    """Rows of a read-only query against the server's database, either backend."""
    storage = server.config["storage"]
    if storage["backend"] == "sqlite":
        with sqlite3.connect(f"file:{server.workdir / 'data' / storage['path']}?mode=ro", uri=True) as db:
            return [tuple(str(v) for v in row) for row in db.execute(sql).fetchall()]
    result = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-F", "|", storage["url"], "-c", sql],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=True)
    return [tuple(line.split("|")) for line in result.stdout.splitlines() if line]


def test_an_offline_message_is_stored_once_in_the_archive_and_delivered_once(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    for name in ("alice", "bob"):
        server.adduser(f"{name}@localhost", PASSWORDS[name])
    body = "stored once " + uuid.uuid4().hex[:8]
    # (offline rows, of them with their own copy, archive items of bob holding the body)
    copies = ("SELECT (SELECT COUNT(*) FROM offline_messages WHERE username = 'bob'), "
              "(SELECT COUNT(*) FROM offline_messages WHERE username = 'bob' AND stanza <> ''), "
              f"(SELECT COUNT(*) FROM message_archive WHERE username = 'bob' AND stanza LIKE '%{body}%')")

    async def until_copies(expected: tuple) -> None:
        deadline = time.monotonic() + 10
        while db_rows(server, copies) != [expected]:
            assert time.monotonic() < deadline, (db_rows(server, copies), expected)
            await asyncio.sleep(0.05)

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/phone")
        await login(alice, server.port("c2s"))
        alice.send_message("bob@localhost", body)
        # bob is offline: the row references the archive item, and its own copy goes once the item is written.
        await until_copies(("1", "0", "1"))

        bob = im_client(xmpp, "bob@localhost/desk")
        await login(bob, server.port("c2s"))
        got = await next_chat(bob, "alice@localhost")
        assert got["body"] == body
        ids = stanza_ids(got, "bob@localhost")
        assert len(ids) == 1
        assert got.xml.find(q(DELAY_NS, "delay")) is not None  # the offline stamp, as before
        await server.wait_log("read from archive item " + ids[0])
        page = await mam(bob)
        assert page.bodies == [body] and page.items[0]["id"] == ids[0]
        await bob.ping_server()
        delivered = [st for st in bob.inbox if st.xml.tag == q(CLIENT_NS, "message")
                     and st.xml.findtext(q(CLIENT_NS, "body")) == body]
        assert len(delivered) == 1, [ET.tostring(st.xml) for st in delivered]
        # Delivered: the offline row is gone, the archive keeps the message.
        await until_copies(("0", "0", "1"))

    xmpp.run(scenario())


def test_carbons_carry_the_stanza_id_and_the_archive_has_the_message_once(hush, xmpp):
    server = hush()
    for name in ("alice", "bob"):
        server.adduser(f"{name}@localhost", PASSWORDS[name])
    carbons_ns = "urn:xmpp:carbons:2"

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob_a, bob_b = im_client(xmpp, "bob@localhost/A"), im_client(xmpp, "bob@localhost/B")
        for c in (alice, bob_a, bob_b):
            await login(c, server.port("c2s"))
        enabled = await bob_b.iq("set", f"<enable xmlns='{carbons_ns}'/>")
        assert enabled["type"] == "result"
        alice.send_message(bob_a.jid, "to A")
        got = await next_chat(bob_a, "alice@localhost")
        ids = stanza_ids(got, "bob@localhost")
        assert len(ids) == 1
        carbon = await bob_b.expect_stanza(
            lambda st: st.xml.find(q(carbons_ns, "received")) is not None, "the received carbon on B")
        inner = carbon.xml.find(f"{q(carbons_ns, 'received')}/{q(FORWARD_NS, 'forwarded')}/{q(CLIENT_NS, 'message')}")
        assert [e.get("id") for e in inner.findall(q(SID_NS, "stanza-id")) if e.get("by") == "bob@localhost"] == ids
        # One item, whichever resource asks.
        for c in (bob_a, bob_b):
            page = await mam(c)
            assert page.bodies == ["to A"] and page.items[0]["id"] == ids[0]

    xmpp.run(scenario())
