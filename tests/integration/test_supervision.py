"""Supervised coroutines (issue 14): a client session whose stanza handling throws — a bug — is closed with the
stream error <internal-server-error/> and torn down as on any disconnect, at once: its contacts see it go unavailable,
it leaves the session registry, and the server goes on serving everyone else. Before supervision the exception ended
the session's reader silently and the session lingered, unannounced, until its idle timeout.

How the failure is injected: meson's test_hooks option (auto: on, except in release builds) compiles in
server/stream/test_hooks.hpp, whose one hook makes a c2s session's stanza handling throw for the client stanza whose
id is the value of HUSH_TEST_FAIL_STANZA_ID in hushd's environment; without the variable it does nothing. An
environment variable rather than a config key, so that nothing in hush.toml can switch it on and a release build has
no such code at all. The test sets the variable for its own hushd only, and skips with a build configured without
the hooks, where nothing can be injected.
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import build_dir
from test_im import add_users, befriend, error_condition, im_client, is_message, is_presence, login, settle

FAIL_ID = "supervision-test-boom"
PROMPTLY = 5.0  # seconds; the idle timeout the failed session would otherwise have lingered for is set far above it
IDLE_TIMEOUT = 600


def hooks_compiled_in() -> bool:
    """Whether the build under test compiled the test hooks in (meson's test_hooks: auto is on unless release)."""
    info = build_dir() / "meson-info" / "intro-buildoptions.json"
    if not info.is_file():
        return True  # not a meson build directory we can read: assume the default, and let the test say otherwise
    options = {o["name"]: o["value"] for o in json.loads(info.read_text())}
    hooks = options.get("test_hooks", "auto")
    return hooks == "enabled" or (hooks == "auto" and options.get("buildtype") != "release")


def test_failed_session_is_torn_down_at_once(hush, xmpp, monkeypatch):
    if not hooks_compiled_in():
        pytest.skip("this build has no test hooks (meson -Dtest_hooks=disabled, or a release build)")
    monkeypatch.setenv("HUSH_TEST_FAIL_STANZA_ID", FAIL_ID)
    server = hush(limits={"idle_timeout": IDLE_TIMEOUT})
    add_users(server, "alice", "bob", "carol")
    port = server.port("c2s")

    async def scenario():
        await server.wait_log("test hook on")  # the hook is live: what follows is its doing
        alice = im_client(xmpp, "alice@localhost/phone")
        bob = im_client(xmpp, "bob@localhost/laptop")
        carol = im_client(xmpp, "carol@localhost/desk")
        for client in (alice, bob, carol):
            await login(client, port)
        await befriend(alice, bob)
        alice_jid = alice.jid

        # alice's session fails handling this message: a bug, as far as the server can tell.
        started = time.monotonic()
        alice.xmpp.send_raw(f"<message id='{FAIL_ID}' to='{bob.jid}' type='chat'><body>boom</body></message>")

        # alice is told, with the stream error a server failure calls for, and the connection closes.
        error = await alice.next_stream_error(timeout=PROMPTLY)
        assert error["condition"] == "internal-server-error", str(error)
        await alice.wait_closed(timeout=PROMPTLY)
        # bob, her contact, sees her go at once: not after the idle timeout.
        await bob.expect_stanza(is_presence(alice_jid, "unavailable"), "alice's unavailable presence",
                                timeout=PROMPTLY)
        assert time.monotonic() - started < PROMPTLY
        # The log says what failed and why.
        await server.wait_log(f"{alice_jid} reader failed: failure injected by HUSH_TEST_FAIL_STANZA_ID")

        # The failed session left the registry: an iq to its full JID is answered with an error at once, rather
        # than delivered to a stream that no longer reads.
        answer = await bob.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=alice_jid, timeout=PROMPTLY)
        assert answer["type"] == "error" and error_condition(answer) == "service-unavailable", str(answer)
        # The message that made it fail was not delivered.
        await settle(bob)
        assert not bob.received_matching(is_message("boom")), "the failing stanza was delivered"

        # Everyone else is served as before, and alice can come back.
        bob.send_message(carol.jid, "still here?")
        await carol.expect_stanza(is_message("still here?", bob.jid), "bob's message after the failure")
        alice2 = im_client(xmpp, "alice@localhost/phone")
        await login(alice2, port)
        await bob.expect_stanza(is_presence(alice2.jid), "alice's presence when she is back")
        alice2.send_message(bob.jid, "back again")
        await bob.expect_stanza(is_message("back again", alice2.jid), "alice's message after she came back")

    xmpp.run(scenario())
