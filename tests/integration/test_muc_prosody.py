"""XEP-0045 group chat across a real S2S link with Prosody 0.12 (issue 20): Hush users in rooms of Prosody's MUC
service, and a Prosody user in a room of Hush's.

prosody.test runs a MUC component at conference.prosody.test (federation.py, muc=True); hush.test reaches it through
[s2s.hosts], and Prosody reaches hush.test and conference.hush.test through two SRV records of its own resolver.
Both sides use self-signed certificates and dialback; each service domain authenticates like a host. Hush runs its
default anti-SPIM chain (the challenge): a room the user joined is no stranger, so nothing of the room may be held,
challenged or dropped. Clients are slixmpp with its XEP-0045 plugin; every wait is on a stanza with a deadline.

- test_local_user_joins_prosody_room: a Hush user in a Prosody room (presences, groupchat, a private message, leave).
- test_prosody_user_joins_local_room: a Prosody user in a room of Hush's own service (conference.<host>).
- test_local_user_owns_a_prosody_room: the same scenario with the room on Prosody's service.
- test_a_resource_leaving_a_room_does_not_end_another_resources_membership: rooms are joined per resource (one
  device leaving does not end another's membership: the anti-SPIM layer's joined-room record is per full JID).
"""

from __future__ import annotations


from federation import prosody, self_signed  # noqa: F401  (fixtures)
from test_antispim import is_challenge
from test_blocklist import start_server
from test_defences import metric
from test_federation import free_port
from test_im import PASSWORDS, im_client, login
from xmpp_raw import CLIENT_NS, q

MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = f"{MUC_NS}#user"
MUC_OWNER_NS = f"{MUC_NS}#owner"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"




# ---- stanzas ----------------------------------------------------------------------------------------------------

def join(client, occupant: str) -> None:
    """Available presence to room@service/nick with the XEP-0045 <x/> (slixmpp's muc_join), asking for no history."""
    pr = client.xmpp.make_presence(pto=occupant)
    pr.enable("muc_join")
    pr["muc_join"]["history"]["maxstanzas"] = "0"
    pr.send()


def leave(client, occupant: str) -> None:
    client.xmpp.send_presence(pto=occupant, ptype="unavailable")


def groupchat(client, room: str, body: str) -> None:
    client.xmpp.send_message(mto=room, mbody=body, mtype="groupchat")


def status_codes(st) -> set[int]:
    x = st.xml.find(q(MUC_USER_NS, "x"))
    return set() if x is None else {int(s.get("code")) for s in x.findall(q(MUC_USER_NS, "status"))}


def muc_item(st):
    return st.xml.find(f"{q(MUC_USER_NS, 'x')}/{q(MUC_USER_NS, 'item')}")


def is_occupant_presence(occupant: str, ptype: str | None = None, codes: set[int] = frozenset()):
    """Presence from exactly room@service/nick carrying the muc#user <x/>, of type ptype (None: available), with at
    least these status codes."""
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, "presence") and e.get("from") == occupant and e.get("type") == ptype
                and e.find(q(MUC_USER_NS, "x")) is not None and codes <= status_codes(st))
    return match


def is_groupchat(occupant: str, body: str):
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, "message") and e.get("type") == "groupchat" and e.get("from") == occupant
                and e.findtext(q(CLIENT_NS, "body")) == body)
    return match


def is_chat(sender: str, body: str):
    def match(st) -> bool:
        e = st.xml
        return (e.tag == q(CLIENT_NS, "message") and e.get("type") == "chat" and e.get("from") == sender
                and e.findtext(q(CLIENT_NS, "body")) == body)
    return match


def is_error(st) -> bool:
    return st.xml.get("type") == "error"


def router_drops(server, about: str) -> list[str]:
    """The router's debug lines for stanzas it dropped by the anti-SPIM classification, about this JID."""
    return [line for line in server.stderr_text().splitlines()
            if "router: " in line and " dropped (" in line and about in line]


async def create_instant_room(owner, room: str, nick: str) -> None:
    """XEP-0045 §10.1.2: the first join creates the room, locked (201); an empty submitted muc#owner form makes it
    an instant room and unlocks it."""
    join(owner, f"{room}/{nick}")
    created = await owner.expect_stanza(is_occupant_presence(f"{room}/{nick}", None, {110, 201}),
                                        f"the self-presence of the room's creation (110, 201) from {room}")
    item = muc_item(created)
    assert item is not None and item.get("affiliation") == "owner" and item.get("role") == "moderator", created
    unlocked = await owner.iq("set", f"<query xmlns='{MUC_OWNER_NS}'><x xmlns='jabber:x:data' type='submit'/>"
                                     "</query>", to=room)
    assert unlocked.xml.get("type") == "result", unlocked


async def is_conference_service(client, service: str) -> None:
    info = await client.iq("get", f"<query xmlns='{DISCO_INFO_NS}'/>", to=service)
    assert info.xml.get("type") == "result", info
    query = info.xml.find(q(DISCO_INFO_NS, "query"))
    identities = {(i.get("category"), i.get("type")) for i in query.findall(q(DISCO_INFO_NS, "identity"))}
    features = {f.get("var") for f in query.findall(q(DISCO_INFO_NS, "feature"))}
    assert ("conference", "text") in identities, info
    assert MUC_NS in features, info


def prosody_client(xmpp, jid: str):
    client = xmpp.client(jid, PASSWORDS[jid.split("@")[0]], mech=None)  # whatever Prosody offers
    client.xmpp.auto_authorize = None
    client.xmpp.auto_subscribe = False
    client.xmpp.register_plugin("xep_0045")
    return client


# ---- 1. a Hush user in a Prosody room ------------------------------------------------------------------------------

def test_local_user_joins_prosody_room(hush, prosody, xmpp, tmp_path):
    hush_s2s = free_port()
    cert = self_signed(tmp_path / "prosody-cert", "prosody.test")
    p = prosody("prosody.test", *cert, peers={"hush.test": hush_s2s}, muc=True)
    assert p.muc == "conference.prosody.test"
    p.start()
    p.register("bob", PASSWORDS["bob"])
    # Hush's default anti-SPIM chain (no "pass"): the room must be let through because alice joined it.
    h = start_server(hush, "hush.test", hush_s2s, {"prosody.test": p.s2s_port, p.muc: p.s2s_port}, http=True)
    h.adduser("alice@hush.test", PASSWORDS["alice"])
    room = f"lobby@{p.muc}"
    bob_in_room, alice_in_room = f"{room}/bob", f"{room}/alice"

    async def scenario():
        bob = prosody_client(xmpp, "bob@prosody.test/phone")
        await login(bob, p.c2s_port)
        await is_conference_service(bob, p.muc)
        await create_instant_room(bob, room, "bob")

        alice = im_client(xmpp, "alice@hush.test/laptop", "xep_0045")
        await login(alice, h.port("c2s"))
        # Prosody's service as alice sees it over S2S (a disco#info iq result from a service she asked).
        await is_conference_service(alice, p.muc)
        join(alice, alice_in_room)
        # The occupants first (bob, the owner), then her own presence with 110 (XEP-0045 §7.2.3).
        bob_seen = await alice.expect_stanza(is_occupant_presence(bob_in_room), "bob's occupant presence")
        assert muc_item(bob_seen).get("affiliation") == "owner", bob_seen
        own = await alice.expect_stanza(is_occupant_presence(alice_in_room, None, {110}),
                                        "alice's self-presence (110) from the Prosody room")
        assert muc_item(own).get("role") == "participant", own
        assert 201 not in status_codes(own)  # the room existed: she did not create it
        await bob.expect_stanza(is_occupant_presence(alice_in_room), "alice's occupant presence via Hush")

        # Group chat both ways: each gets the other's message, and alice her own reflected by the room.
        groupchat(alice, room, "hello from Hush")
        await bob.expect_stanza(is_groupchat(alice_in_room, "hello from Hush"), "alice's groupchat message")
        await alice.expect_stanza(is_groupchat(alice_in_room, "hello from Hush"), "the room's reflection to alice")
        groupchat(bob, room, "hello from Prosody")
        await alice.expect_stanza(is_groupchat(bob_in_room, "hello from Prosody"), "bob's groupchat message")
        await bob.expect_stanza(is_groupchat(bob_in_room, "hello from Prosody"), "the room's reflection to bob")

        # A private message through the room (§7.5): from room/bob, type chat, to alice's full JID. She is in the
        # room, so the room is no stranger to her: delivered, not held, no challenge for bob.
        pm = bob.xmpp.make_message(mto=alice_in_room, mbody="a word in private", mtype="chat")
        pm.append(pm.xml.makeelement(q(MUC_USER_NS, "x"), {}))
        pm.send()
        await alice.expect_stanza(is_chat(bob_in_room, "a word in private"), "bob's private message via the room")
        # And her answer the same way (room/bob), which Prosody's room relays to bob.
        alice.xmpp.send_message(mto=bob_in_room, mbody="thanks", mtype="chat")
        await bob.expect_stanza(is_chat(alice_in_room, "thanks"), "alice's private answer via the room")

        # She leaves: her own unavailable (110) reaches her, and bob sees her go.
        leave(alice, alice_in_room)
        await bob.expect_stanza(is_occupant_presence(alice_in_room, "unavailable"), "alice leaving, seen by bob")
        await alice.expect_stanza(is_occupant_presence(alice_in_room, "unavailable", {110}),
                                  "alice's own unavailable from the room")
        # Barrier before the negative checks: anything Hush routed to alice before this ping's answer is here.
        await alice.ping_server()
        await bob.ping_server()
        assert not alice.received_matching(is_error), alice.received_matching(is_error)
        assert not bob.received_matching(is_error), bob.received_matching(is_error)
        assert not bob.received_matching(is_challenge("alice@hush.test"))
        assert not router_drops(h, room), router_drops(h, room)
        # What the classification made of the room's stanzas to alice (docs/antispim.md): its groupchat (the
        # subject, bob's message, her own reflected) came from a room she joined; its presences and the private
        # message from a contact (joining made the room one); no row dropped or judged anything as a stranger's.
        rows = {row: metric(h, f'hush_antispim_classified_total{{row="{row}"}}') for row in (
            "groupchat-joined-room", "groupchat-not-joined", "contact", "stranger-presence", "stranger-message")}
        assert rows["groupchat-joined-room"] >= 3, rows
        assert rows["contact"] >= 4, rows  # bob's presence, her own, the private message, her own unavailable
        assert rows["groupchat-not-joined"] == rows["stranger-presence"] == rows["stranger-message"] == 0, rows

    xmpp.run(scenario())
    log = h.stderr_text()
    # Both service-domain legs used dialback: Hush verified conference.prosody.test with its authoritative server.
    assert f"{p.muc} authenticated for hush.test (dialback)" in log, h.describe()
    assert "authenticated as hush.test (dialback)" in log, h.describe()


# ---- 2. a Prosody user in a Hush room ----------------------------------------------------------------------------

async def owner_and_guest(alice, bob, room: str) -> None:
    """alice (on Hush) creates an instant room and bob (on Prosody) joins it; group chat both ways; bob changes his
    nick to robert, which alice sees with 303; bob leaves. Whichever server hosts the room, one of them reaches it
    over S2S."""
    alice_in_room, bob_in_room, robert_in_room = f"{room}/alice", f"{room}/bob", f"{room}/robert"
    service = room.split("@", 1)[1]
    await is_conference_service(alice, service)
    await is_conference_service(bob, service)
    await create_instant_room(alice, room, "alice")

    join(bob, bob_in_room)
    alice_seen = await bob.expect_stanza(is_occupant_presence(alice_in_room), "alice's occupant presence")
    assert muc_item(alice_seen).get("affiliation") == "owner", alice_seen
    own = await bob.expect_stanza(is_occupant_presence(bob_in_room, None, {110}), "bob's self-presence (110)")
    assert 201 not in status_codes(own)
    await alice.expect_stanza(is_occupant_presence(bob_in_room), "bob's occupant presence")

    groupchat(bob, room, "hello from Prosody")
    await alice.expect_stanza(is_groupchat(bob_in_room, "hello from Prosody"), "bob's groupchat message")
    await bob.expect_stanza(is_groupchat(bob_in_room, "hello from Prosody"), "the room's reflection to bob")
    groupchat(alice, room, "hello from Hush")
    await bob.expect_stanza(is_groupchat(alice_in_room, "hello from Hush"), "alice's groupchat message")
    await alice.expect_stanza(is_groupchat(alice_in_room, "hello from Hush"), "the room's reflection to alice")

    # Nick change (§7.6): presence to the new nick without the MUC <x/>; the room sends unavailable from the old
    # nick with 303 and the new nick, then available from the new one.
    bob.xmpp.send_presence(pto=robert_in_room)
    gone = await alice.expect_stanza(is_occupant_presence(bob_in_room, "unavailable", {303}),
                                     "bob's nick change (303), seen by alice")
    assert muc_item(gone).get("nick") == "robert", gone
    await alice.expect_stanza(is_occupant_presence(robert_in_room), "robert's occupant presence")
    own_gone = await bob.expect_stanza(is_occupant_presence(bob_in_room, "unavailable", {303, 110}),
                                       "bob's own nick change (303, 110)")
    assert muc_item(own_gone).get("nick") == "robert", own_gone
    await bob.expect_stanza(is_occupant_presence(robert_in_room, None, {110}), "robert's self-presence")

    leave(bob, robert_in_room)
    await alice.expect_stanza(is_occupant_presence(robert_in_room, "unavailable"), "robert leaving")
    await bob.expect_stanza(is_occupant_presence(robert_in_room, "unavailable", {110}), "robert's own unavailable")
    # Barrier, then nothing refused on either side.
    await alice.ping_server()
    await bob.ping_server()
    assert not alice.received_matching(is_error), alice.received_matching(is_error)
    assert not bob.received_matching(is_error), bob.received_matching(is_error)


def test_prosody_user_joins_local_room(hush, prosody, xmpp, tmp_path):
    hush_s2s = free_port()
    conference = "conference.hush.test"
    cert = self_signed(tmp_path / "prosody-cert", "prosody.test")
    # Prosody reaches Hush's MUC service domain over S2S like the host itself: an SRV record for each.
    p = prosody("prosody.test", *cert, peers={"hush.test": hush_s2s, conference: hush_s2s}).start()
    p.register("bob", PASSWORDS["bob"])
    h = start_server(hush, "hush.test", hush_s2s, {"prosody.test": p.s2s_port}, muc={})  # [muc] defaults
    h.adduser("alice@hush.test", PASSWORDS["alice"])

    async def scenario():
        alice = im_client(xmpp, "alice@hush.test/laptop", "xep_0045")
        await login(alice, h.port("c2s"))
        bob = prosody_client(xmpp, "bob@prosody.test/phone")
        await login(bob, p.c2s_port)
        await owner_and_guest(alice, bob, f"lobby@{conference}")

    xmpp.run(scenario())
    # The service domain federated like a host, both ways, with dialback: Prosody's stream to it (bob's presence
    # and messages to the room), and the room's own stream to prosody.test.
    log = h.stderr_text()
    assert f"prosody.test authenticated for {conference} (dialback)" in log, h.describe()
    assert f"authenticated as {conference} (dialback)" in log, h.describe()


def test_local_user_owns_a_prosody_room(hush, prosody, xmpp, tmp_path):
    """The same scenario with the room on Prosody's service: the Hush user creates and configures it over S2S
    (the 201 self-presence and the muc#owner iq cross the link) and sees a Prosody user's nick change (303). It runs
    today, and checks the scenario test_prosody_user_joins_local_room uses against a real XEP-0045 service."""
    hush_s2s = free_port()
    cert = self_signed(tmp_path / "prosody-cert", "prosody.test")
    p = prosody("prosody.test", *cert, peers={"hush.test": hush_s2s}, muc=True).start()
    p.register("bob", PASSWORDS["bob"])
    h = start_server(hush, "hush.test", hush_s2s, {"prosody.test": p.s2s_port, p.muc: p.s2s_port})
    h.adduser("alice@hush.test", PASSWORDS["alice"])

    async def scenario():
        alice = im_client(xmpp, "alice@hush.test/laptop", "xep_0045")
        await login(alice, h.port("c2s"))
        bob = prosody_client(xmpp, "bob@prosody.test/phone")
        await login(bob, p.c2s_port)
        await owner_and_guest(alice, bob, f"lobby@{p.muc}")

    xmpp.run(scenario())
    assert not router_drops(h, p.muc), router_drops(h, p.muc)


# ---- rooms are joined per resource --------------------------------------------------------------------------------

def test_a_resource_leaving_a_room_does_not_end_another_resources_membership(hush, prosody, xmpp, tmp_path):
    hush_s2s = free_port()
    cert = self_signed(tmp_path / "prosody-cert", "prosody.test")
    p = prosody("prosody.test", *cert, peers={"hush.test": hush_s2s}, muc=True).start()
    p.register("bob", PASSWORDS["bob"])
    h = start_server(hush, "hush.test", hush_s2s, {"prosody.test": p.s2s_port, p.muc: p.s2s_port})
    h.adduser("alice@hush.test", PASSWORDS["alice"])
    room = f"lobby@{p.muc}"

    async def scenario():
        bob = prosody_client(xmpp, "bob@prosody.test/phone")
        await login(bob, p.c2s_port)
        await create_instant_room(bob, room, "bob")
        laptop = im_client(xmpp, "alice@hush.test/laptop", "xep_0045")
        await login(laptop, h.port("c2s"))
        phone = im_client(xmpp, "alice@hush.test/phone", "xep_0045")
        await login(phone, h.port("c2s"))
        # Both of alice's clients in the room, under two nicks.
        join(laptop, f"{room}/alice")
        await laptop.expect_stanza(is_occupant_presence(f"{room}/alice", None, {110}), "the laptop's self-presence")
        join(phone, f"{room}/alice-phone")
        await phone.expect_stanza(is_occupant_presence(f"{room}/alice-phone", None, {110}), "the phone's")
        groupchat(bob, room, "one")
        await laptop.expect_stanza(is_groupchat(f"{room}/bob", "one"), "bob's first message on the laptop")
        # The phone leaves; the laptop stays and must go on getting the room's messages.
        leave(phone, f"{room}/alice-phone")
        await bob.expect_stanza(is_occupant_presence(f"{room}/alice-phone", "unavailable"), "the phone leaving")
        groupchat(bob, room, "two")
        # Barrier: a private message through the room after it, on the same S2S stream, which Hush routes in order
        # (and delivers: the room is alice's contact). Once it is on the laptop, so is "two" unless Hush dropped it.
        pm = bob.xmpp.make_message(mto=f"{room}/alice", mbody="after two", mtype="chat")
        pm.append(pm.xml.makeelement(q(MUC_USER_NS, "x"), {}))
        pm.send()
        await laptop.expect_stanza(is_chat(f"{room}/bob", "after two"), "bob's private message after it")
        assert laptop.received_matching(is_groupchat(f"{room}/bob", "two")), \
            f"bob's second message never reached the laptop; Hush: {router_drops(h, room)}"

    xmpp.run(scenario())
