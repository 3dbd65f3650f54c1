"""XEP-0045 rooms and anti-SPIM end to end (docs/antispim.md, "What is judged"): a room relays an invitation judged as
its verified inviter (row stranger-room-invitation), so a stranger's is held and the inviter challenged; a contact's
goes through; XEP-0249 direct invitations are ordinary messages; occupants' private messages and groupchat reach a
user in the room, a stranger's groupchat from anywhere else does not; the flood allowance, newcomers as visitors and
XEP-0377 reports to the room's moderators.

Servers that test strangers run Hush's default local trust (conftest trusts every account): new accounts are
strangers to each other, so mallory, a fresh account, is a stranger to alice on one server.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET


from muc_helpers import (HOST, PASSWORDS, USER_NS, admin_iq, assert_none_before, create, error_condition,
                         is_error_from, is_groupchat, is_message_from, is_presence_from, item_of, join,
                         join_and_subject, online, room_jid, say, start)
from test_antispim import answer_number, challenge_of, challenge_settings, is_approval, is_challenge
from test_defences import metric, with_http
from test_im import is_presence
from xmpp_raw import CLIENT_NS, q

CONFERENCE_NS = "jabber:x:conference"
ALICE = f"alice@{HOST}"


def start_strangers(hush, antispim: dict | None = None, **sections):
    """New local accounts are strangers (the defaults), the challenge is a known question answered at once, /metrics."""
    server = hush(server={"hosts": [HOST]},
                  **with_http(antispim={"trusted_after_hours": 168, "trusted_min_contacts": 1, **(antispim or {})},
                              **{"antispim.challenge": challenge_settings(0)}, **sections))
    for name in ("alice", "bob", "carol", "mallory"):
        server.adduser(f"{name}@{HOST}", PASSWORDS[name])
    return server


def row(server, name: str) -> int:
    return metric(server, f'hush_antispim_classified_total{{row="{name}"}}')


def rows(server, *names: str) -> dict[str, int]:
    return {n: row(server, n) for n in names}


def has_text(text: str):
    return lambda st: text in ET.tostring(st.xml, encoding="unicode")


def is_invitation(room: str, inviter: str, reason: str | None = None):
    """A mediated invitation (XEP-0045 §7.8.2) as the invitee gets it: from the room's bare JID, naming the inviter."""
    def match(st) -> bool:
        invite = st.xml.find(f"{q(USER_NS, 'x')}/{q(USER_NS, 'invite')}")
        return (st.xml.tag == q(CLIENT_NS, "message") and st.xml.get("from") == room and st.xml.get("type") != "error"
                and invite is not None and invite.get("from") == inviter
                and (reason is None or invite.findtext(q(USER_NS, "reason")) == reason))
    return match


def is_direct_invitation(sender_bare: str, room: str):
    def match(st) -> bool:
        x = st.xml.find(q(CONFERENCE_NS, "x"))
        return (st.xml.tag == q(CLIENT_NS, "message") and (st.xml.get("from") or "").split("/")[0] == sender_bare
                and x is not None and x.get("jid") == room)
    return match


def mediated_invite(c, room: str, invitee: str, reason: str, extra: str = "") -> None:
    c.xmpp.send_raw(f"<message to='{room}'><x xmlns='{USER_NS}'><invite to='{invitee}'{extra}>"
                    f"<reason>{reason}</reason></invite></x></message>")


def direct_invite(c, to: str, room: str, reason: str) -> None:
    c.xmpp.send_raw(f"<message to='{to}'><x xmlns='{CONFERENCE_NS}' jid='{room}' reason='{reason}'/></message>")


async def settle(*clients) -> None:
    """Each client's stanzas are handled in order: a round trip from each (senders first) is a barrier."""
    for c in clients:
        await c.ping_server()


async def pass_challenge(sender, receiver_bare: str, st=None) -> None:
    """Answer the receiver's challenge (st, or the next one to come) right, and wait for the approval."""
    if st is None:
        st = await sender.expect_stanza(is_challenge(receiver_bare), f"the challenge from {receiver_bare}")
    sender.send_message(receiver_bare, answer_number(challenge_of(st)[1]))
    await sender.expect_stanza(is_approval(receiver_bare), f"{receiver_bare}'s approval")


async def befriend(a, b) -> None:
    """Mutual subscription between two fresh accounts that are strangers: a asks b (a passes b's challenge; b is a's
    contact from then on: she asked him), b approves, b asks a (no challenge: a asked first), a approves."""
    a_bare, b_bare = a.xmpp.boundjid.bare, b.xmpp.boundjid.bare
    a.xmpp.send_presence(pto=b_bare, ptype="subscribe")
    await pass_challenge(a, b_bare)
    await b.expect_stanza(is_presence(a_bare, "subscribe"), "the held subscription request")
    b.xmpp.send_presence(pto=a_bare, ptype="subscribed")
    await a.expect_stanza(is_presence(b_bare, "subscribed"), "the approval")
    b.xmpp.send_presence(pto=a_bare, ptype="subscribe")
    await a.expect_stanza(is_presence(b_bare, "subscribe"), "the request back, unchallenged")
    a.xmpp.send_presence(pto=b_bare, ptype="subscribed")
    await b.expect_stanza(is_presence(a_bare, "subscribed"), "the approval back")
    assert not b.received_matching(is_challenge(a_bare))


# ----------------------------------------------------------------------------------------------------------------
# 1-3. invitations
# ----------------------------------------------------------------------------------------------------------------

def test_a_strangers_mediated_invitation_is_held_until_the_inviter_answers(hush, xmpp):
    server = start_strangers(hush)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        mallory = await online(xmpp, server, "mallory")
        room = await create(mallory, room_jid("pills"), "Mallory")
        before = row(server, "stranger-room-invitation")
        # The room names the inviter it verified, whoever the invitation claims to be from.
        mediated_invite(mallory, room, ALICE, "cheap pills inside", extra=f" from='carol@{HOST}'")
        # The inviter the room verified is challenged (not the room), and alice sees nothing yet.
        challenge = await mallory.expect_stanza(is_challenge(ALICE), "alice's challenge to the inviter")
        await settle(mallory, alice)
        assert not alice.received_matching(has_text("cheap pills")), "a stranger's invitation was not held"
        assert not alice.received_matching(lambda st: (st.xml.get("from") or "").startswith(room)), \
            "the room (or its answer to a challenge sent to it) reached alice"
        assert row(server, "stranger-room-invitation") == before + 1
        # The inviter answers as a person: the held invitation is released, from the room, naming her.
        await pass_challenge(mallory, ALICE, challenge)
        got = await alice.expect_stanza(is_invitation(room, f"mallory@{HOST}", "cheap pills inside"),
                                        "the released invitation")
        assert got.xml.find("{urn:xmpp:delay}delay") is not None, str(got)

    xmpp.run(scenario())


def test_a_strangers_invitation_through_a_room_alice_has_been_in_is_still_judged(hush, xmpp):
    """Alice joined (and left) mallory's room: the room is a contact of hers, mallory is not. An invitation the room
    relays is judged as mallory — not waved through as the room's."""
    server = start_strangers(hush)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        mallory = await online(xmpp, server, "mallory")
        room = await create(mallory, room_jid("trap"), "Mallory")
        await join_and_subject(alice, room, "Alice")
        alice.xmpp.send_raw(f"<presence to='{room}/Alice' type='unavailable'/>")
        await alice.expect_stanza(is_presence_from(f"{room}/Alice", "unavailable", {110}), "alice left")
        before = rows(server, "stranger-room-invitation", "contact")
        mediated_invite(mallory, room, ALICE, "come back for pills")
        await mallory.expect_stanza(is_challenge(ALICE), "alice's challenge to the inviter")
        await settle(mallory, alice)
        assert not alice.received_matching(has_text("come back for pills"))
        assert rows(server, "stranger-room-invitation", "contact") == \
            {"stranger-room-invitation": before["stranger-room-invitation"] + 1, "contact": before["contact"]}

    xmpp.run(scenario())


def test_contacts_invitations_arrive_and_strangers_direct_invitations_are_held(hush, xmpp):
    server = start_strangers(hush)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        carol = await online(xmpp, server, "carol")
        mallory = await online(xmpp, server, "mallory")
        await befriend(alice, carol)
        room = await create(carol, room_jid("book-club"), "Carol")
        before = rows(server, "contact", "stranger-room-invitation", "stranger-message")

        # 2. A contact's mediated invitation arrives at once.
        mediated_invite(carol, room, ALICE, "books tonight")
        await alice.expect_stanza(is_invitation(room, f"carol@{HOST}", "books tonight"), "carol's invitation")
        # Alice declines through the room (XEP-0045 §7.8.2): carol learns it from the room, naming alice.
        alice.xmpp.send_raw(f"<message to='{room}'><x xmlns='{USER_NS}'><decline to='carol@{HOST}'>"
                            f"<reason>busy</reason></decline></x></message>")
        declined = await carol.expect_stanza(
            lambda st: is_message_from(room)(st) and st.xml.find(f"{q(USER_NS, 'x')}/{q(USER_NS, 'decline')}")
            is not None, "alice's decline")
        assert declined.xml.find(f"{q(USER_NS, 'x')}/{q(USER_NS, 'decline')}").get("from") == ALICE, str(declined)
        # 3. A contact's XEP-0249 direct invitation too.
        direct_invite(carol, ALICE, room, "or now")
        await alice.expect_stanza(is_direct_invitation(f"carol@{HOST}", room), "carol's direct invitation")
        assert not carol.received_matching(is_challenge(ALICE))
        after = rows(server, "contact", "stranger-room-invitation", "stranger-message")
        assert after == {**before, "contact": before["contact"] + 3}, after  # invitation, decline, direct

        # A stranger's direct invitation is an ordinary message from her: held, and she is challenged.
        direct_invite(mallory, ALICE, room, "pills")
        await mallory.expect_stanza(is_challenge(ALICE), "alice's challenge to a direct invitation")
        await settle(mallory, alice)
        assert not alice.received_matching(is_direct_invitation(f"mallory@{HOST}", room))
        assert row(server, "stranger-message") == before["stranger-message"] + 1

    xmpp.run(scenario())


def test_the_inviter_is_told_when_its_invitation_is_refused(hush, xmpp):
    server = start_strangers(hush, antispim={"max_held_per_sender": 1})

    async def scenario():
        alice = await online(xmpp, server, "alice")
        mallory = await online(xmpp, server, "mallory")
        room = await create(mallory, room_jid("quota"), "Mallory")
        mediated_invite(mallory, room, ALICE, "first")
        await mallory.expect_stanza(is_challenge(ALICE), "the challenge for the first invitation")
        # Over the quota: a direct message gets <resource-constraint/>; so must the invitation, to its inviter.
        # (Mallory's session handles her stanzas in order: the invitation's answer comes before the message's.)
        mediated_invite(mallory, room, ALICE, "second")
        mallory.send_message(ALICE, "third")
        await mallory.expect_stanza(lambda st: st.xml.get("type") == "error" and error_condition(st) ==
                                    "resource-constraint" and st.xml.findtext(q(CLIENT_NS, "body")) == "third",
                                    "the quota refusing the direct message")
        await settle(alice)
        assert not alice.received_matching(has_text("second"))
        refused = [st for st in mallory.inbox
                   if st.xml.get("type") == "error" and error_condition(st) == "resource-constraint"]
        assert refused, "the inviter was never told that its second invitation was refused"

    xmpp.run(scenario())


def test_outbound_protection_counts_the_inviters_invitations(hush, xmpp):
    server = start_strangers(hush, **{"antispim.outbound": {"new_throttle_at": 2, "new_suspend_at": 100}})

    async def scenario():
        alice, bob, carol, mallory = [await online(xmpp, server, n) for n in ("alice", "bob", "carol", "mallory")]
        room = await create(mallory, room_jid("bulk"), "Mallory")
        # Mallory is days younger than new_account_hours: her first contacts with a third stranger are refused —
        # a message or an invitation alike (docs/blocklist.md, "Outbound protection"), whoever relays it.
        for n in ("alice", "bob", "carol"):
            mediated_invite(mallory, room, f"{n}@{HOST}", "pills")
        for n in ("alice", "bob"):
            await mallory.expect_stanza(is_challenge(f"{n}@{HOST}"), f"{n}'s challenge")
        third = await mallory.expect_stanza(
            lambda st: is_challenge(f"carol@{HOST}")(st)
            or (st.xml.get("type") == "error" and error_condition(st) == "policy-violation"),
            "the third first contact: throttled (or, wrongly, challenged by carol)")
        assert not is_challenge(f"carol@{HOST}")(third), "a new account's third invitation to a stranger went out"
        assert third.xml.find(q(CLIENT_NS, "error")).get("type") == "wait", str(third)

    xmpp.run(scenario())
    assert metric(server, 'hush_antispim_outbound_total{outcome="throttled"}') == 1


def test_a_blocklisted_inviter_cannot_invite_through_a_room(hush, xmpp):
    """The server-wide blocklist judges the inviter the room verified, even an established local account."""
    server = start(hush, users=("alice", "mallory"), **with_http())
    server.hushctl("blocklist", "add", "jid", f"mallory@{HOST}", "spam")
    server.signal(1)  # SIGHUP: reload the list now

    async def scenario():
        await server.wait_log("antispim: blocklist loaded, 1 entry")
        alice = await online(xmpp, server, "alice")
        mallory = await online(xmpp, server, "mallory")
        room = await create(mallory, room_jid("listed"), "Mallory")
        before = row(server, "local-account")
        mediated_invite(mallory, room, ALICE, "listed spam")
        mallory.send_message(ALICE, "direct")  # handled after the invitation: her session's stanzas go in order
        await mallory.expect_stanza(lambda st: st.xml.get("type") == "error" and error_condition(st) ==
                                    "policy-violation" and st.xml.findtext(q(CLIENT_NS, "body")) == "direct",
                                    "the blocklist refusing her message")
        await settle(alice)
        assert not alice.received_matching(has_text("listed spam")), "a blocklisted inviter's invitation arrived"
        assert row(server, "local-account") == before + 2  # the invitation judged as hers, then her message

    xmpp.run(scenario())


def test_an_inviter_the_receiver_blocked_cannot_invite_through_a_room(hush, xmpp):
    server = start(hush, users=("alice", "mallory"))  # established local accounts: no challenge in the way

    async def scenario():
        alice = await online(xmpp, server, "alice")
        mallory = await online(xmpp, server, "mallory")
        answer = await alice.iq("set", f"<block xmlns='urn:xmpp:blocking'><item jid='mallory@{HOST}'/></block>")
        assert answer["type"] == "result", str(answer)
        room = await create(mallory, room_jid("blocked"), "Mallory")
        mediated_invite(mallory, room, ALICE, "still here")
        # Her own message is refused (XEP-0191 §3.4); her session handles the invitation before it.
        mallory.send_message(ALICE, "direct")
        await mallory.expect_stanza(lambda st: st.xml.get("type") == "error" and error_condition(st) ==
                                    "service-unavailable" and st.xml.findtext(q(CLIENT_NS, "body")) == "direct",
                                    "the block refusing her message")
        await settle(alice)
        assert not alice.received_matching(has_text("direct"))
        assert not alice.received_matching(is_invitation(room, f"mallory@{HOST}")), \
            "an invitation from an inviter alice blocked reached her through the room"

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 4, 8. what an occupant reaches, and what a stranger does not
# ----------------------------------------------------------------------------------------------------------------

def test_occupants_reach_alice_in_the_room_and_nowhere_else(hush, xmpp):
    server = start_strangers(hush)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        carol = await online(xmpp, server, "carol")
        mallory = await online(xmpp, server, "mallory")
        room = await create(mallory, room_jid("open"), "Mallory")
        await join_and_subject(alice, room, "Alice")
        # Groupchat and private messages of a stranger in a room alice is in: the room is her contact.
        await say(mallory, room, "hello room")
        await alice.expect_stanza(is_groupchat(f"{room}/Mallory", "hello room"), "mallory's groupchat")
        mallory.xmpp.send_raw(f"<message to='{room}/Alice' type='chat'><body>psst alice</body></message>")
        await alice.expect_stanza(is_message_from(f"{room}/Mallory", "psst alice", "chat"), "mallory's private message")
        assert not mallory.received_matching(is_challenge(ALICE))

        # Carol is alice's contact (alice wrote to her first): her messages arrive unchallenged.
        alice.send_message(f"carol@{HOST}", "hi carol")
        await settle(alice)
        carol.send_message(ALICE, "hi alice")
        await alice.expect_stanza(is_message_from(carol.jid, "hi alice"), "carol's message, unchallenged")

        before = rows(server, "stranger-message", "groupchat-not-joined", "stranger-room-invitation")
        # Sharing a room makes mallory no contact: her own message, dressed as an invitation (XEP-0045 §7.8.2, as a
        # room relays it) naming alice's contact or a room elsewhere, or as groupchat, sent straight to alice, is
        # judged as hers (row 8: groupchat from no room alice joined is dropped).
        mallory.xmpp.send_raw(f"<message to='{ALICE}'><x xmlns='{USER_NS}'><invite from='carol@{HOST}'>"
                              f"<reason>FORGED</reason></invite></x><body>FORGED invite</body></message>")
        mallory.xmpp.send_raw(f"<message to='{ALICE}'><x xmlns='{USER_NS}'><invite from='friends@conference.b.test'>"
                              f"<reason>FORGED</reason></invite></x><body>FORGED remote invite</body></message>")
        await mallory.expect_stanza(is_challenge(ALICE), "a challenge to the real sender")
        mallory.xmpp.send_raw(f"<message to='{alice.jid}' type='groupchat'><body>FORGED groupchat</body></message>")
        await settle(mallory, alice)
        assert not alice.received_matching(has_text("FORGED"))
        assert not mallory.received_matching(lambda st: st.xml.get("type") == "error"), "a drop is never answered"
        after = rows(server, "stranger-message", "groupchat-not-joined", "stranger-room-invitation")
        assert after == {"stranger-message": before["stranger-message"] + 2,
                         "groupchat-not-joined": before["groupchat-not-joined"] + 1,
                         "stranger-room-invitation": before["stranger-room-invitation"]}, after
        # A room's occupant is only reachable through the room while in it: carol, outside, cannot write to a nick.
        carol.xmpp.send_raw(f"<message to='{room}/Alice' type='chat'><body>from outside</body></message>")
        await carol.expect_stanza(is_error_from(f"{room}/Alice", "message", "not-acceptable"), "not an occupant")
        await settle(alice)
        assert not alice.received_matching(has_text("from outside"))

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 5. flood
# ----------------------------------------------------------------------------------------------------------------

def test_an_occupant_over_its_flood_allowance_is_refused(hush, xmpp):
    server = start(hush, muc={"flood_messages_per_minute": 6, "flood_burst": 3})

    async def scenario():
        alice = await online(xmpp, server, "alice")
        bob = await online(xmpp, server, "bob")
        room = await create(alice, room_jid("busy"), "Alice")
        await join_and_subject(bob, room, "Bob")
        for n in range(4):
            bob.xmpp.send_raw(f"<message to='{room}' type='groupchat' id='f{n}'><body>flood {n}</body></message>")
        refused = await bob.expect_stanza(is_error_from(room, "message", "policy-violation"), "the flood refusal")
        assert refused.xml.get("id") == "f3", str(refused)
        assert refused.xml.find(q(CLIENT_NS, "error")).get("type") == "wait", str(refused)
        for n in range(3):
            await alice.expect_stanza(is_groupchat(f"{room}/Bob", f"flood {n}"), f"flood {n}")
        await say(alice, room, "marker")
        await assert_none_before(alice, is_groupchat(f"{room}/Bob", "flood 3"),
                                 is_groupchat(f"{room}/Alice", "marker"), "the refused 4th message")
        assert not bob.received_matching(is_groupchat(f"{room}/Bob", "flood 3"))

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 6. newcomers as visitors
# ----------------------------------------------------------------------------------------------------------------

def role_of(st) -> str | None:
    item = item_of(st)
    return None if item is None else item.get("role")


def is_occupant_role(occupant: str, role: str):
    return lambda st: is_presence_from(occupant)(st) and role_of(st) == role


def test_newcomers_listen_first_until_voiced_or_the_period_ends(hush, xmpp):
    server = start(hush, users=("alice", "bob", "carol", "dave"),
                   muc={"new_occupants_visitors": True, "visitor_period": 2})

    async def scenario():
        alice = await online(xmpp, server, "alice")
        bob, carol, dave = [await online(xmpp, server, n) for n in ("bob", "carol", "dave")]
        room = await create(alice, room_jid("public"), "Alice")
        answer = await admin_iq(alice, room, "set", f"<item jid='carol@{HOST}' affiliation='member'/>")
        assert answer["type"] == "result", str(answer)

        # A newcomer listens: visitor, and refused when it speaks.
        joined = await join(bob, room, "Bob")
        assert role_of(joined) == "visitor", str(joined)
        await say(bob, room, "let me speak")
        await bob.expect_stanza(is_error_from(room, "message", "forbidden"), "a visitor has no voice")
        # A member is a participant at once.
        assert role_of(await join(carol, room, "Carol")) == "participant"
        # A moderator voices the newcomer.
        answer = await admin_iq(alice, room, "set", "<item nick='Bob' role='participant'/>")
        assert answer["type"] == "result", str(answer)
        await bob.expect_stanza(is_occupant_role(f"{room}/Bob", "participant"), "bob's voice")
        await say(bob, room, "thanks")
        await alice.expect_stanza(is_groupchat(f"{room}/Bob", "thanks"), "bob speaks")
        assert not alice.received_matching(is_groupchat(f"{room}/Bob", "let me speak"))

        # Another newcomer gets voice when the period is over, without anyone's help.
        assert role_of(await join(dave, room, "Dave")) == "visitor"
        await dave.expect_stanza(is_occupant_role(f"{room}/Dave", "participant"), "dave's voice after the period",
                                 timeout=20)
        await alice.expect_stanza(is_occupant_role(f"{room}/Dave", "participant"), "dave's voice, seen by alice")
        await say(dave, room, "at last")
        await carol.expect_stanza(is_groupchat(f"{room}/Dave", "at last"), "dave speaks")

    xmpp.run(scenario())


def test_a_voice_a_moderator_revoked_stays_revoked_after_the_period(hush, xmpp):
    server = start(hush, users=("alice", "bob", "carol"), muc={"new_occupants_visitors": True, "visitor_period": 1})

    async def scenario():
        alice = await online(xmpp, server, "alice")
        bob, carol = await online(xmpp, server, "bob"), await online(xmpp, server, "carol")
        room = await create(alice, room_jid("strict"), "Alice")
        await join(bob, room, "Bob")
        await bob.expect_stanza(is_occupant_role(f"{room}/Bob", "participant"), "bob's voice after the period")
        await alice.expect_stanza(is_occupant_role(f"{room}/Bob", "participant"), "bob's voice, seen by alice")
        # The moderator revokes it (XEP-0045 §8.4): bob is a visitor again — the moderator's decision.
        answer = await admin_iq(alice, room, "set", "<item nick='Bob' role='visitor'/>")
        assert answer["type"] == "result", str(answer)
        await bob.expect_stanza(is_occupant_role(f"{room}/Bob", "visitor"), "bob devoiced")
        await alice.expect_stanza(is_occupant_role(f"{room}/Bob", "visitor"), "bob devoiced, seen by alice")
        # A later newcomer's automatic voice marks a tick that saw bob as a visitor too (rooms voice in nick order,
        # Bob before Carol, in the same pass).
        await join(carol, room, "Carol")
        await alice.expect_stanza(is_occupant_role(f"{room}/Carol", "participant"), "carol's voice after the period")
        await settle(alice)
        assert not alice.received_matching(is_occupant_role(f"{room}/Bob", "participant")), \
            "the room gave voice back to an occupant its moderator devoiced"

    xmpp.run(scenario())


# ----------------------------------------------------------------------------------------------------------------
# 7. spam reports to the room's moderators
# ----------------------------------------------------------------------------------------------------------------

def report_iq(occupant: str, text: str) -> str:
    return (f"<block xmlns='urn:xmpp:blocking'><item jid='{occupant}'>"
            f"<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'><text>{text}</text></report>"
            f"</item></block>")


def test_a_report_against_an_occupant_reaches_the_moderators(hush, xmpp):
    server = start_strangers(hush)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        bob, carol, mallory = [await online(xmpp, server, n) for n in ("bob", "carol", "mallory")]
        room = await create(alice, room_jid("watched"), "Alice")
        await join_and_subject(bob, room, "Bob")
        await join_and_subject(mallory, room, "Mallory")

        def is_report(text: str):
            return lambda st: (is_message_from(room)(st) and st.xml.get("type") != "error"
                               and "Mallory" in (st.xml.findtext(q(CLIENT_NS, "body")) or "")
                               and text in (st.xml.findtext(q(CLIENT_NS, "body")) or ""))

        # Carol is not in the room: her report changes nothing there (it blocks the address for her only).
        answer = await carol.iq("set", report_iq(f"{room}/Mallory", "by an outsider"))
        assert answer["type"] == "result", str(answer)
        answer = await bob.iq("set", report_iq(f"{room}/Mallory", "by an occupant"))
        assert answer["type"] == "result", str(answer)
        got = await alice.expect_stanza(is_report("by an occupant"), "the report, told to the moderator")
        assert f"mallory@{HOST}" in got.xml.findtext(q(CLIENT_NS, "body")), str(got)  # moderators see real JIDs
        assert not alice.received_matching(is_report("by an outsider")), "a report from outside the room"
        await settle(mallory, bob)
        assert not [st for c in (bob, mallory) for st in c.received_matching(is_report(""))], \
            "a report went to someone who is no moderator"
        # The report is a block (XEP-0191) of that occupant for bob: neither its groupchat nor its private messages
        # reach him any more; alice still hears it.
        await say(mallory, room, "SPAM again")
        mallory.xmpp.send_raw(f"<message to='{room}/Bob' type='chat'><body>SPAM in private</body></message>")
        await alice.expect_stanza(is_groupchat(f"{room}/Mallory", "SPAM again"), "mallory's groupchat, to alice")
        await say(alice, room, "marker")
        await assert_none_before(bob, has_text("SPAM"), is_groupchat(f"{room}/Alice", "marker"),
                                 "the blocked occupant's messages")

    xmpp.run(scenario())
    assert "muc: report by carol@a.test of watched@conference.a.test/Mallory not passed on" in server.stderr_text()
