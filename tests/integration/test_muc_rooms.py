"""XEP-0045 end to end, rooms' lives: destruction, one nick from several resources, persistent rooms across a
restart (both storage backends) and temporary ones that go, and what disco says of a room (docs/muc.md). The rules
inside a room are in test_muc_moderation.py."""

from __future__ import annotations


from muc_helpers import (ADMIN_NS, PASSWORDS, DISCO_INFO_NS, DISCO_ITEMS_NS, MUC, OWNER_NS, USER_NS, admin_iq,
                         assert_none_before, configure, create, error_condition, fields_of, is_error_from,
                         is_groupchat, is_presence_from, is_subject, item_of, join, join_and_subject, muc_x, online,
                         room_jid, say, send_join, start, status_codes)
from xmpp_raw import CLIENT_NS, q

USERS = ("alice", "bob", "carol")


def assert_result(answer) -> None:
    assert answer["type"] == "result", str(answer)


async def disco_info(c, jid: str):
    return await c.iq("get", f"<query xmlns='{DISCO_INFO_NS}'/>", to=jid)


async def assert_gone(c, room: str) -> None:
    """The room does not exist: its disco#info is item-not-found (§6.4)."""
    answer = await disco_info(c, room)
    assert answer["type"] == "error" and error_condition(answer) == "item-not-found", f"{room} still there: {answer}"


async def service_items(c) -> dict[str, str]:
    """The service's disco#items (§6.3): room JID -> name."""
    answer = await c.iq("get", f"<query xmlns='{DISCO_ITEMS_NS}'/>", to=MUC)
    assert_result(answer)
    return {i.get("jid"): i.get("name") for i in answer.xml.iter(q(DISCO_ITEMS_NS, "item"))}


def features_of(answer) -> set[str]:
    return {f.get("var") for f in answer.xml.iter(q(DISCO_INFO_NS, "feature"))}


# ----------------------------------------------------------------------------------------------------------------
# 7. destruction (§10.9)
# ----------------------------------------------------------------------------------------------------------------

def test_destroying_a_room(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob = await online(xmpp, server, "alice"), await online(xmpp, server, "bob")
        room = room_jid("doomed")
        await create(alice, room, "Alice")
        await join_and_subject(bob, room, "Bob")

        # Only an owner destroys.
        denied = await bob.iq("set", f"<query xmlns='{OWNER_NS}'><destroy/></query>", to=room)
        assert denied["type"] == "error" and error_condition(denied) == "forbidden", str(denied)

        answer = await alice.iq("set", f"<query xmlns='{OWNER_NS}'><destroy jid='{room_jid('heaven')}'>"
                                "<reason>moving on</reason></destroy></query>", to=room)
        assert_result(answer)
        # Each occupant gets one unavailable presence with <destroy jid=alternate><reason/></destroy>.
        for c, nick in ((alice, "Alice"), (bob, "Bob")):
            gone = await c.expect_stanza(is_presence_from(f"{room}/{nick}", "unavailable"), f"{nick}: destroyed")
            destroy = muc_x(gone).find(q(USER_NS, "destroy"))
            assert destroy is not None and destroy.get("jid") == room_jid("heaven"), str(gone)
            assert destroy.findtext(q(USER_NS, "reason")) == "moving on", str(gone)
            assert item_of(gone).get("role") == "none", str(gone)

        # The room is gone: disco says so, the old occupants are in nothing, and joining creates a new room.
        await assert_gone(bob, room)
        await say(bob, room, "anyone?")
        await bob.expect_stanza(is_error_from(room, "message", "item-not-found"), "no room to talk in")
        created = await join_and_subject(bob, room, "Bob", codes={201})
        assert item_of(created).get("affiliation") == "owner", str(created)

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 8. one nick from two resources (§7.2 "multi-session nick")
# ----------------------------------------------------------------------------------------------------------------

def test_one_nick_from_two_resources(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        desk = await online(xmpp, server, "alice", "desk")
        phone = await online(xmpp, server, "alice", "phone")
        bob = await online(xmpp, server, "bob")
        room = room_jid("shared")
        await create(desk, room, "Alice")
        await join_and_subject(bob, room, "Bob")
        await desk.expect_stanza(is_presence_from(f"{room}/Bob"), "bob's presence")

        # The second resource joins under the same nick: it gets the occupants and its self-presence.
        await join_and_subject(phone, room, "Alice")
        await phone.expect_stanza(is_presence_from(f"{room}/Bob"), "bob, to the second resource")
        # Bob sees one occupant Alice: no second nick, no departure; the room lists two occupants.
        items = await bob.iq("get", f"<query xmlns='{DISCO_ITEMS_NS}'/>", to=room)
        assert sorted(i.get("jid") for i in items.xml.iter(q(DISCO_ITEMS_NS, "item"))) == \
            [f"{room}/Alice", f"{room}/Bob"], str(items)
        moderators = await admin_iq(desk, room, "get", "<item role='moderator'/>")
        assert [i.get("nick") for i in moderators.xml.iter(q(ADMIN_NS, "item"))] == ["Alice"], str(moderators)
        assert fields_of(await disco_info(bob, room))["muc#roominfo_occupants"] == ["2"]

        # Groupchat reaches both resources; what either sends comes from the one nick.
        await say(bob, room, "to both")
        for c in (desk, phone):
            await c.expect_stanza(is_groupchat(f"{room}/Bob", "to both"), f"{c.jid}: groupchat")
        await say(phone, room, "from the phone")
        await bob.expect_stanza(is_groupchat(f"{room}/Alice", "from the phone"), "the phone's groupchat")

        # The phone leaves: it alone hears it left (110); bob sees Alice stay; the desk still gets groupchat.
        phone.xmpp.send_raw(f"<presence to='{room}/Alice' type='unavailable'/>")
        await phone.expect_stanza(is_presence_from(f"{room}/Alice", "unavailable", {110}), "the phone left")
        await say(bob, room, "still there?")
        await assert_none_before(bob, is_presence_from(f"{room}/Alice", "unavailable"),
                                 is_groupchat(f"{room}/Bob", "still there?"), "alice leaving with one resource")
        await desk.expect_stanza(is_groupchat(f"{room}/Bob", "still there?"), "groupchat to the remaining desk")
        assert not desk.received_matching(is_presence_from(f"{room}/Alice", "unavailable")), "the desk told it left"
        ok = await desk.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=f"{room}/Alice")
        assert_result(ok)
        # XEP-0410 for the phone: no longer joined.
        gone = await phone.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=f"{room}/Alice")
        assert gone["type"] == "error" and error_condition(gone) == "not-acceptable", str(gone)

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 9. persistence (§10.1.3 persistent/temporary rooms) across a restart, on both backends
# ----------------------------------------------------------------------------------------------------------------

def test_persistent_room_survives_a_restart_temporary_does_not(hush, xmpp, storage_backend):
    server = start(hush, storage_backend, users=USERS)
    kept, temporary = room_jid("kept"), room_jid("fleeting")
    destroyed, demoted = room_jid("destroyed"), room_jid("demoted")

    async def before():
        alice = await online(xmpp, server, "alice")
        await create(alice, kept, "Alice", {"muc#roomconfig_persistentroom": True,
                                            "muc#roomconfig_roomname": "Kept Room",
                                            "muc#roomconfig_membersonly": True})
        for affiliation, who in (("member", "bob@a.test"), ("outcast", "carol@a.test")):
            answer = await admin_iq(alice, kept, "set", f"<item affiliation='{affiliation}' jid='{who}'/>")
            assert_result(answer)
        alice.xmpp.send_raw(f"<message to='{kept}' type='groupchat'><subject>Kept subject</subject></message>")
        await alice.expect_stanza(lambda st: is_subject(kept)(st)
                                  and st.xml.findtext(q(CLIENT_NS, "subject")) == "Kept subject", "the subject")
        # A temporary room, occupied while the server stops.
        await create(alice, temporary, "Alice")
        assert {kept, temporary} <= set(await service_items(alice))
        # Persistent rooms that stop being stored: one destroyed (§10.9), one made temporary while occupied.
        await create(alice, destroyed, "Alice", {"muc#roomconfig_persistentroom": True})
        assert_result(await alice.iq("set", f"<query xmlns='{OWNER_NS}'><destroy/></query>", to=destroyed))
        await create(alice, demoted, "Alice", {"muc#roomconfig_persistentroom": True})
        await configure(alice, demoted, {"muc#roomconfig_persistentroom": False})
        assert_result(await disco_info(alice, demoted))

    xmpp.run(before())
    server.restart()

    async def after():
        alice = await online(xmpp, server, "alice")
        bob = await online(xmpp, server, "bob")
        carol = await online(xmpp, server, "carol")
        # Listed (public), under its name; the temporary room did not survive.
        items = await service_items(bob)
        assert items.get(kept) == "Kept Room", str(items)
        assert not {temporary, destroyed, demoted} & set(items), str(items)
        for gone in (temporary, destroyed, demoted):
            await assert_gone(bob, gone)
        # The configuration is the one stored.
        form = await alice.iq("get", f"<query xmlns='{OWNER_NS}'/>", to=kept)
        assert_result(form)
        fields = fields_of(form)
        assert fields["muc#roomconfig_roomname"] == ["Kept Room"], str(form)
        assert fields["muc#roomconfig_persistentroom"] == ["1"] and fields["muc#roomconfig_membersonly"] == ["1"]
        # The member joins (and gets the stored subject); the outcast is still out; a stranger needs membership.
        await join(bob, kept, "Bob")
        subject = await bob.expect_stanza(is_subject(kept), "the subject on joining")
        assert subject.xml.findtext(q(CLIENT_NS, "subject")) == "Kept subject", str(subject)
        send_join(carol, kept, "Carol")
        await carol.expect_stanza(is_error_from(f"{kept}/Carol", "presence", "forbidden"), "the outcast refused")
        joined = await join_and_subject(alice, kept, "Alice")
        assert item_of(joined).get("affiliation") == "owner" and 201 not in status_codes(joined), str(joined)

    xmpp.run(after())


def test_temporary_room_goes_with_its_last_occupant(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob = await online(xmpp, server, "alice"), await online(xmpp, server, "bob")
        room = room_jid("brief")
        await create(alice, room, "Alice")
        await join_and_subject(bob, room, "Bob")
        alice.xmpp.send_raw(f"<presence to='{room}/Alice' type='unavailable'/>")
        await alice.expect_stanza(is_presence_from(f"{room}/Alice", "unavailable", {110}), "alice left")
        assert_result(await disco_info(alice, room))  # bob is still in it
        bob.xmpp.send_raw(f"<presence to='{room}/Bob' type='unavailable'/>")
        await bob.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable", {110}), "bob left")
        await assert_gone(alice, room)
        assert room not in await service_items(alice)

    xmpp.run(scenario())


def test_temporary_room_emptied_by_a_ban_is_destroyed(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob = await online(xmpp, server, "alice"), await online(xmpp, server, "bob")
        room = room_jid("emptied")
        await create(alice, room, "Alice")
        await join_and_subject(bob, room, "Bob")
        alice.xmpp.send_raw(f"<presence to='{room}/Alice' type='unavailable'/>")
        await alice.expect_stanza(is_presence_from(f"{room}/Alice", "unavailable", {110}), "alice left")
        # The owner, from outside, bans the last occupant: the temporary room has no occupant left.
        answer = await admin_iq(alice, room, "set", "<item affiliation='outcast' jid='bob@a.test'/>")
        assert_result(answer)
        await bob.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable", {301, 110}), "bob banned")
        await assert_gone(alice, room)

    xmpp.run(scenario())


def test_empty_room_made_temporary_is_destroyed(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        room = room_jid("unkept")
        await create(alice, room, "Alice", {"muc#roomconfig_persistentroom": True})
        alice.xmpp.send_raw(f"<presence to='{room}/Alice' type='unavailable'/>")
        await alice.expect_stanza(is_presence_from(f"{room}/Alice", "unavailable", {110}), "alice left")
        assert_result(await disco_info(alice, room))  # persistent: still there, empty
        await configure(alice, room, {"muc#roomconfig_persistentroom": False})
        await assert_gone(alice, room)

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 10. disco of a room (§6.4) and of the service (§6.3)
# ----------------------------------------------------------------------------------------------------------------

def test_room_disco_features_follow_the_configuration(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob = await online(xmpp, server, "alice"), await online(xmpp, server, "bob")
        plain, strict, hidden = room_jid("plain"), room_jid("strict"), room_jid("hidden")
        await create(alice, plain, "Alice")
        await create(alice, strict, "Alice", {"muc#roomconfig_persistentroom": True,
                                              "muc#roomconfig_membersonly": True,
                                              "muc#roomconfig_passwordprotectedroom": True,
                                              "muc#roomconfig_roomsecret": "s3cret",
                                              "muc#roomconfig_moderatedroom": True,
                                              "muc#roomconfig_whois": "anyone"})
        await create(alice, hidden, "Alice", {"muc#roomconfig_publicroom": False})

        expected = {
            plain: {"muc_temporary", "muc_open", "muc_unsecured", "muc_unmoderated", "muc_semianonymous",
                    "muc_public"},
            strict: {"muc_persistent", "muc_membersonly", "muc_passwordprotected", "muc_moderated",
                     "muc_nonanonymous", "muc_public"},
            hidden: {"muc_temporary", "muc_open", "muc_unsecured", "muc_unmoderated", "muc_semianonymous",
                     "muc_hidden"},
        }
        opposite = {"muc_temporary": "muc_persistent", "muc_open": "muc_membersonly",
                    "muc_unsecured": "muc_passwordprotected", "muc_unmoderated": "muc_moderated",
                    "muc_semianonymous": "muc_nonanonymous", "muc_public": "muc_hidden"}
        opposite.update({v: k for k, v in opposite.items()})
        for room, wanted in expected.items():
            info = await disco_info(bob, room)  # asked by a non-occupant
            assert_result(info)
            identity = info.xml.find(f".//{q(DISCO_INFO_NS, 'identity')}")
            assert (identity.get("category"), identity.get("type")) == ("conference", "text"), str(info)
            features = features_of(info)
            assert "http://jabber.org/protocol/muc" in features, str(info)
            assert wanted <= features, f"{room}: missing {wanted - features}"
            assert not {opposite[f] for f in wanted} & features, f"{room}: contradictory features {features}"

        # A change of configuration shows at once.
        await configure(alice, plain, {"muc#roomconfig_moderatedroom": True})
        features = features_of(await disco_info(bob, plain))
        assert "muc_moderated" in features and "muc_unmoderated" not in features, str(features)

        # Hidden rooms are not listed by the service (§6.3); public ones are.
        items = await service_items(bob)
        assert plain in items and strict in items and hidden not in items, str(items)
        # Switching a hidden room to public lists it.
        await configure(alice, hidden, {"muc#roomconfig_publicroom": True})
        assert hidden in await service_items(bob)

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 11. going offline leaves the rooms (XEP-0045 §7.14; RFC 6121 §4.5.2, §4.6.3: the user's server sends the
#     unavailable presence to every entity the session sent directed presence to)
# ----------------------------------------------------------------------------------------------------------------

def test_disconnecting_leaves_the_room(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob = await online(xmpp, server, "alice"), await online(xmpp, server, "bob")
        phone = await online(xmpp, server, "bob", "phone")
        room = room_jid("exits")
        await create(alice, room, "Alice")
        await join_and_subject(bob, room, "Bob")
        await join_and_subject(phone, room, "Bob")
        # One of two resources goes: the nick stays; the last goes: the nick leaves.
        await phone.disconnect()
        await say(alice, room, "one left")
        await assert_none_before(alice, is_presence_from(f"{room}/Bob", "unavailable"),
                                 is_groupchat(f"{room}/Alice", "one left"), "a nick leaving with one resource")
        await bob.disconnect()
        await alice.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable"), "bob went offline")

    xmpp.run(scenario())


def test_broadcast_unavailable_leaves_the_room(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob = await online(xmpp, server, "alice"), await online(xmpp, server, "bob")
        room = room_jid("signoff")
        await create(alice, room, "Alice")
        await join_and_subject(bob, room, "Bob")
        bob.xmpp.send_raw("<presence type='unavailable'/>")  # offline, the stream still open
        await bob.ping_server()  # his stream's stanzas are handled in order: the unavailable has been dealt with
        items = await alice.iq("get", f"<query xmlns='{DISCO_ITEMS_NS}'/>", to=room)
        assert f"{room}/Bob" not in {i.get("jid") for i in items.xml.iter(q(DISCO_ITEMS_NS, "item"))}, str(items)
        await alice.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable"), "bob's unavailable")

    xmpp.run(scenario())


def test_disconnecting_without_initial_presence_leaves_the_room(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        bob = xmpp.client("bob@a.test/bare", PASSWORDS["bob"])
        await bob.connect(server.port("c2s"), presence=False)  # joins a room without being available first
        room = room_jid("lurkers")
        await create(alice, room, "Alice")
        await join_and_subject(bob, room, "Bob")
        await bob.disconnect()
        # The server has dealt with the end of his session (its last step is this log line); the unavailable to
        # the room goes out with it, so it is due at once.
        await server.wait_log("last activity of bob@a.test recorded")
        await alice.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable"), "bob's unavailable", timeout=2)

    xmpp.run(scenario())
