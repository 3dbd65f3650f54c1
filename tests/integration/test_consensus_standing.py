"""User consensus weighs its voters (issue 16), over real S2S: accounts with no contacts (throwaway accounts) cannot
blocklist a remote sender however many of them vote; the same users, once they have a mutual contact, can; one
voter judging several senders of a service does not block the service, several voters do — and then a fresh
account of that service is refused at the door."""

from __future__ import annotations

from test_antispim import is_error_from
from test_blocklist import start_server
from test_defences import error_of, metric
from test_federation import free_port
from test_im import PASSWORDS, befriend, im_client, login

BLOCK = "<block xmlns='urn:xmpp:blocking'><item jid='{}'/></block>"


def listed(server) -> str:
    return server.hushctl("blocklist", "list").stdout


def test_votes_weigh_their_voters_standing(hush, xmpp):
    port_a, port_b = free_port(), free_port()
    a = start_server(hush, "a.test", port_a, {"b.test": port_b}, http=True,
                     antispim={"chain": ["blocklist", "challenge"]},
                     **{"antispim.consensus": {"users": 2, "domain_senders": 2, "domain_voters": 2,
                                               "voter_min_age_hours": 0, "voter_min_contacts": 1}})
    b = start_server(hush, "b.test", port_b, {"a.test": port_a}, antispim={"chain": ["pass"]})
    for user in ("alice", "bob", "carol"):
        a.adduser(f"{user}@a.test", PASSWORDS[user])
    for user in ("mallory", "m2", "m3"):
        b.adduser(f"{user}@b.test", PASSWORDS["dave"])

    async def block(client, target: str) -> None:
        # The IM core answers after the anti-SPIM layer counted the vote.
        assert (await client.iq("set", BLOCK.format(target))).xml.get("type") == "result"

    async def scenario():
        alice, bob, carol = (im_client(xmpp, f"{u}@a.test/x") for u in ("alice", "bob", "carol"))
        for client in (alice, bob, carol):
            await login(client, a.port("c2s"))

        # Accounts with nobody to talk with weigh nothing: two of them judging two senders block neither.
        await block(alice, "mallory@b.test")
        await block(bob, "mallory@b.test")
        await block(alice, "m2@b.test")
        assert metric(a, 'hush_antispim_consensus_total{event="vote"}') == 3
        assert "b.test" not in listed(a)

        # With a mutual contact each, the same people are voters in standing.
        await befriend(alice, carol)
        await befriend(bob, carol)
        # One voter against two senders of b.test: neither the sender (1 of 2 voters) nor the service.
        await block(alice, "mallory@b.test")
        await block(alice, "m2@b.test")
        assert "b.test" not in listed(a)
        # A second voter: mallory (2 voters) and b.test (2 voters against 2 senders) go on the list.
        await block(bob, "mallory@b.test")
        now_listed = listed(a)
        assert "jid\tmallory@b.test\t" in now_listed
        assert "domain\tb.test\t" in now_listed and "weighing 2 voters" in now_listed
        assert metric(a, 'hush_antispim_consensus_total{event="block"}') == 2

        # A fresh account of the blocked service is refused at the door.
        m3 = xmpp.client("m3@b.test/bot", PASSWORDS["dave"])
        await login(m3, b.port("c2s"))
        m3.send_message("carol@a.test", "cheap pills")
        err = await m3.expect_stanza(is_error_from("carol@a.test", "policy-violation"), "a.test refuses")
        assert "b.test" in error_of(err)[1]
        assert not carol.received_matching(lambda s: (s.xml.get("from") or "").startswith("m3@"))

    xmpp.run(scenario())
