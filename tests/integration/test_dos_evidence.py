"""DoS detection asks the challenges for evidence (issue 16), over real S2S: a service whose people write to many
users of a.test at once (a conference) is not blocked — each of them is challenged as usual — while the same reach
after its senders were locked out by challenges blocks the service. b.test connects from an address of its own ([s2s]
source_addresses), so a.test counts it in that network.
"""

from __future__ import annotations

from test_blocklist import start_server
from test_challenge_code import code_of
from test_im import PASSWORDS, login
from test_antispim import is_challenge, is_error_from, is_lockout


async def lock_out(bot, receiver: str, challenge) -> None:
    """Wrong numbers until the lockout (max_tries = 3): a wrong one each time, whatever was drawn."""
    for n in range(3):
        bot.send_message(receiver, "1000" if code_of(challenge) != "1000" else "1001")
        if n < 2:
            challenge = await bot.expect_stanza(is_challenge(receiver), f"the challenge after wrong answer {n + 1}")
    await bot.expect_stanza(is_lockout(receiver), "the lockout")


def test_a_crowd_is_challenged_and_a_failing_service_is_blocked(hush, xmpp):
    from test_federation import free_port
    port_a, port_b = free_port(), free_port()
    a = start_server(hush, "a.test", port_a, {"b.test": port_b},
                     antispim={"chain": ["blocklist", "dos", "challenge"]},
                     **{"antispim.dos": {"distinct_receivers": 3, "window_seconds": 600, "block_hours": 2,
                                         "evidence_senders": 2}})
    b = start_server(hush, "b.test", port_b, {"a.test": port_a}, antispim={"chain": ["pass"]},
                     s2s={"source_addresses": ["127.0.2.1"]})
    for user in ("u1", "u2", "u3"):
        a.adduser(f"{user}@a.test", "a-password-1")
    people = {"alice": "u1", "bob": "u2", "carol": "u3"}
    for name in (*people, "dave"):
        b.adduser(f"{name}@b.test", PASSWORDS[name])
    b.adduser("mallory@b.test", PASSWORDS["dave"])

    async def scenario():
        # Three people of b.test write to three users: the service reached the threshold, but nobody of it failed
        # a challenge — each is challenged, none refused.
        for name, user in people.items():
            person = xmpp.client(f"{name}@b.test/x", PASSWORDS[name])
            await login(person, b.port("c2s"))
            person.send_message(f"{user}@a.test", f"hello from the conference, {name} here")
            await person.expect_stanza(is_challenge(f"{user}@a.test"), f"{name}'s challenge")
            assert not person.received_matching(is_error_from(f"{user}@a.test", "policy-violation"))
        await a.wait_log("antispim: DoS detector: domain:b.test reached 3 users, but of its senders 0 were locked out "
                         "by a challenge and 0 passed: not blocked")
        # Its network is the one b.test connects from.
        await a.wait_log("antispim: DoS detector: ip:127.0.2.0/24 reached 3 users")

        # Two bots of b.test guess until they are locked out: now the reach is a farm's.
        bots = {}
        for name, password in (("dave", PASSWORDS["dave"]), ("mallory", PASSWORDS["dave"])):
            bot = xmpp.client(f"{name}@b.test/bot", password)
            await login(bot, b.port("c2s"))
            bot.send_message("u1@a.test", "cheap pills")
            await lock_out(bot, "u1@a.test", await bot.expect_stanza(is_challenge("u1@a.test"), f"{name}'s challenge"))
            bots[name] = bot
        bots["dave"].send_message("u2@a.test", "cheap pills")
        await bots["dave"].expect_stanza(is_error_from("u2@a.test", "policy-violation"), "the DoS refusal")

    xmpp.run(scenario())
    log = a.stderr_text()
    assert "antispim: DoS detector blocks domain b.test for 2 h: contacted 3 users as a stranger within 600 s; 2 of " \
           "its senders locked out by challenges, 0 passed" in log, a.describe()
    assert "127.0.2.1" in log  # the peer address a.test saw
