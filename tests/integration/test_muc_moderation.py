"""XEP-0045 end to end, the rules of a room: members-only and password-protected rooms, kicks, bans, voice,
who may act on whom, the affiliation lists, the owner's configuration form and what changing it does, and room
registration (docs/muc.md). Rooms' lives (destruction, multi-session nicks, persistence, disco) are in
test_muc_rooms.py."""

from __future__ import annotations


from muc_helpers import (ADMIN_NS, DATA_NS, OWNER_NS, ROOMCONFIG, USER_NS, admin_iq, assert_none_before, configure,
                         create, data_form, error_condition, fields_of, is_error_from, is_groupchat,
                         is_presence_from, item_of, join_and_subject, online, room_jid, say, send_join, start,
                         status_codes)
from xmpp_raw import CLIENT_NS, q

USERS = ("alice", "bob", "carol", "dave")
REGISTER_NS = "jabber:iq:register"


def with_item(predicate, **attrs):
    """predicate, and the muc#user <item/> carries these attributes (affiliation=..., role=...)."""
    def match(st) -> bool:
        item = item_of(st)
        return predicate(st) and item is not None and all(item.get(k) == v for k, v in attrs.items())
    return match


def is_status_message(room: str, codes: set[int]):
    """The room's own groupchat message (from the bare room JID) carrying these status codes (§10.2.1)."""
    def match(st) -> bool:
        return (st.xml.tag == q(CLIENT_NS, "message") and st.xml.get("type") == "groupchat"
                and st.xml.get("from") == room and codes <= status_codes(st))
    return match


def reason_of(st) -> str | None:
    item = item_of(st)
    return None if item is None else item.findtext(q(USER_NS, "reason"))


def assert_result(answer) -> None:
    assert answer["type"] == "result", str(answer)


def assert_error(answer, condition: str) -> None:
    assert answer["type"] == "error" and error_condition(answer) == condition, f"expected {condition}: {answer}"


def listed_jids(answer) -> set[str]:
    return {i.get("jid") for i in answer.xml.iter(q(ADMIN_NS, "item"))}


async def grant(c, room: str, affiliation: str, who: str, reason: str = "") -> None:
    """muc#admin: set `who`'s affiliation (§9.3 ff., §10.3 ff.); asserts a result."""
    inner = f"<reason>{reason}</reason>" if reason else ""
    assert_result(await admin_iq(c, room, "set", f"<item affiliation='{affiliation}' jid='{who}'>{inner}</item>"))


# ----------------------------------------------------------------------------------------------------------------
# 1. members-only rooms (§7.2.6, §9.3, §9.4, §9.5 config)
# ----------------------------------------------------------------------------------------------------------------

def test_members_only_room_membership_granted_revoked_and_switched_on(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob, carol = [await online(xmpp, server, n) for n in ("alice", "bob", "carol")]
        room = room_jid("club")
        await create(alice, room, "Alice", {"muc#roomconfig_membersonly": True})

        # §7.2.6: a non-member is refused with registration-required.
        send_join(bob, room, "Bob")
        await bob.expect_stanza(is_error_from(f"{room}/Bob", "presence", "registration-required"), "non-member")

        # §9.3: the owner makes him a member by JID; now he may enter, as a member.
        await grant(alice, room, "member", "bob@a.test")
        joined = await join_and_subject(bob, room, "Bob")
        assert item_of(joined).get("affiliation") == "member", str(joined)

        # §9.4: revoking membership in a members-only room removes him with 321 (110 to himself).
        await grant(alice, room, "none", "bob@a.test", "no longer a member")
        await alice.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable", {321}), "321 to the owner")
        revoked = await bob.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable", {321, 110}), "321 to bob")
        assert (item_of(revoked).get("affiliation"), item_of(revoked).get("role")) == ("none", "none"), str(revoked)
        send_join(bob, room, "Bob")
        await bob.expect_stanza(is_error_from(f"{room}/Bob", "presence", "registration-required"), "no longer in")

        # §9.5 (muc#roomconfig_membersonly switched on): non-members present are removed with 322, members stay.
        open_room = room_jid("opening")
        await create(alice, open_room, "Alice")
        await join_and_subject(bob, open_room, "Bob")
        await join_and_subject(carol, open_room, "Carol")
        await grant(alice, open_room, "member", "carol@a.test")
        await configure(alice, open_room, {"muc#roomconfig_membersonly": True})
        await bob.expect_stanza(is_presence_from(f"{open_room}/Bob", "unavailable", {322, 110}), "322 to bob")
        gone = await carol.expect_stanza(is_presence_from(f"{open_room}/Bob", "unavailable", {322}), "322 seen")
        assert 110 not in status_codes(gone)
        await alice.expect_stanza(is_presence_from(f"{open_room}/Bob", "unavailable", {322}), "322 to the owner")
        # The member is still there and still hears the room.
        await say(alice, open_room, "members only now")
        await assert_none_before(carol, is_presence_from(f"{open_room}/Carol", "unavailable"),
                                 is_groupchat(f"{open_room}/Alice", "members only now"), "the member removed")

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 2. password-protected rooms (§7.2.5)
# ----------------------------------------------------------------------------------------------------------------

def test_password_protected_room(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob = await online(xmpp, server, "alice"), await online(xmpp, server, "bob")
        room = room_jid("vault")
        await create(alice, room, "Alice", {"muc#roomconfig_passwordprotectedroom": True,
                                            "muc#roomconfig_roomsecret": "open sesame"})
        send_join(bob, room, "Bob")
        await bob.expect_stanza(is_error_from(f"{room}/Bob", "presence", "not-authorized"), "no password")
        send_join(bob, room, "Bob", password="open barley")
        await bob.expect_stanza(is_error_from(f"{room}/Bob", "presence", "not-authorized"), "a wrong password")
        await join_and_subject(bob, room, "Bob", password="open sesame")
        await alice.expect_stanza(is_presence_from(f"{room}/Bob"), "bob in, with the password")

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 3. moderation: kick (§8.2), ban (§9.1), voice (§8.3, §8.4), who may act on whom (§5.1, §10.6 last owner)
# ----------------------------------------------------------------------------------------------------------------

def test_kick_and_ban(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob, carol = [await online(xmpp, server, n) for n in ("alice", "bob", "carol")]
        room = room_jid("arena")
        await create(alice, room, "Alice")
        await join_and_subject(bob, room, "Bob")
        await join_and_subject(carol, room, "Carol")

        # §8.2: a participant may not kick.
        assert_error(await admin_iq(carol, room, "set", "<item role='none' nick='Bob'/>"), "forbidden")

        # §8.2: a moderator kicks by nick: 307 to everyone with the reason, 110 besides to the kicked.
        assert_result(await admin_iq(alice, room, "set",
                                     "<item role='none' nick='Bob'><reason>too loud</reason></item>"))
        for watcher in (alice, carol):
            seen = await watcher.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable", {307}), "the kick")
            assert reason_of(seen) == "too loud" and 110 not in status_codes(seen), str(seen)
        kicked = await bob.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable", {307, 110}), "kicked")
        assert reason_of(kicked) == "too loud" and item_of(kicked).get("role") == "none", str(kicked)

        # §9.1: a ban by JID (he is back in the room first): 301 to everyone, 110 to him; rejoining is forbidden;
        # the outcast list (§9.2 get) names him.
        await join_and_subject(bob, room, "Bob")
        await grant(alice, room, "outcast", "bob@a.test", "for good")
        seen = await carol.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable", {301}), "the ban")
        assert reason_of(seen) == "for good", str(seen)
        banned = await bob.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable", {301, 110}), "banned")
        assert reason_of(banned) == "for good", str(banned)
        assert (item_of(banned).get("affiliation"), item_of(banned).get("role")) == ("outcast", "none"), str(banned)
        send_join(bob, room, "Bob")
        await bob.expect_stanza(is_error_from(f"{room}/Bob", "presence", "forbidden"), "a banned rejoin")
        outcasts = await admin_iq(alice, room, "get", "<item affiliation='outcast'/>")
        assert_result(outcasts)
        assert listed_jids(outcasts) == {"bob@a.test"}, str(outcasts)

    xmpp.run(scenario())


def test_voice_in_a_moderated_room(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob = await online(xmpp, server, "alice"), await online(xmpp, server, "bob")
        room = room_jid("stage")
        await create(alice, room, "Alice", {"muc#roomconfig_moderatedroom": True})
        joined = await join_and_subject(bob, room, "Bob")
        assert item_of(joined).get("role") == "visitor", str(joined)

        # §7.4 / §8.3: a visitor has no voice.
        await say(bob, room, "may I?")
        await bob.expect_stanza(is_error_from(room, "message", "forbidden"), "a visitor's groupchat refused")

        # §8.3: the moderator grants voice; everyone sees the new role; he speaks.
        assert_result(await admin_iq(alice, room, "set", "<item role='participant' nick='Bob'/>"))
        await bob.expect_stanza(with_item(is_presence_from(f"{room}/Bob", None, {110}), role="participant"), "voice")
        await alice.expect_stanza(with_item(is_presence_from(f"{room}/Bob"), role="participant"), "voice seen")
        await say(bob, room, "thank you")
        await alice.expect_stanza(is_groupchat(f"{room}/Bob", "thank you"), "the voiced participant's groupchat")

        # §8.4: voice revoked: a visitor again, refused again.
        assert_result(await admin_iq(alice, room, "set", "<item role='visitor' nick='Bob'/>"))
        await bob.expect_stanza(with_item(is_presence_from(f"{room}/Bob", None, {110}), role="visitor"), "revoked")
        await say(bob, room, "again?")
        await bob.expect_stanza(is_error_from(room, "message", "forbidden"), "a silenced visitor refused")
        await say(alice, room, "marker")
        await assert_none_before(alice, is_groupchat(f"{room}/Bob", "again?"), is_groupchat(f"{room}/Alice", "marker"),
                                 "a visitor's groupchat")

    xmpp.run(scenario())


def test_who_may_act_on_whom(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob, carol = [await online(xmpp, server, n) for n in ("alice", "bob", "carol")]
        room = room_jid("council")
        await create(alice, room, "Alice")
        await grant(alice, room, "admin", "bob@a.test")
        await grant(alice, room, "admin", "carol@a.test")
        await join_and_subject(bob, room, "Bob")
        await join_and_subject(carol, room, "Carol")

        # §8.2: a moderator may not kick an admin unless of a higher affiliation (bob and carol are both admins).
        assert_error(await admin_iq(bob, room, "set", "<item role='none' nick='Carol'/>"), "not-allowed")
        # An owner is higher: the kick goes through.
        assert_result(await admin_iq(alice, room, "set", "<item role='none' nick='Carol'/>"))
        await carol.expect_stanza(is_presence_from(f"{room}/Carol", "unavailable", {307, 110}), "owner kicks admin")

        # §10.6 / §10.7: the only owner cannot give the room up (demoted to admin, or to nothing).
        for lower in ("admin", "none"):
            answer = await admin_iq(alice, room, "set", f"<item affiliation='{lower}' jid='alice@a.test'/>")
            assert_error(answer, "conflict")
        owners = await admin_iq(alice, room, "get", "<item affiliation='owner'/>")
        assert listed_jids(owners) == {"alice@a.test"}, str(owners)

    xmpp.run(scenario())


def test_banning_oneself_is_a_conflict(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob = await online(xmpp, server, "alice"), await online(xmpp, server, "bob")
        room = room_jid("selfban")
        await create(alice, room, "Alice")
        await grant(alice, room, "owner", "carol@a.test")  # alice is not the last owner: no last-owner rule
        await grant(alice, room, "admin", "bob@a.test")
        await join_and_subject(bob, room, "Bob")
        for who, jid in ((alice, "alice@a.test"), (bob, "bob@a.test")):
            answer = await admin_iq(who, room, "set", f"<item affiliation='outcast' jid='{jid}'/>")
            assert_error(answer, "conflict")
        owners = await admin_iq(alice, room, "get", "<item affiliation='owner'/>")
        assert listed_jids(owners) == {"alice@a.test", "carol@a.test"}, str(owners)

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 4. affiliation lists (§9.5 member list, §10.5 owner list, §10.8 admin list)
# ----------------------------------------------------------------------------------------------------------------

def test_affiliation_lists(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob, dave = [await online(xmpp, server, n) for n in ("alice", "bob", "dave")]
        room = room_jid("registry")
        await create(alice, room, "Alice")
        await grant(alice, room, "admin", "bob@a.test")
        await grant(alice, room, "member", "carol@a.test")
        await join_and_subject(bob, room, "Bob")
        await join_and_subject(dave, room, "Dave")

        expected = {"member": {"carol@a.test"}, "admin": {"bob@a.test"}, "owner": {"alice@a.test"}}
        for who in (alice, bob):
            for affiliation, jids in expected.items():
                answer = await admin_iq(who, room, "get", f"<item affiliation='{affiliation}'/>")
                assert_result(answer)
                assert listed_jids(answer) == jids, f"{who.jid} asking for {affiliation}s: {answer}"
                assert {i.get("affiliation") for i in answer.xml.iter(q(ADMIN_NS, "item"))} == {affiliation}
        for affiliation in expected:
            answer = await admin_iq(dave, room, "get", f"<item affiliation='{affiliation}'/>")
            assert_error(answer, "forbidden")

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 5. configuration (§10.2): the form, who may have it, what a change tells the occupants, the occupant limit
# ----------------------------------------------------------------------------------------------------------------

def test_configuration_form_whois_change_and_max_users(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob, carol = [await online(xmpp, server, n) for n in ("alice", "bob", "carol")]
        room = room_jid("settings")
        await create(alice, room, "Alice", {"muc#roomconfig_roomname": "Settings"})
        await join_and_subject(bob, room, "Bob")

        form = await alice.iq("get", f"<query xmlns='{OWNER_NS}'/>", to=room)
        assert_result(form)
        x = form.xml.find(f".//{q(DATA_NS, 'x')}")
        assert x is not None and x.get("type") == "form", str(form)
        fields = fields_of(form)
        assert fields["FORM_TYPE"] == [ROOMCONFIG], str(form)
        for var in ("roomname", "persistentroom", "publicroom", "membersonly", "moderatedroom",
                    "passwordprotectedroom", "roomsecret", "whois", "maxusers"):
            assert f"muc#roomconfig_{var}" in fields, f"no muc#roomconfig_{var}: {form}"
        assert fields["muc#roomconfig_roomname"] == ["Settings"], str(form)
        assert fields["muc#roomconfig_whois"] == ["moderators"], str(form)

        # §10.2: only owners configure.
        assert_error(await bob.iq("get", f"<query xmlns='{OWNER_NS}'/>", to=room), "forbidden")
        denied = await bob.iq("set", f"<query xmlns='{OWNER_NS}'>"
                              f"{data_form(ROOMCONFIG, {'muc#roomconfig_roomname': 'Mine'})}</query>", to=room)
        assert_error(denied, "forbidden")

        # §10.2.1: the room becomes non-anonymous: the occupants hear 104 and 172.
        await configure(alice, room, {"muc#roomconfig_whois": "anyone"})
        for c in (alice, bob):
            await c.expect_stanza(is_status_message(room, {104, 172}), "104 and 172")

        # muc#roomconfig_maxusers: with two in, a third is refused (§7.2.10: service-unavailable).
        await configure(alice, room, {"muc#roomconfig_maxusers": "2"})
        await bob.expect_stanza(is_status_message(room, {104}), "104 for the limit")
        send_join(carol, room, "Carol")
        await carol.expect_stanza(is_error_from(f"{room}/Carol", "presence", "service-unavailable"), "room full")
        # Once one leaves, there is room again. In the non-anonymous room the newcomer hears 100 (§7.2.4) and
        # sees the others' real JIDs (§7.2.3).
        bob.xmpp.send_raw(f"<presence to='{room}/Bob' type='unavailable'/>")
        await alice.expect_stanza(is_presence_from(f"{room}/Bob", "unavailable"), "bob left")
        await join_and_subject(carol, room, "Carol", codes={100})
        seen = await carol.expect_stanza(is_presence_from(f"{room}/Alice"), "alice, to the newcomer")
        assert item_of(seen).get("jid") == alice.jid, str(seen)

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 6. room registration (§7.10): a reserved nick
# ----------------------------------------------------------------------------------------------------------------

def test_registering_a_nick_reserves_it(hush, xmpp):
    server = start(hush, users=USERS)

    async def scenario():
        alice, bob, carol = [await online(xmpp, server, n) for n in ("alice", "bob", "carol")]
        room = room_jid("names")
        await create(alice, room, "Alice")

        form = await bob.iq("get", f"<query xmlns='{REGISTER_NS}'/>", to=room)
        assert_result(form)
        assert "muc#register_roomnick" in fields_of(form), str(form)
        submit = data_form("http://jabber.org/protocol/muc#register", {"muc#register_roomnick": "Bobby"})
        assert_result(await bob.iq("set", f"<query xmlns='{REGISTER_NS}'>{submit}</query>", to=room))

        # §7.10: registered now; the service says so and names the nick.
        again = await bob.iq("get", f"<query xmlns='{REGISTER_NS}'/>", to=room)
        assert_result(again)
        query = again.xml.find(q(REGISTER_NS, "query"))
        assert query.find(q(REGISTER_NS, "registered")) is not None, str(again)
        assert query.findtext(q(REGISTER_NS, "username")) == "Bobby", str(again)

        # §7.2.9: someone else cannot take the reserved nick; its owner can.
        send_join(carol, room, "Bobby")
        await carol.expect_stanza(is_error_from(f"{room}/Bobby", "presence", "conflict"), "a reserved nick")
        joined = await join_and_subject(bob, room, "Bobby")
        assert item_of(joined).get("affiliation") == "member", str(joined)
        # Nor can another occupant change to it.
        await join_and_subject(carol, room, "Carol")
        carol.xmpp.send_raw(f"<presence to='{room}/Bobby'/>")
        await carol.expect_stanza(is_error_from(f"{room}/Bobby", "presence", "conflict"), "nick change refused")

    xmpp.run(scenario())
