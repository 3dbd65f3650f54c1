"""XEP-0045 end to end: slixmpp clients on a real hushd create, configure, join and leave rooms on conference.a.test,
talk in them, change nicks, get history, and send private messages (docs/muc.md)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from muc_helpers import (ADMIN_NS, DISCO_INFO_NS, DISCO_ITEMS_NS, MUC, MUC_NS, OWNER_NS, ROOMCONFIG, USER_NS, assert_none_before,
                         configure, create, fields_of, is_error_from, is_groupchat, is_message_from, is_presence_from,
                         is_subject, item_of, join, join_and_subject, occupant_id, online, room_jid, say, send_join,
                         start, status_codes)
from xmpp_raw import CLIENT_NS, q


def test_create_join_talk_nick_change_and_leave(hush, xmpp, storage_backend):
    server = start(hush, storage_backend)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        bob = await online(xmpp, server, "bob")
        room = room_jid("lobby")

        # The server names its MUC service; the service says what it is.
        items = await alice.iq("get", f"<query xmlns='{DISCO_ITEMS_NS}'/>", to="a.test")
        assert MUC in {i.get("jid") for i in items.xml.iter(q(DISCO_ITEMS_NS, "item"))}, str(items)
        info = await alice.iq("get", f"<query xmlns='{DISCO_INFO_NS}'/>", to=MUC)
        identity = info.xml.find(f".//{q(DISCO_INFO_NS, 'identity')}")
        assert (identity.get("category"), identity.get("type")) == ("conference", "text"), str(info)

        # Creating: 201 + 110, the owner's item, and the room locked until configured (XEP-0045 §10.1).
        created = await join_and_subject(alice, room, "Alice", codes={201})
        assert item_of(created).get("affiliation") == "owner" and item_of(created).get("role") == "moderator"
        send_join(bob, room, "Bob")
        await bob.expect_stanza(is_error_from(f"{room}/Bob", "presence", "item-not-found"), "locked room refused")
        await configure(alice, room)

        # Bob joins: he sees Alice, then himself with 110; Alice sees him.
        await join_and_subject(bob, room, "Bob")
        alice_seen = await bob.expect_stanza(is_presence_from(f"{room}/Alice"), "alice's presence")
        assert item_of(alice_seen).get("jid") is None, "semi-anonymous: a participant sees no real JID"
        bob_seen = await alice.expect_stanza(is_presence_from(f"{room}/Bob"), "bob's presence")
        assert item_of(bob_seen).get("jid", "").startswith("bob@a.test/"), "the moderator sees the real JID"
        assert occupant_id(bob_seen), "XEP-0421 occupant id"

        # Groupchat reaches everyone, the sender too, with the occupant's id (never the sender's own claim).
        bob.xmpp.send_raw(f"<message to='{room}' type='groupchat'><body>hello all</body>"
                          f"<occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/></message>")
        got = await alice.expect_stanza(is_groupchat(f"{room}/Bob", "hello all"), "bob's groupchat")
        assert occupant_id(got) == occupant_id(bob_seen), str(got)
        await bob.expect_stanza(is_groupchat(f"{room}/Bob", "hello all"), "bob's own echo")

        # Nick change: unavailable with 303 and the new nick, then the new presence (XEP-0045 §7.6).
        bob.xmpp.send_raw(f"<presence to='{room}/Robert'/>")
        gone = await alice.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable", {303}), "303")
        assert item_of(gone).get("nick") == "Robert"
        await alice.expect_stanza(is_presence_from(f"{room}/Robert"), "the new nick's presence")
        await bob.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable", {303, 110}), "303 to himself")

        # A nick in use by someone else is a conflict.
        send_join(bob, room, "Alice")
        await bob.expect_stanza(is_error_from(f"{room}/Alice", "presence", "conflict"), "nick conflict")

        # Leaving: everyone hears it; the leaver gets 110.
        bob.xmpp.send_raw(f"<presence to='{room}/Robert' type='unavailable'/>")
        await alice.expect_stanza(is_presence_from(f"{room}/Robert", "unavailable"), "bob left")
        await bob.expect_stanza(is_presence_from(f"{room}/Robert", "unavailable", {110}), "bob's own leave")

        # A non-occupant cannot speak.
        await say(bob, room, "from outside")
        await bob.expect_stanza(is_error_from(room, "message", "not-acceptable"), "not an occupant")

    xmpp.run(scenario())


def test_history_subject_and_private_messages(hush, xmpp):
    server = start(hush, muc={"history_size": 3})

    async def scenario():
        alice = await online(xmpp, server, "alice")
        bob = await online(xmpp, server, "bob")
        room = room_jid("history")
        await create(alice, room, "Alice")
        alice.xmpp.send_raw(f"<message to='{room}' type='groupchat'><subject>Today: tests</subject></message>")
        await alice.expect_stanza(lambda st: is_subject(room)(st) and
                                  st.xml.findtext(q(CLIENT_NS, "subject")) == "Today: tests", "new subject")
        for i in range(5):
            await say(alice, room, f"line {i}")
            await alice.expect_stanza(is_groupchat(f"{room}/Alice", f"line {i}"), f"line {i}")

        # History: the room keeps three; Bob asks for two, gets the last two with delays, then the subject.
        await join(bob, room, "Bob", history={"maxstanzas": 2})
        first = await bob.expect_stanza(is_groupchat(f"{room}/Alice", "line 3"), "history line 3")
        assert first.xml.find("{urn:xmpp:delay}delay") is not None, str(first)
        await bob.expect_stanza(is_groupchat(f"{room}/Alice", "line 4"), "history line 4")
        subject = await bob.expect_stanza(is_subject(room), "the subject after the history")
        assert subject.xml.findtext(q(CLIENT_NS, "subject")) == "Today: tests"
        assert not bob.received_matching(is_groupchat(f"{room}/Alice", "line 2")), "only two asked for"

        # A private message between occupants, through the room; to an absent nick: item-not-found.
        bob.xmpp.send_raw(f"<message to='{room}/Alice' type='chat'><body>psst</body></message>")
        pm = await alice.expect_stanza(is_message_from(f"{room}/Bob", "psst", "chat"), "bob's private message")
        assert pm.xml.find(q(USER_NS, "x")) is not None
        bob.xmpp.send_raw(f"<message to='{room}/Nobody' type='chat'><body>psst</body></message>")
        await bob.expect_stanza(is_error_from(f"{room}/Nobody", "message", "item-not-found"), "no such nick")

        # XEP-0410: self-ping answers for a joined nick, not for another.
        ok = await bob.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=f"{room}/Bob")
        assert ok["type"] == "result", str(ok)
        other = await alice.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=f"{room}/Bob")
        assert other["type"] == "error", str(other)

    xmpp.run(scenario())


def test_room_archive_xep0313(hush, xmpp, storage_backend):
    """XEP-0313 §6: a room archives its groupchat (status 170 says so), stamps each copy with a stanza-id by the room,
    and answers queries of its archive — to occupants and members; to anyone for an open, public room."""
    server = start(hush, storage_backend)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        bob = await online(xmpp, server, "bob")
        carol = await online(xmpp, server, "carol")
        room = room_jid("archived")
        created = await join_and_subject(alice, room, "Alice", codes={201})
        assert 170 in status_codes(created), str(created)
        await configure(alice, room)
        await join_and_subject(bob, room, "Bob")
        info = await alice.iq("get", f"<query xmlns='{DISCO_INFO_NS}'/>", to=room)
        assert "urn:xmpp:mam:2" in {f.get("var") for f in info.xml.iter(q(DISCO_INFO_NS, "feature"))}, str(info)

        ids = []
        for body in ("first", "second"):
            await say(bob, room, body)
            got = await alice.expect_stanza(is_groupchat(f"{room}/Bob", body), body)
            sid = got.xml.find("{urn:xmpp:sid:0}stanza-id")
            assert sid is not None and sid.get("by") == room, str(got)
            ids.append(sid.get("id"))
            echo = await bob.expect_stanza(is_groupchat(f"{room}/Bob", body), f"{body} echo")
            assert echo.xml.find("{urn:xmpp:sid:0}stanza-id").get("id") == sid.get("id")

        # Carol, who never joined, reads the open public room's archive: both messages, in order, with the ids.
        answer = await carol.iq("set", "<query xmlns='urn:xmpp:mam:2' queryid='q1'/>", to=room)
        assert answer["type"] == "result", str(answer)
        results = carol.received_matching(lambda st: st.xml.find("{urn:xmpp:mam:2}result") is not None)
        assert [r.xml.find("{urn:xmpp:mam:2}result").get("id") for r in results] == ids, [str(r) for r in results]
        forwarded = results[0].xml.find(".//{urn:xmpp:forward:0}forwarded/" + q(CLIENT_NS, "message"))
        assert forwarded.get("from") == f"{room}/Bob" and forwarded.findtext(q(CLIENT_NS, "body")) == "first"
        assert results[0].xml.get("from") == room

        # Members only: a non-member outside the room may not read it.
        await configure(alice, room, {"muc#roomconfig_membersonly": True})
        refused = await carol.iq("set", "<query xmlns='urn:xmpp:mam:2' queryid='q2'/>", to=room)
        assert refused["type"] == "error" and refused.xml.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}forbidden") is not None, str(refused)

    xmpp.run(scenario())


def test_what_a_room_refuses_to_carry(hush, xmpp):
    """A room relays nothing it was not asked for: a decline only answers an invitation it relayed; a client's own
    muc#user payload (a forged invitation) and XEP-0359 ids are removed from groupchat; an owner's request that kicks
    itself first and then changes someone else is applied without the server falling over; a destroyed room's archive
    is not the next room's of that name."""
    server = start(hush)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        bob = await online(xmpp, server, "bob")
        carol = await online(xmpp, server, "carol")
        room = room_jid("careful")
        await create(alice, room, "Alice")
        await join_and_subject(bob, room, "Bob")

        # A decline nobody was invited for goes nowhere (carol would get a text from the room's domain).
        bob.xmpp.send_raw(f"<message to='{room}'><x xmlns='{USER_NS}'><decline to='carol@a.test'>"
                          "<reason>buy now</reason></decline></x></message>")
        marker = await carol.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="a.test")
        assert marker["type"] == "result"
        assert not carol.received_matching(is_message_from(room)), "an unsolicited decline was relayed"

        # Groupchat: the sender's own muc#user payload and stanza-ids do not reach anyone.
        bob.xmpp.send_raw(f"<message to='{room}' type='groupchat'><body>hi</body><x xmlns='{USER_NS}'>"
                          "<invite from='carol@a.test'/></x><stanza-id xmlns='urn:xmpp:sid:0' id='x' by='alice@a.test'/>"
                          "</message>")
        got = await alice.expect_stanza(is_groupchat(f"{room}/Bob", "hi"), "bob's groupchat")
        assert got.xml.find(q(USER_NS, "x")) is None, str(got)
        assert all(sid.get("by") == room for sid in got.xml.findall("{urn:xmpp:sid:0}stanza-id")), str(got)

        # The owner kicks itself and devoices bob in one request: applied, and the server still answers.
        answer = await alice.iq("set", f"<query xmlns='{ADMIN_NS}'><item nick='Alice' role='none'/>"
                                f"<item nick='Bob' role='visitor'/></query>", to=room)
        assert answer["type"] == "result", str(answer)
        await alice.expect_stanza(is_presence_from(f"{room}/Alice", "unavailable", {307, 110}), "kicked herself")
        await alice.ping_server()

        # Bob leaves: the temporary room goes, with its archive; a new room of that name starts empty.
        bob.xmpp.send_raw(f"<presence to='{room}/Bob' type='unavailable'/>")
        await bob.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable", {110}), "bob left")
        await create(carol, room, "Carol")
        answer = await carol.iq("set", "<query xmlns='urn:xmpp:mam:2' queryid='q'/>", to=room)
        assert answer["type"] == "result", str(answer)
        assert not carol.received_matching(lambda st: st.xml.find("{urn:xmpp:mam:2}result") is not None), \
            "the new room's archive has the old room's messages"

    xmpp.run(scenario())
