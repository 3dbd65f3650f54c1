"""Federation with a real Prosody 0.12 (Debian's prosody + lua-unbound): a slixmpp client on each server subscribes
to the other and they exchange messages both ways — once with dialback only (self-signed certificates), once
with SASL EXTERNAL (certificates from a test CA both servers trust, and both insisting on valid certificates).

hush.test finds prosody.test through [s2s.hosts]; Prosody finds hush.test through its `unbound` option (an SRV
record served by libunbound itself). Nothing asks real DNS.
"""

from __future__ import annotations

from federation import prosody, self_signed, test_ca  # noqa: F401  (fixtures)
from test_federation import free_port, start_hush
from test_im import PASSWORDS, im_client, is_presence, login, subscribe


def start_servers(hush, prosody, tmp_path, ca=None, **hush_options):
    """hush.test (alice) and prosody.test (bob), each knowing where the other is. With a CA: certificates from it
    and both sides requiring valid certificates; without: self-signed certificates and dialback."""
    hush_s2s = free_port()
    if ca is not None:
        prosody_cert = ca.issue("prosody.test")
        p = prosody("prosody.test", *prosody_cert, peers={"hush.test": hush_s2s}, cafile=ca.cert_path,
                    secure_auth=True)
        h = start_hush(hush, "hush.test", hush_s2s, {"prosody.test": p.s2s_port}, cert=ca.issue("hush.test"),
                       ca_file=str(ca.cert_path), require_valid_certificates=True)
    else:
        prosody_cert = self_signed(tmp_path / "prosody-cert", "prosody.test")
        p = prosody("prosody.test", *prosody_cert, peers={"hush.test": hush_s2s}, secure_auth=False)
        h = start_hush(hush, "hush.test", hush_s2s, {"prosody.test": p.s2s_port},  # its own self-signed cert
                       **hush_options)
    p.start()
    p.register("bob", PASSWORDS["bob"])
    h.adduser("alice@hush.test", PASSWORDS["alice"])
    return h, p


async def converse(xmpp, h, p) -> None:
    alice = im_client(xmpp, "alice@hush.test/laptop")
    bob = xmpp.client("bob@prosody.test/phone", PASSWORDS["bob"], mech=None)  # whatever Prosody offers
    bob.xmpp.auto_authorize = None
    bob.xmpp.auto_subscribe = False
    await login(alice, h.port("c2s"))
    await login(bob, p.c2s_port)
    # Subscriptions both ways: alice's request crosses from Hush to Prosody, bob's the other way.
    await subscribe(alice, bob)
    await subscribe(bob, alice)
    bob.xmpp.send_presence(pstatus="reading")
    await alice.expect_stanza(is_presence("bob@prosody.test/phone", None, "reading"), "bob's presence via Prosody")
    alice.xmpp.send_presence(pstatus="writing")
    await bob.expect_stanza(is_presence("alice@hush.test/laptop", None, "writing"), "alice's presence via Hush")
    alice.send_message("bob@prosody.test", "hello Prosody")
    msg = await bob.next_message()
    assert (msg["from"].full, msg["body"]) == ("alice@hush.test/laptop", "hello Prosody")
    bob.send_message("alice@hush.test/laptop", "hello Hush")
    msg = await alice.next_message()
    assert (msg["from"].full, msg["body"]) == ("bob@prosody.test/phone", "hello Hush")


def test_prosody_with_dialback(hush, prosody, xmpp, tmp_path):
    h, p = start_servers(hush, prosody, tmp_path)
    xmpp.run(converse(xmpp, h, p))
    log = h.stderr_text()
    # Both directions used dialback: Prosody verified our key with us, we verified Prosody's with it.
    assert "authenticated as hush.test (dialback)" in log, h.describe()
    assert "prosody.test authenticated for hush.test (dialback)" in log, h.describe()
    assert "dialback key of hush.test for prosody.test" in log, h.describe()
    assert "SASL EXTERNAL" not in log
    assert "SASL EXTERNAL with" not in p.log_text()


def test_prosody_with_sasl_external(hush, prosody, xmpp, tmp_path, test_ca):
    h, p = start_servers(hush, prosody, tmp_path, ca=test_ca)
    xmpp.run(converse(xmpp, h, p))
    log = h.stderr_text()
    assert "authenticated as hush.test (SASL EXTERNAL)" in log, h.describe()
    assert "prosody.test authenticated (SASL EXTERNAL, certificate trusted" in log, h.describe()
    assert "(dialback)" not in log, h.describe()
    # Prosody's own account of it: it accepted our certificate's identity, and its EXTERNAL with us succeeded.
    prosody_log = p.log_text()
    assert "Accepting SASL EXTERNAL identity from hush.test" in prosody_log, p.describe()
    assert "SASL EXTERNAL with hush.test succeeded" in prosody_log, p.describe()


def test_a_prosody_user_passes_the_challenge(hush, prosody, xmpp, tmp_path):
    """With Hush's default anti-SPIM policy, a stranger on Prosody writing to a Hush user is challenged; the challenge
    and the answer cross Prosody's S2S and the held message arrives."""
    from test_antispim import challenge_of, challenge_settings, is_approval, is_challenge, is_chat
    h, p = start_servers(hush, prosody, tmp_path, antispim={"chain": ["challenge"]}, challenge=challenge_settings(0))

    async def scenario():
        alice = im_client(xmpp, "alice@hush.test/laptop")
        bob = xmpp.client("bob@prosody.test/phone", PASSWORDS["bob"], mech=None)
        await login(alice, h.port("c2s"))
        await login(bob, p.c2s_port)
        bob.send_message("alice@hush.test", "hi from Prosody")
        st = await bob.expect_stanza(is_challenge("alice@hush.test"), "Hush's challenge through Prosody")
        _, options, _ = challenge_of(st)
        bob.send_message("alice@hush.test", str(options.index("blue") + 1))
        await bob.expect_stanza(is_approval("alice@hush.test"), "the approval")
        await alice.expect_stanza(is_chat("bob@prosody.test", "hi from Prosody"), "the held message")

    xmpp.run(scenario())
