"""The IM core's privacy end to end: XEP-0191 blocking, XEP-0016 privacy lists, XEP-0280 carbons and XEP-0352 client
state indication (moved from test_im.py, whose helpers they use)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from conftest import TIMEOUT
from test_im import (BLOCKING_ERRORS_NS, BLOCKING_NS, CARBONS_NS, CSI_NS, FORWARD_NS, PRIVACY_NS, add_users,
                     befriend, error_condition, im_client, is_any_presence_from, is_carbon, is_error, is_message,
                     is_presence, login, settle)
from xmpp_raw import CLIENT_NS, q

# ---------------------------------------------------------------------------------------------------------------
# 5. XEP-0191 blocking
# ---------------------------------------------------------------------------------------------------------------

async def blocklist(client) -> set[str]:
    result = await client.xmpp["xep_0191"].get_blocked(timeout=TIMEOUT)
    element = result.xml.find(q(BLOCKING_NS, "blocklist"))
    assert element is not None, str(result)
    return {item.get("jid") for item in element.findall(q(BLOCKING_NS, "item"))}


def test_blocking_command(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob", "carol")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a", "xep_0191")
        bob = im_client(xmpp, "bob@localhost/b", "xep_0191")
        carol = im_client(xmpp, "carol@localhost/c")
        for client in (alice, bob, carol):
            await login(client, port)
        await befriend(alice, bob)
        assert await blocklist(bob) == set()

        await bob.xmpp["xep_0191"].block("alice@localhost", timeout=TIMEOUT)
        push = await bob.expect_stanza(lambda st: st.xml.find(q(BLOCKING_NS, "block")) is not None, "block push")
        assert [i.get("jid") for i in push.xml.find(q(BLOCKING_NS, "block"))] == ["alice@localhost"], str(push)
        # §3.3: alice (subscribed to bob) now sees bob go offline.
        await alice.expect_stanza(is_presence(bob.jid, "unavailable"), "bob's unavailable presence on the block")
        assert await blocklist(bob) == {"alice@localhost"}

        # alice's message: an error for her (service-unavailable, as if bob were offline), nothing for bob.
        bob.inbox.clear()
        alice.send_message(bob.jid, "can you hear me?")
        error = await alice.expect_stanza(is_error("message", "can you hear me?"), "an error for the blocked sender")
        assert error_condition(error) == "service-unavailable", str(error)
        # An iq to one of bob's resources: an error too (bob's slixmpp would answer a ping otherwise).
        ping = await alice.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=bob.jid)
        assert ping["type"] == "error" and error_condition(ping) == "service-unavailable", str(ping)
        # alice's presence changes do not reach bob (bob's not reaching alice: test_blocked_contact_sees_no_presence).
        alice.xmpp.send_presence(pstatus="still here")
        await settle(alice, bob)
        assert not bob.received_matching(is_message()), "bob received a message from the JID he blocked"
        assert not bob.received_matching(is_any_presence_from("alice@localhost")), "bob sees alice's presence"

        # bob writing to alice: <not-acceptable/> with <blocked/> (§3.5), and nothing reaches alice.
        alice.inbox.clear()
        bob.send_message("alice@localhost", "talking to someone I blocked")
        error = await bob.expect_stanza(is_error("message"), "an error for writing to a blocked JID")
        assert error_condition(error) == "not-acceptable", str(error)
        assert error.xml.find(f"{q(CLIENT_NS, 'error')}/{q(BLOCKING_ERRORS_NS, 'blocked')}") is not None, str(error)
        await settle(alice)
        assert not alice.received_matching(is_message()), "a message to a blocked JID was delivered"

        # Others are not affected.
        carol.send_message(bob.jid, "hi bob, carol here")
        await bob.expect_stanza(is_message("hi bob, carol here", carol.jid), "carol's message")

        # Unblocking restores delivery both ways.
        await bob.xmpp["xep_0191"].unblock("alice@localhost", timeout=TIMEOUT)
        await bob.expect_stanza(lambda st: st.xml.find(q(BLOCKING_NS, "unblock")) is not None, "unblock push")
        assert await blocklist(bob) == set()
        alice.send_message(bob.jid, "and now?")
        await bob.expect_stanza(is_message("and now?", alice.jid), "alice's message after the unblock")
        bob.send_message(alice.jid, "loud and clear")
        await alice.expect_stanza(is_message("loud and clear", bob.jid), "bob's message after the unblock")

    xmpp.run(scenario())


def test_unblock_sends_current_presence(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b", "xep_0191")
        await login(alice, port)
        await login(bob, port, status="here")
        await befriend(alice, bob)
        await bob.xmpp["xep_0191"].block("alice@localhost", timeout=TIMEOUT)
        await alice.expect_stanza(is_presence(bob.jid, "unavailable"), "bob's unavailable presence on the block")
        await bob.xmpp["xep_0191"].unblock("alice@localhost", timeout=TIMEOUT)
        await alice.expect_stanza(is_presence(bob.jid, status="here"), "bob's presence after the unblock", timeout=5)

    xmpp.run(scenario())


def test_blocked_contact_sees_no_presence(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b", "xep_0191")
        await login(alice, port)
        await login(bob, port)
        await befriend(alice, bob)
        await bob.xmpp["xep_0191"].block("alice@localhost", timeout=TIMEOUT)
        await alice.expect_stanza(is_presence(bob.jid, "unavailable"), "bob's unavailable presence on the block")

        # A presence change of bob's, and a new resource of his coming online: alice must see neither.
        bob.xmpp.send_presence(pstatus="not for alice")
        bob2 = im_client(xmpp, "bob@localhost/b2")
        await login(bob2, port, status="nor this")
        await settle(bob, alice)
        leaked = alice.received_matching(is_any_presence_from("bob@localhost"))
        assert not leaked, "alice, blocked by bob, still receives his presence: " + " | ".join(map(str, leaked))

    xmpp.run(scenario())


def test_blocking_a_stranger_sends_no_presence(hush, xmpp):
    server = hush()
    add_users(server, "bob", "carol")
    port = server.port("c2s")

    async def scenario():
        bob = im_client(xmpp, "bob@localhost/secret-resource", "xep_0191")
        carol = im_client(xmpp, "carol@localhost/c")
        await login(bob, port)
        await login(carol, port)
        await bob.xmpp["xep_0191"].block("carol@localhost", timeout=TIMEOUT)
        await settle(carol)
        leaked = carol.received_matching(is_any_presence_from("bob@localhost"))
        assert not leaked, "carol, never subscribed to bob, got: " + " | ".join(map(str, leaked))

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 6. XEP-0016 privacy lists
# ---------------------------------------------------------------------------------------------------------------

def test_privacy_list_default_denies_jid(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob", "carol")
    port = server.port("c2s")
    deny_alice = (f"<query xmlns='{PRIVACY_NS}'><list name='no-alice'>"
                  "<item type='jid' value='alice@localhost' action='deny' order='1'><message/></item>"
                  "<item action='allow' order='2'/></list></query>")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        carol = im_client(xmpp, "carol@localhost/c")
        for client in (alice, bob, carol):
            await login(client, port)

        async def delivered(body: str) -> None:
            alice.send_message(bob.jid, body)
            await bob.expect_stanza(is_message(body, alice.jid), f"alice's {body!r}")

        async def refused(body: str) -> None:
            bob.inbox.clear()
            alice.send_message(bob.jid, body)
            error = await alice.expect_stanza(is_error("message", body), f"an error for {body!r}")
            assert error_condition(error) == "service-unavailable", str(error)
            await settle(bob)
            assert not bob.received_matching(is_message()), f"{body!r} reached bob despite his default list"
            carol.send_message(bob.jid, "carol is not on the list")
            await bob.expect_stanza(is_message("carol is not on the list", carol.jid), "carol's message")

        async def privacy(itype: str, payload: str):
            result = await bob.iq(itype, payload)
            assert result["type"] == "result", str(result)
            return result

        await privacy("set", deny_alice)
        await delivered("a list that is neither default nor active changes nothing")
        await privacy("set", f"<query xmlns='{PRIVACY_NS}'><default name='no-alice'/></query>")
        await refused("denied by the default list")

        names = (await privacy("get", f"<query xmlns='{PRIVACY_NS}'/>")).xml.find(q(PRIVACY_NS, "query"))
        assert names.find(q(PRIVACY_NS, "default")).get("name") == "no-alice", ET.tostring(names)
        assert [l.get("name") for l in names.findall(q(PRIVACY_NS, "list"))] == ["no-alice"], ET.tostring(names)
        stored = (await privacy("get", f"<query xmlns='{PRIVACY_NS}'><list name='no-alice'/></query>")).xml
        items = stored.findall(f"{q(PRIVACY_NS, 'query')}/{q(PRIVACY_NS, 'list')}/{q(PRIVACY_NS, 'item')}")
        assert [(i.get("type"), i.get("value"), i.get("action")) for i in items] == \
            [("jid", "alice@localhost", "deny"), (None, None, "allow")], ET.tostring(stored)

        # Declining the default (an empty <default/>) restores delivery.
        await privacy("set", f"<query xmlns='{PRIVACY_NS}'><default/></query>")
        await delivered("no default list any more")
        # So does deleting the list that is the default.
        await privacy("set", f"<query xmlns='{PRIVACY_NS}'><default name='no-alice'/></query>")
        await refused("denied again")
        await privacy("set", f"<query xmlns='{PRIVACY_NS}'><list name='no-alice'/></query>")
        await delivered("the list is gone")
        names = (await privacy("get", f"<query xmlns='{PRIVACY_NS}'/>")).xml.find(q(PRIVACY_NS, "query"))
        assert len(names) == 0, ET.tostring(names)

    xmpp.run(scenario())


def test_privacy_list_presence_out(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        await login(alice, port)
        await login(bob, port)
        await befriend(alice, bob)
        for payload in ("<list name='invisible-to-alice'><item type='jid' value='alice@localhost' action='deny' "
                        "order='1'><presence-out/></item><item action='allow' order='2'/></list>",
                        "<default name='invisible-to-alice'/>"):
            result = await bob.iq("set", f"<query xmlns='{PRIVACY_NS}'>{payload}</query>")
            assert result["type"] == "result", str(result)
        alice.inbox.clear()
        bob.xmpp.send_presence(pstatus="hidden from alice")
        await settle(bob, alice)
        assert not alice.received_matching(is_presence(bob.jid, status="hidden from alice")), \
            "presence-out denied, but alice got bob's presence"

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 7. XEP-0280 carbons
# ---------------------------------------------------------------------------------------------------------------

def forwarded_message(carbon, direction: str) -> ET.Element:
    inner = carbon.xml.find(f"{q(CARBONS_NS, direction)}/{q(FORWARD_NS, 'forwarded')}/{q(CLIENT_NS, 'message')}")
    assert inner is not None, f"no forwarded jabber:client message in the carbon: {carbon}"
    return inner


def test_carbons(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob_a = im_client(xmpp, "bob@localhost/A", "xep_0280")
        bob_b = im_client(xmpp, "bob@localhost/B", "xep_0280")
        bob_c = im_client(xmpp, "bob@localhost/C")  # carbons not enabled
        for client in (alice, bob_a, bob_b, bob_c):
            await login(client, port)
        for client in (bob_a, bob_b):
            await client.xmpp["xep_0280"].enable(timeout=TIMEOUT)

        # Received: alice -> bob/A; bob/B gets a copy wrapped in <received/>, from bob's bare JID.
        alice.send_message(bob_a.jid, "to A")
        await bob_a.expect_stanza(is_message("to A", alice.jid), "the message on A")
        carbon = await bob_b.expect_stanza(is_carbon("received"), "the received carbon on B")
        assert carbon.xml.get("from") == "bob@localhost", f"carbon not from the account's bare JID: {carbon}"
        inner = forwarded_message(carbon, "received")
        assert (inner.get("from"), inner.get("to"), inner.findtext(q(CLIENT_NS, "body"))) == \
            (alice.jid, bob_a.jid, "to A"), ET.tostring(inner)
        assert not bob_a.received_matching(is_carbon("received")), "the recipient got a carbon of its own message"

        # Sent: bob/A -> alice; bob/B gets a copy wrapped in <sent/>.
        bob_a.send_message("alice@localhost", "from A")
        await alice.expect_stanza(is_message("from A", bob_a.jid), "bob's message")
        carbon = await bob_b.expect_stanza(is_carbon("sent"), "the sent carbon on B")
        assert carbon.xml.get("from") == "bob@localhost", str(carbon)
        inner = forwarded_message(carbon, "sent")
        assert (inner.get("from"), inner.get("to"), inner.findtext(q(CLIENT_NS, "body"))) == \
            (bob_a.jid, "alice@localhost", "from A"), ET.tostring(inner)
        assert not bob_a.received_matching(is_carbon("sent")), "the sender got a carbon of its own message"

        # To the bare JID: every resource of the same (highest) priority gets it directly, so no carbons (§4).
        alice.send_message("bob@localhost", "to everyone")
        for client in (bob_a, bob_b, bob_c):
            await client.expect_stanza(is_message("to everyone", alice.jid), "the message to the bare JID")

        # A message marked <private/> is not copied (§6).
        alice.xmpp.send_raw(f"<message to='{bob_a.jid}' type='chat'><body>private</body>"
                            f"<private xmlns='{CARBONS_NS}'/><no-copy xmlns='urn:xmpp:hints'/></message>")
        await bob_a.expect_stanza(is_message("private", alice.jid), "the private message on A")

        # After B disables carbons, it gets no more copies.
        await bob_b.xmpp["xep_0280"].disable(timeout=TIMEOUT)
        alice.send_message(bob_a.jid, "after B disabled carbons")
        await bob_a.expect_stanza(is_message("after B disabled carbons"), "the message on A")

        await settle(bob_b, bob_c)
        assert not bob_b.received_matching(is_carbon("received")), \
            "carbon of a message to the bare JID, of a <private/> message, or after disabling carbons"
        assert not bob_c.received_matching(lambda st: is_carbon("received")(st) or is_carbon("sent")(st)), \
            "carbons to a resource that did not enable them"

    xmpp.run(scenario())


# ---------------------------------------------------------------------------------------------------------------
# 8. XEP-0352 client state indication
# ---------------------------------------------------------------------------------------------------------------

def test_csi_holds_presence_until_active(hush, xmpp):
    server = hush()
    add_users(server, "alice", "bob", "carol")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        carol = im_client(xmpp, "carol@localhost/c")
        for client in (alice, bob, carol):
            await login(client, port)
        await befriend(alice, bob)
        await befriend(carol, bob)

        bob.xmpp.send_raw(f"<inactive xmlns='{CSI_NS}'/>")
        await settle(bob)
        bob.inbox.clear()
        for status in ("first", "second", "third"):
            alice.xmpp.send_presence(pstatus=status)
        carol.xmpp.send_presence(pshow="away", pstatus="carol's only update")
        await settle(alice, carol)
        # Messages are not held: one from alice arrives, after the presence she sent before it would have.
        alice.send_message(bob.jid, "messages still flow")
        await bob.expect_stanza(is_message("messages still flow", alice.jid), "a message while inactive")
        await settle(bob)
        assert not bob.received_matching(is_any_presence_from("alice@localhost")), "presence while inactive"
        assert not bob.received_matching(is_any_presence_from("carol@localhost")), "presence while inactive"

        # Active again: the latest presence of each contact, once.
        bob.xmpp.send_raw(f"<active xmlns='{CSI_NS}'/>")
        await bob.expect_stanza(is_presence(alice.jid, status="third"), "alice's latest presence")
        await bob.expect_stanza(is_presence(carol.jid, status="carol's only update"), "carol's latest presence")
        await settle(bob)
        assert not bob.received_matching(is_any_presence_from("alice@localhost")), \
            "superseded presence delivered after <active/>"
        assert not bob.received_matching(is_any_presence_from("carol@localhost"))

        # And presence flows directly again.
        alice.xmpp.send_presence(pstatus="live")
        await bob.expect_stanza(is_presence(alice.jid, status="live"), "alice's presence once active")

    xmpp.run(scenario())
