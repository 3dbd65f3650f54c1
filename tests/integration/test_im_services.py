"""The IM core's discovery and per-account services end to end: disco#info, stream features, XEP-0115 caps,
vcard-temp, private XML storage, last activity and XEP-0077 in-band registration (moved from test_im.py, whose
helpers they use)."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET

from test_im import (BLOCKING_NS, CAPS_NS, CARBONS_NS, CSI_NS, DATA_FORMS_NS, DELAY_NS, DISCO_INFO_NS, LAST_NS,
                     PASSWORDS, PRIVACY_NS, PRIVATE_NS, REGISTER_FEATURE_NS, REGISTER_NS, VCARD_NS, XML_LANG,
                     add_users, befriend, error_condition, get_roster, im_client, is_presence, login, roster_items)
from xmpp_raw import BIND_NS, CLIENT_NS, RawStream, SASL_NS, q

# ---------------------------------------------------------------------------------------------------------------
# 9. disco#info, stream features, XEP-0115 caps
# ---------------------------------------------------------------------------------------------------------------

def caps_hash(query: ET.Element) -> str:
    """XEP-0115 §5.1 verification string of a disco#info <query/>, SHA-1, base64."""
    identities = sorted((i.get("category", ""), i.get("type", ""), i.get(XML_LANG, ""), i.get("name", ""))
                        for i in query.findall(q(DISCO_INFO_NS, "identity")))
    text = "".join(f"{c}/{t}/{lang}/{name}<" for c, t, lang, name in identities)
    text += "".join(f + "<" for f in sorted(f.get("var") for f in query.findall(q(DISCO_INFO_NS, "feature"))))
    forms = []
    for form in query.findall(q(DATA_FORMS_NS, "x")):
        fields = {f.get("var"): sorted(v.text or "" for v in f.findall(q(DATA_FORMS_NS, "value")))
                  for f in form.findall(q(DATA_FORMS_NS, "field"))}
        form_type = fields.pop("FORM_TYPE", [""])[0]
        forms.append((form_type, "".join(var + "<" + "".join(v + "<" for v in values)
                                         for var, values in sorted(fields.items()))))
    text += "".join(form_type + "<" + rest for form_type, rest in sorted(forms))
    return base64.b64encode(hashlib.sha1(text.encode("utf-8")).digest()).decode()


def test_caps_hash_sanity():
    """The XEP-0115 §5.2 worked example, so a caps mismatch below means the server, not this function."""
    example = ET.fromstring(
        f"<query xmlns='{DISCO_INFO_NS}'><identity category='client' name='Exodus 0.9.1' type='pc'/>"
        "<feature var='http://jabber.org/protocol/caps'/><feature var='http://jabber.org/protocol/disco#info'/>"
        "<feature var='http://jabber.org/protocol/disco#items'/><feature var='http://jabber.org/protocol/muc'/>"
        "</query>")
    assert caps_hash(example) == "QgayPKawpkPSDYmwT/WM94uAlu0="


def test_stream_features_and_caps_match_disco(hush):
    server = hush()
    add_users(server, "alice")
    s, features = raw_login_features(server, "alice")
    with s:
        assert features.find(q(BIND_NS, "bind")) is not None, s.received_text()
        assert features.find(q("urn:xmpp:features:rosterver", "ver")) is not None, s.received_text()
        assert features.find(q(CSI_NS, "csi")) is not None, s.received_text()
        caps = features.find(q(CAPS_NS, "c"))
        assert caps is not None, s.received_text()
        assert caps.get("hash") == "sha-1" and caps.get("node") and caps.get("ver"), ET.tostring(caps)
        assert s.bind("raw") == "alice@localhost/raw"

        s.send(f"<iq type='get' id='info1' to='localhost'><query xmlns='{DISCO_INFO_NS}'/></iq>")
        reply = s.read_until(q(CLIENT_NS, "iq"))
        assert reply.get("id") == "info1" and reply.get("type") == "result", s.received_text()
        query = reply.find(q(DISCO_INFO_NS, "query"))
        features_advertised = {f.get("var") for f in query.findall(q(DISCO_INFO_NS, "feature"))}
        # What docs/features.md lists.
        expected = {DISCO_INFO_NS, "http://jabber.org/protocol/disco#items", "urn:xmpp:ping", BLOCKING_NS,
                    CARBONS_NS, PRIVACY_NS, "msgoffline", DELAY_NS, "jabber:iq:version", LAST_NS, PRIVATE_NS,
                    VCARD_NS, REGISTER_NS}
        assert expected <= features_advertised, expected - features_advertised
        identities = {(i.get("category"), i.get("type")) for i in query.findall(q(DISCO_INFO_NS, "identity"))}
        assert ("server", "im") in identities, identities
        assert caps.get("ver") == caps_hash(query), \
            f"stream feature caps ver {caps.get('ver')!r} does not hash this disco#info: {ET.tostring(query)!r}"

        s.send(f"<iq type='get' id='info3' to='alice@localhost'><query xmlns='{DISCO_INFO_NS}'/></iq>")
        reply = s.read_until(q(CLIENT_NS, "iq"))
        assert reply.get("id") == "info3" and reply.get("type") == "result", s.received_text()
        query = reply.find(q(DISCO_INFO_NS, "query"))
        account_features = {f.get("var") for f in query.findall(q(DISCO_INFO_NS, "feature"))}
        assert {DISCO_INFO_NS, LAST_NS, VCARD_NS} <= account_features, account_features
        identities = {(i.get("category"), i.get("type")) for i in query.findall(q(DISCO_INFO_NS, "identity"))}
        assert ("account", "registered") in identities, identities


def raw_login_features(server, username: str) -> tuple[RawStream, ET.Element]:
    """A raw stream through STARTTLS and PLAIN; returns it (not yet bound) with the post-SASL stream features."""
    s = RawStream.connect("127.0.0.1", server.port("c2s"))
    s.open_stream("localhost")
    s.features()
    s.starttls()
    s.open_stream("localhost")
    s.features()
    assert s.auth_plain(username, PASSWORDS[username]).tag == q(SASL_NS, "success"), s.received_text()
    s.open_stream("localhost")
    return s, s.features()


def test_caps_node_answers_disco_info(hush):
    server = hush()
    add_users(server, "alice")
    s, features = raw_login_features(server, "alice")
    with s:
        caps = features.find(q(CAPS_NS, "c"))
        assert caps is not None, s.received_text()
        s.bind("raw")
        node = f"{caps.get('node')}#{caps.get('ver')}"
        s.send(f"<iq type='get' id='info2' to='localhost'><query xmlns='{DISCO_INFO_NS}' node='{node}'/></iq>")
        reply = s.read_until(q(CLIENT_NS, "iq"))
        assert reply.get("id") == "info2" and reply.get("type") == "result", s.received_text()
        assert caps_hash(reply.find(q(DISCO_INFO_NS, "query"))) == caps.get("ver"), s.received_text()


# ---------------------------------------------------------------------------------------------------------------
# 10. per-account services: vcard-temp, private XML storage, last activity; XEP-0077 in-band registration
# ---------------------------------------------------------------------------------------------------------------

def test_vcard_temp(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob", "carol")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        for client in (alice, bob):
            await login(client, port)
        card = (f"<vCard xmlns='{VCARD_NS}'><FN>Alice Example</FN><NICKNAME>ali</NICKNAME>"
                "<EMAIL><INTERNET/><USERID>alice@example.org</USERID></EMAIL></vCard>")
        result = await alice.iq("set", card)
        assert result["type"] == "result", str(result)

        for reader in (alice, bob):
            result = await reader.iq("get", f"<vCard xmlns='{VCARD_NS}'/>", to="alice@localhost")
            assert result["type"] == "result", str(result)
            vcard = result.xml.find(q(VCARD_NS, "vCard"))
            assert vcard is not None, str(result)
            assert vcard.findtext(q(VCARD_NS, "FN")) == "Alice Example", str(result)
            assert vcard.findtext(f"{q(VCARD_NS, 'EMAIL')}/{q(VCARD_NS, 'USERID')}") == "alice@example.org"

        # Nobody else may set it.
        result = await bob.iq("set", f"<vCard xmlns='{VCARD_NS}'><FN>Not Alice</FN></vCard>", to="alice@localhost")
        assert result["type"] == "error" and error_condition(result) == "forbidden", str(result)
        result = await bob.iq("get", f"<vCard xmlns='{VCARD_NS}'/>", to="alice@localhost")
        assert result.xml.find(q(VCARD_NS, "vCard")).findtext(q(VCARD_NS, "FN")) == "Alice Example"

        # An account without one: an empty vCard.
        result = await bob.iq("get", f"<vCard xmlns='{VCARD_NS}'/>", to="carol@localhost")
        assert result["type"] == "result", str(result)
        vcard = result.xml.find(q(VCARD_NS, "vCard"))
        assert vcard is not None and len(vcard) == 0, str(result)

    xmpp.run(scenario())


def test_private_xml_storage(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        for client in (alice, bob):
            await login(client, port)
        stored = ("<storage xmlns='storage:bookmarks'>"
                  "<conference jid='room@conference.localhost' autojoin='true' name='The Room'/></storage>")
        result = await alice.iq("set", f"<query xmlns='{PRIVATE_NS}'>{stored}</query>")
        assert result["type"] == "result", str(result)

        result = await alice.iq("get", f"<query xmlns='{PRIVATE_NS}'><storage xmlns='storage:bookmarks'/></query>")
        assert result["type"] == "result", str(result)
        conference = result.xml.find(f"{q(PRIVATE_NS, 'query')}/{q('storage:bookmarks', 'storage')}"
                                     f"/{q('storage:bookmarks', 'conference')}")
        assert conference is not None and conference.get("name") == "The Room", str(result)

        # Another namespace is another slot: nothing stored there yet, the empty element comes back.
        result = await alice.iq("get", f"<query xmlns='{PRIVATE_NS}'><prefs xmlns='urn:example:prefs'/></query>")
        assert result["type"] == "result", str(result)
        prefs = result.xml.find(f"{q(PRIVATE_NS, 'query')}/{q('urn:example:prefs', 'prefs')}")
        assert prefs is not None and len(prefs) == 0, str(result)

        # Only the owner, and not in reserved namespaces.
        result = await bob.iq("get", f"<query xmlns='{PRIVATE_NS}'><storage xmlns='storage:bookmarks'/></query>",
                              to="alice@localhost")
        assert result["type"] == "error" and error_condition(result) == "forbidden", str(result)
        result = await alice.iq("set", f"<query xmlns='{PRIVATE_NS}'><x xmlns='jabber:client'/></query>")
        assert result["type"] == "error" and error_condition(result) == "not-acceptable", str(result)

    xmpp.run(scenario())


def test_last_activity(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend)
    add_users(server, "alice", "bob", "carol")
    port = server.port("c2s")

    async def last(client, to: str):
        return await client.iq("get", f"<query xmlns='{LAST_NS}'/>", to=to)

    def seconds(result) -> int:
        assert result["type"] == "result", str(result)
        return int(result.xml.find(q(LAST_NS, "query")).get("seconds"))

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        bob = im_client(xmpp, "bob@localhost/b")
        carol = im_client(xmpp, "carol@localhost/c")
        for client in (alice, bob, carol):
            await login(client, port)
        await befriend(alice, bob)

        assert seconds(await last(alice, "localhost")) >= 0  # the server's uptime
        assert seconds(await last(alice, "bob@localhost")) == 0  # online
        bob.xmpp.send_presence(ptype="unavailable", pstatus="Gone fishing \u2014 back Monday")
        await alice.expect_stanza(is_presence(bob.jid, "unavailable"), "bob's unavailable presence")
        await bob.disconnect()
        await server.wait_log("presence: last activity of bob@localhost recorded")
        answer = await last(alice, "bob@localhost")
        assert 0 <= seconds(answer) < 60  # since he logged out
        # ... with the status of his last unavailable presence (XEP-0012 §3)
        assert answer.xml.find(q(LAST_NS, "query")).text == "Gone fishing \u2014 back Monday"

        # XEP-0012 §3: only those allowed to see bob's presence may ask.
        result = await last(carol, "bob@localhost")
        assert result["type"] == "error" and error_condition(result) == "forbidden", str(result)

    xmpp.run(scenario())


def raw_register(s: RawStream, username: str, password: str, iq_id: str = "reg2") -> ET.Element:
    s.send(f"<iq type='set' id='{iq_id}'><query xmlns='{REGISTER_NS}'><username>{username}</username>"
           f"<password>{password}</password></query></iq>")
    return s.read_until(q(CLIENT_NS, "iq"))


def test_in_band_registration_enabled(hush, xmpp, storage_backend):
    server = hush(storage=storage_backend, registration={"mode": "open", "captcha": False})
    add_users(server, "alice")

    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        s.open_stream("localhost")
        s.features()
        s.starttls()
        s.open_stream("localhost")
        features = s.features()
        assert features.find(q(REGISTER_FEATURE_NS, "register")) is not None, s.received_text()
        s.send(f"<iq type='get' id='reg1'><query xmlns='{REGISTER_NS}'/></iq>")
        form = s.read_until(q(CLIENT_NS, "iq"))
        assert form.get("type") == "result", s.received_text()
        query = form.find(q(REGISTER_NS, "query"))
        assert query.find(q(REGISTER_NS, "username")) is not None, s.received_text()
        assert query.find(q(REGISTER_NS, "password")) is not None, s.received_text()

        answer = raw_register(s, "newbie", "newbie-password-1")
        assert answer.get("type") == "result", s.received_text()
        taken = raw_register(s, "alice", "another-password-2", "reg3")
        assert taken.get("type") == "error" and error_condition(taken) == "conflict", s.received_text()

    assert "newbie@localhost" in server.hushctl("users").stdout.split()

    async def scenario():
        newbie = xmpp.client("newbie@localhost/x", "newbie-password-1")
        assert await newbie.connect(server.port("c2s")) == "newbie@localhost/x"

    xmpp.run(scenario())


def test_in_band_registration_disabled(hush):
    server = hush(registration={"mode": "closed"})
    with RawStream.connect("127.0.0.1", server.port("c2s")) as s:
        s.open_stream("localhost")
        s.features()
        s.starttls()
        s.open_stream("localhost")
        features = s.features()
        assert features.find(q(REGISTER_FEATURE_NS, "register")) is None, s.received_text()
        s.send(f"<iq type='get' id='reg1'><query xmlns='{REGISTER_NS}'/></iq>")
        answer = s.read_until(q(CLIENT_NS, "iq"))
        assert answer.get("type") == "error" and error_condition(answer) == "service-unavailable", \
            s.received_text()
        answer = raw_register(s, "sneaky", "sneaky-password-1")
        assert answer.get("type") == "error", s.received_text()
    assert "sneaky@localhost" not in server.hushctl("users").stdout.split()


def test_in_band_password_change_and_removal(hush, xmpp):
    """XEP-0077 after login (whatever [registration] mode says): change one's password, then remove the account;
    removal closes every session of the account with <not-authorized/>."""
    server = hush()
    add_users(server, "alice", "bob")
    port = server.port("c2s")

    async def scenario():
        alice = im_client(xmpp, "alice@localhost/a")
        other = im_client(xmpp, "alice@localhost/other")
        bob = im_client(xmpp, "bob@localhost/b")
        await login(alice, port)
        await login(bob, port)
        await befriend(alice, bob)
        result = await alice.iq("set", f"<query xmlns='{REGISTER_NS}'><username>alice</username>"
                                       "<password>a-new-password-7</password></query>")
        assert result["type"] == "result", str(result)
        old = xmpp.client("alice@localhost/old", PASSWORDS["alice"])
        old.xmpp.connect(address=("127.0.0.1", port))
        await old.wait_auth_failure()
        other.xmpp.password = "a-new-password-7"
        await login(other, port)

        result = await alice.iq("set", f"<query xmlns='{REGISTER_NS}'><remove/></query>")
        assert result["type"] == "result", str(result)
        for client in (alice, other):
            error = await client.next_stream_error()
            assert error["condition"] == "not-authorized", str(error)
            await client.wait_closed()
        # XEP-0077 §3.3: the removed account's contacts see both subscriptions cancelled.
        await bob.expect_stanza(is_presence("alice@localhost", "unsubscribe"), "alice's unsubscribe")
        await bob.expect_stanza(is_presence("alice@localhost", "unsubscribed"), "alice's unsubscribed")
        items = roster_items(await get_roster(bob))
        assert items["alice@localhost"].get("subscription") == "none", str(items)

    xmpp.run(scenario())
    assert "alice@localhost" not in server.hushctl("users").stdout.split()
