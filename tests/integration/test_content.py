"""Content scoring end to end (issue 17): a real SpamAssassin spamd started for the tests, the built-in Bayes
classifier taught with hushctl, URL lists reloaded on SIGHUP, and every verdict's parts in /api/verdicts.

The senders are local accounts that are strangers to bob (trust_local_users = false), so each message goes through
the chain exactly as a remote stranger's does."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from test_antispim import (answer_number, challenge_of, challenge_settings, client, is_approval, is_challenge, is_chat,
                           is_error_from)
from test_defences import call, error_of, metric, with_http
from test_federation import free_port
from test_im import PASSWORDS, befriend, im_client, login
from xmpp_raw import CLIENT_NS, q

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
HAM = "hi bob, are we still on for lunch tomorrow?"


@pytest.fixture(scope="module")
def spamd():
    """A throwaway spamd on a free loopback port (../shared/testing.md's recipe): local tests only, no Bayes of its
    own, ready once spamc -K answers. Yields its port."""
    if shutil.which("spamd") is None or shutil.which("spamc") is None:
        pytest.fail("spamd and spamc are needed (Debian: apt-get install spamassassin spamc; ./dev test does)")
    home = Path(tempfile.mkdtemp(prefix="spamd."))
    shutil.chown(home, "nobody", "nogroup")
    port = free_port()
    log = open(home / "spamd.log", "w")
    proc = subprocess.Popen(["spamd", "-L", "-x", "-4", "-i", f"127.0.0.1:{port}", "-A", "127.0.0.1",
                             "-u", "nobody", "-g", "nogroup", "-H", str(home), "-s", "stderr", "-m", "2",
                             "--min-children=1", "--cf=use_bayes 0", "--cf=bayes_auto_learn 0"],
                            stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while subprocess.run(["spamc", "-d", "127.0.0.1", "-p", str(port), "-K"], capture_output=True).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"spamd did not start:\n{(home / 'spamd.log').read_text()}")
        time.sleep(0.1)  # polling a readiness probe, not synchronising with the system under test
    yield port
    proc.terminate()
    proc.wait(timeout=30)
    log.close()
    shutil.rmtree(home, ignore_errors=True)


def content_server(hush, **content):
    """bob and mallory on localhost, strangers to each other; the chain scores content before the challenge."""
    server = hush(**with_http(antispim={"chain": ["content", "challenge"], "trust_local_users": False},
                              **{"antispim.content": content}))
    server.adduser("bob@localhost", PASSWORDS["bob"])
    server.adduser("mallory@localhost", PASSWORDS["dave"])
    server.adduser("carol@localhost", PASSWORDS["carol"])
    return server


def verdicts(server) -> list[dict]:
    token = server.hushctl("token", "create", f"ops{time.monotonic_ns()}").stdout.strip()
    status, body = call(server, "GET", "/api/verdicts", token)
    assert status == 200, body
    return json.loads(body)


def is_request_notice(st) -> bool:
    e = st.xml
    return (e.tag == q(CLIENT_NS, "message") and e.get("from") == "localhost"
            and e.findtext(q(CLIENT_NS, "subject")) == "Message requests")


def test_spamd_refuses_gtube_and_lets_a_normal_message_go_on_to_the_challenge(hush, xmpp, spamd):
    server = content_server(hush, spamd=f"127.0.0.1:{spamd}")

    async def scenario():
        mallory = xmpp.client("mallory@localhost/x", PASSWORDS["dave"])
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", f"cheap stuff {GTUBE}")
        err = await mallory.expect_stanza(is_error_from("bob@localhost", "policy-violation"), "the content refusal")
        assert "looks like spam" in error_of(err)[1]
        carol = xmpp.client("carol@localhost/x", PASSWORDS["carol"])
        await login(carol, server.port("c2s"))
        carol.send_message("bob@localhost", HAM)
        await carol.expect_stanza(is_challenge("bob@localhost"), "the ordinary challenge: spamd found nothing")

    xmpp.run(scenario())
    found = verdicts(server)
    refused = [v for v in found if v["sender"] == "mallory@localhost"]
    assert refused and refused[0]["policy"] == "content" and refused[0]["verdict"] == "reject"
    assert "spamd 1000." in refused[0]["explanation"] and "[GTUBE" in refused[0]["explanation"], refused[0]
    held = [v for v in found if v["sender"] == "carol@localhost"]
    assert held and held[0]["policy"] == "challenge", held
    # The content policy's parts travel with the challenge's verdict: spamd's score and no rule worth a point.
    assert held[0]["explanation"].startswith("score ") and " = spamd 0." in held[0]["explanation"], held[0]
    assert metric(server, 'hush_antispim_verdicts_total{policy="content",verdict="reject",mode="enforced"}') == 1


def test_spamd_down_fail_mode_pass_challenges_and_hold_keeps_the_message(hush, xmpp):
    closed = free_port()  # nothing listens there
    passing = content_server(hush, spamd=f"127.0.0.1:{closed}", spamd_fail="pass", bayes=False)
    holding = content_server(hush, spamd=f"127.0.0.1:{closed}", spamd_fail="hold", bayes=False)

    async def scenario():
        mallory = xmpp.client("mallory@localhost/x", PASSWORDS["dave"])
        await login(mallory, passing.port("c2s"))
        mallory.send_message("bob@localhost", HAM)
        await mallory.expect_stanza(is_challenge("bob@localhost"), "fail mode pass: the usual challenge")
        bob = xmpp.client("bob@localhost/x", PASSWORDS["bob"])
        await login(bob, holding.port("c2s"))
        mallory2 = xmpp.client("mallory@localhost/y", PASSWORDS["dave"])
        await login(mallory2, holding.port("c2s"))
        mallory2.send_message("bob@localhost", HAM)
        await bob.expect_stanza(is_request_notice, "fail mode hold: bob hears a request waits")

    xmpp.run(scenario())
    assert "mallory@localhost\t1 held" in holding.hushctl("requests", "bob@localhost").stdout
    v = [v for v in verdicts(holding) if v["sender"] == "mallory@localhost"][0]
    assert (v["policy"], v["verdict"], v["reason"]) == ("content", "hold", "content-spamd-unavailable"), v
    assert "spamd unavailable: cannot connect to spamd" in v["explanation"], v
    assert "spamd unavailable" in [v for v in verdicts(passing) if v["sender"] == "mallory@localhost"][0]["explanation"]
    assert metric(passing, "hush_antispim_content_spamd_failures_total") == 1
    assert metric(holding, "hush_antispim_content_spamd_failures_total") == 1


def test_bayes_taught_with_hushctl_holds_spam_without_a_challenge(hush, xmpp, tmp_path):
    server = content_server(hush, bayes_min_messages=10)
    spam = [f"win free bitcoin now, guaranteed profit {i}x, click https://coin{i}.win.test/r" for i in range(30)]
    ham = [f"hi, can we move the project meeting {i} to thursday? thanks" for i in range(30)]
    (tmp_path / "spam.txt").write_text("\n".join(spam) + "\n")
    (tmp_path / "ham.txt").write_text("\n".join(ham) + "\n")
    assert "scoring: not yet" in server.hushctl("content", "stats").stdout
    assert server.hushctl("content", "train", "spam", str(tmp_path / "spam.txt")).stdout == \
        "learnt 30 spam message(s)\n"
    assert server.hushctl("content", "train", "ham", "-", input="\n".join(ham) + "\n\n").stdout == \
        "learnt 30 ham message(s), skipped 1 line(s) without words\n"
    stats = server.hushctl("content", "stats").stdout
    assert "spam messages: 30\nham messages: 30\n" in stats and "scoring: yes" in stats
    server.signal(signal.SIGHUP)

    async def scenario():
        await server.wait_log("Bayes model loaded: 30 spam, 30 ham")
        bob = xmpp.client("bob@localhost/x", PASSWORDS["bob"])
        await login(bob, server.port("c2s"))
        mallory = xmpp.client("mallory@localhost/x", PASSWORDS["dave"])
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "free bitcoin profit guaranteed, click https://coin77.win.test/r")
        await bob.expect_stanza(is_request_notice, "the spam is held as a request")
        carol = xmpp.client("carol@localhost/x", PASSWORDS["carol"])
        await login(carol, server.port("c2s"))
        carol.send_message("bob@localhost", "hi, can we move the meeting to friday? thanks")
        await carol.expect_stanza(is_challenge("bob@localhost"), "ham goes on to the ordinary challenge")

    xmpp.run(scenario())
    held = [v for v in verdicts(server) if v["sender"] == "mallory@localhost"][0]
    assert (held["policy"], held["reason"]) == ("content", "content-hold"), held
    assert "bayes p=" in held["explanation"], held
    assert metric(server, 'hush_antispim_content_bayes_messages{class="spam"}') == 30
    assert server.hushctl("content", "reset").returncode == 0
    assert "spam messages: 0" in server.hushctl("content", "stats").stdout


def test_url_lists_are_reloaded_on_sighup(hush, xmpp, tmp_path):
    lists = tmp_path / "urls.txt"
    lists.write_text("# exchanged list\nother.example\n")
    server = content_server(hush, url_lists=[str(lists)], url_weight=25.0, bayes=False)

    async def scenario():
        mallory = xmpp.client("mallory@localhost/x", PASSWORDS["dave"])
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "look https://promo.bad.example/deal")
        await mallory.expect_stanza(is_challenge("bob@localhost"), "not listed yet: the challenge")
        lists.write_text("# exchanged list\nother.example\nbad.example\n")
        server.signal(signal.SIGHUP)
        await server.wait_log("URL lists loaded, 2 domain(s)")
        carol = xmpp.client("carol@localhost/x", PASSWORDS["carol"])
        await login(carol, server.port("c2s"))
        carol.send_message("bob@localhost", "look https://www.bad.example/deal")
        await carol.expect_stanza(is_error_from("bob@localhost", "policy-violation"), "listed now: refused")

    xmpp.run(scenario())
    v = [v for v in verdicts(server) if v["sender"] == "carol@localhost"][0]
    # carol's account is minutes old: the outbound guard's read said so, at no cost (new_account 2).
    assert v["explanation"] == "score 27.0 = url-list bad.example 25.0 + new-account 2.0", v


def test_a_broken_url_list_stops_the_start_naming_its_line(hush, tmp_path):
    lists = tmp_path / "urls.txt"
    lists.write_text("good.example\nnot a domain\n")
    with pytest.raises(AssertionError) as failed:
        hush(antispim={"chain": ["content", "challenge"]}, **{"antispim.content": {"url_lists": [str(lists)]}})
    assert f"{lists}:2: 'not a domain' is no domain or URL" in str(failed.value)


def test_passing_the_challenge_does_not_release_what_content_held(hush, xmpp, tmp_path):
    """A human-solver farm's account: its clean first message is challenged, its spam (a listed link) is held by
    content; it answers right, and still nothing of it reaches bob: its request waits for bob's own decision."""
    lists = tmp_path / "urls.txt"
    lists.write_text("bad.example\n")
    server = hush(**with_http(antispim={"chain": ["content", "challenge"], "trust_local_users": False},
                              **{"antispim.content": {"url_lists": [str(lists)], "url_weight": 12.0, "bayes": False},
                                 "antispim.challenge": challenge_settings(0)}))
    server.adduser("bob@localhost", PASSWORDS["bob"])
    server.adduser("alice@localhost", PASSWORDS["alice"])

    async def scenario():
        bob, solver = client(xmpp, "bob@localhost/desk"), client(xmpp, "alice@localhost/farm")
        await login(bob, server.port("c2s"))
        await login(solver, server.port("c2s"))
        solver.send_message("bob@localhost", "hello there")
        st = await solver.expect_stanza(is_challenge("bob@localhost"), "the challenge")
        _, options, _ = challenge_of(st)
        solver.send_message("bob@localhost", "cheap meds at https://shop.bad.example/x")
        await bob.expect_stanza(is_request_notice, "the spam is held as a request")
        solver.send_message("bob@localhost", answer_number(options))  # the right answer, as a paid person types it
        await solver.expect_stanza(is_approval("bob@localhost"), "approved")
        await bob.ping_server()
        # Neither the spam nor the clean message before it: the whole request is bob's to release now.
        assert not bob.received_matching(is_chat("alice@localhost", "cheap meds at https://shop.bad.example/x"))
        assert not bob.received_matching(is_chat("alice@localhost", "hello there"))

    xmpp.run(scenario())
    assert "so its 2 held stanza(s) stay for bob@localhost to release" in server.stderr_text()
    assert "alice@localhost\t2 held" in server.hushctl("requests", "bob@localhost").stdout
    # bob releases it himself: then it goes (to his offline messages, hushctl working on the database).
    assert server.hushctl("requests", "bob@localhost", "release", "alice@localhost").returncode == 0
    assert "alice@localhost" not in server.hushctl("requests", "bob@localhost").stdout


def test_a_spam_report_teaches_the_classifier_what_a_passed_challenge_delivered(hush, xmpp):
    """A solver's spam got through (it answered right); bob blocks and reports it (XEP-0191 + XEP-0377): the text
    its pass delivered is learnt as spam — there is no archive to find it in otherwise."""
    server = hush(**with_http(antispim={"chain": ["content", "challenge"], "trust_local_users": False},
                              **{"antispim.challenge": challenge_settings(0)}))
    server.adduser("bob@localhost", PASSWORDS["bob"])
    server.adduser("alice@localhost", PASSWORDS["alice"])
    spam = "hello dear, invest 500 in bitcoin today and double it, guaranteed"

    async def scenario():
        bob, solver = client(xmpp, "bob@localhost/desk"), client(xmpp, "alice@localhost/farm")
        await login(bob, server.port("c2s"))
        await login(solver, server.port("c2s"))
        solver.send_message("bob@localhost", spam)
        st = await solver.expect_stanza(is_challenge("bob@localhost"), "the challenge")
        solver.send_message("bob@localhost", answer_number(challenge_of(st)[1]))
        await bob.expect_stanza(is_chat("alice@localhost", spam), "delivered after the right answer")
        # Approved now, but no relationship bob made: what it writes next teaches no ham (and is spam once reported).
        solver.send_message("bob@localhost", "more offers for you, dear")
        await bob.expect_stanza(is_chat("alice@localhost", "more offers for you, dear"), "an approved sender's message")
        report = ("<block xmlns='urn:xmpp:blocking'><item jid='alice@localhost'>"
                  "<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/></item></block>")
        assert (await bob.iq("set", report)).xml.get("type") == "result"
        await server.wait_log_count("antispim: content: learnt a spam message", 2)

    xmpp.run(scenario())
    assert metric(server, 'hush_antispim_content_bayes_messages{class="spam"}') == 2  # both of its texts
    assert metric(server, 'hush_antispim_content_bayes_messages{class="ham"}') == 0


def test_a_contacts_message_teaches_ham(hush, xmpp):
    """bob and alice are mutual contacts: alice's message (the first of the sampled ones) is learnt as ham, once."""
    server = hush(**with_http())
    server.adduser("bob@localhost", PASSWORDS["bob"])
    server.adduser("alice@localhost", PASSWORDS["alice"])

    async def scenario():
        bob, alice = im_client(xmpp, "bob@localhost/desk"), im_client(xmpp, "alice@localhost/phone")
        await login(bob, server.port("c2s"))
        await login(alice, server.port("c2s"))
        await befriend(alice, bob)
        alice.send_message("bob@localhost", "see you at the standup tomorrow")
        await bob.expect_stanza(is_chat("alice@localhost", "see you at the standup tomorrow"), "a contact's message")
        await server.wait_log("antispim: content: learnt a ham message")

    xmpp.run(scenario())
    assert metric(server, 'hush_antispim_content_bayes_messages{class="ham"}') == 1


def test_a_report_naming_archived_messages_teaches_them_whoever_sent_them(hush, xmpp):
    """bob's contact alice (her account taken over, say) sends him spam; bob reports it naming the message by the
    stanza-id his archive stamped on it (XEP-0377 with XEP-0359): that text is learnt as spam, read from his archive
    (XEP-0313) — no challenge was involved, nothing else kept it."""
    server = hush(**with_http())
    server.adduser("bob@localhost", PASSWORDS["bob"])
    server.adduser("alice@localhost", PASSWORDS["alice"])
    spam = "cheap watches here, best replica prices, click now"

    async def scenario():
        bob, alice = im_client(xmpp, "bob@localhost/desk"), im_client(xmpp, "alice@localhost/phone")
        await login(bob, server.port("c2s"))
        await login(alice, server.port("c2s"))
        await befriend(alice, bob)
        alice.send_message("bob@localhost", spam)
        got = await bob.expect_stanza(is_chat("alice@localhost", spam), "the contact's spam")
        sid = got.xml.find("{urn:xmpp:sid:0}stanza-id")
        assert sid is not None and sid.get("by") == "bob@localhost"
        report = ("<block xmlns='urn:xmpp:blocking'><item jid='alice@localhost'>"
                  "<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'>"
                  f"<stanza-id xmlns='urn:xmpp:sid:0' by='bob@localhost' id='{sid.get('id')}'/>"
                  # An id of someone else's archive is not read.
                  "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='1'/>"
                  "</report></item></block>")
        assert (await bob.iq("set", report)).xml.get("type") == "result"
        await server.wait_log("antispim: content: learnt a spam message")

    xmpp.run(scenario())
    assert metric(server, 'hush_antispim_content_bayes_messages{class="spam"}') == 1
