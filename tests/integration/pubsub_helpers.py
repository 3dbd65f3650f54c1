"""Shared helpers for the XEP-0060 (pubsub service) and XEP-0163 (PEP) end-to-end tests, test_pubsub.py and
test_pep.py. They speak the protocol as the XEPs write it (raw XML iqs sent by slixmpp clients), not as Hush happens
to implement it.

XEP-0115 caps are done by hand rather than with slixmpp's xep_0115/xep_0163 plugins, whose caps updates run in
background tasks a test cannot wait for: announce_caps() sends a presence carrying a <c/> whose 'ver' is computed
here (XEP-0115 §5.1) over an identity unique to the client (so the server cannot know it from another client and
must ask), answers the server's disco#info query itself, and returns once that answer has gone out and a ping
behind it has been answered.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from test_im import befriend
from xmpp_client import TIMEOUT
from xmpp_raw import CLIENT_NS, STANZAS_ERR_NS, q

HOST = "a.test"
SERVICE = f"pubsub.{HOST}"
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-2", "carol": "carol-secret-3",
             "dave": "dave-secret-4", "erin": "erin-secret-5"}

PUBSUB_NS = "http://jabber.org/protocol/pubsub"
OWNER_NS = "http://jabber.org/protocol/pubsub#owner"
EVENT_NS = "http://jabber.org/protocol/pubsub#event"
PUBSUB_ERRORS_NS = "http://jabber.org/protocol/pubsub#errors"
NODE_CONFIG = "http://jabber.org/protocol/pubsub#node_config"
PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options"
DATA_NS = "jabber:x:data"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS_NS = "http://jabber.org/protocol/disco#items"
CAPS_NS = "http://jabber.org/protocol/caps"
ROSTER_NS = "jabber:iq:roster"
CAPS_NODE = "https://hush.test/pubsub-tests"


# --------------------------------------------------------------------------------------------------------------
# server, clients, contacts
# --------------------------------------------------------------------------------------------------------------

def start(hush, storage: str = "sqlite", users=("alice", "bob", "carol"), **sections):
    """A hushd serving a.test (its pubsub service is pubsub.a.test by default) with these accounts."""
    server_section = {"hosts": [HOST], **sections.pop("server", {})}
    server = hush(storage=storage, server=server_section, **sections)
    for name in users:
        server.adduser(f"{name}@{HOST}", PASSWORDS[name])
    return server


def client(xmpp, name: str, resource: str):
    """A conftest Client for name@a.test/resource that leaves subscription requests to the test and answers
    disco#info queries with its current caps (see announce_caps)."""
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import StanzaPath

    c = xmpp.client(f"{name}@{HOST}/{resource}", PASSWORDS[name])
    c.xmpp.auto_authorize = None
    c.xmpp.auto_subscribe = False
    c.caps_identity = ("client", "pc", "", f"hush pubsub tests {name}/{resource}")
    c.caps_features = [DISCO_INFO_NS]
    c.caps_answers = asyncio.Queue()  # the feature lists sent in answer to disco#info queries, in order

    def on_disco_info(iq) -> None:
        if iq["type"] != "get":
            return
        node = iq.xml.find(q(DISCO_INFO_NS, "query")).get("node")
        reply = iq.reply(clear=True)
        query = ET.SubElement(reply.xml, q(DISCO_INFO_NS, "query"))
        if node:
            query.set("node", node)
        category, itype, _lang, iname = c.caps_identity
        ET.SubElement(query, q(DISCO_INFO_NS, "identity"), category=category, type=itype, name=iname)
        for feature in c.caps_features:
            ET.SubElement(query, q(DISCO_INFO_NS, "feature"), var=feature)
        reply.send()
        c.caps_answers.put_nowait(list(c.caps_features))

    # Our own answers instead of slixmpp's disco plugin (which knows nothing of our caps node).
    c.xmpp.remove_handler("Disco Info")
    c.xmpp.register_handler(Callback("pubsub tests disco#info", StanzaPath("iq/disco_info"), on_disco_info))
    return c


async def online(xmpp, server, name: str, resource: str, presence: bool = True, notify=None):
    """Log in, fetch the roster; then a plain available presence (presence=True), or — notify given — an initial
    presence with caps announcing `<node>+notify` for each node in it (announce_caps)."""
    c = client(xmpp, name, resource)
    await c.connect(server.port("c2s"), presence=False)
    answer = await c.iq("get", f"<query xmlns='{ROSTER_NS}'/>")
    assert answer["type"] == "result", str(answer)
    if notify is not None:
        await announce_caps(c, *notify)
    elif presence:
        c.xmpp.send_presence()
        await c.ping_server()
    return c


def caps_ver(identity: tuple[str, str, str, str], features: list[str]) -> str:
    """XEP-0115 §5.1 verification string (one identity, no forms)."""
    category, itype, lang, name = identity
    s = f"{category}/{itype}/{lang}/{name}<" + "".join(f"{f}<" for f in sorted(features))
    return base64.b64encode(hashlib.sha1(s.encode("utf-8")).digest()).decode()


async def announce_caps(c, *notify: str, timeout: float = TIMEOUT) -> None:
    """Available presence with XEP-0115 caps announcing `<node>+notify` for each of `notify` (none: a client
    interested in nothing). Waits until the server has asked for these features (XEP-0163 §1.2, XEP-0115 §6.2) and
    been answered, then pings behind the answer."""
    c.caps_features = sorted({DISCO_INFO_NS, CAPS_NS, *(f"{n}+notify" for n in notify)})
    ver = caps_ver(c.caps_identity, c.caps_features)
    presence = c.xmpp.make_presence()
    ET.SubElement(presence.xml, q(CAPS_NS, "c"), hash="sha-1", node=CAPS_NODE, ver=ver)
    presence.send()
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            answered = await asyncio.wait_for(c.caps_answers.get(), max(remaining, 0.001))
        except asyncio.TimeoutError:
            raise AssertionError(f"{c.jid}: the server never asked for the features behind caps ver {ver} "
                                 f"({c.caps_features}) within {timeout}s (XEP-0115 §6.2)") from None
        if answered == c.caps_features:
            break
    await c.ping_server()


async def make_contacts(xmpp, server, *names: str) -> None:
    """Mutual presence subscriptions between every two of these accounts, made by short-lived 'setup' resources
    that then leave."""
    clients = {name: await online(xmpp, server, name, "setup") for name in names}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            await befriend(clients[a], clients[b])
    for c in clients.values():
        await c.disconnect()


# --------------------------------------------------------------------------------------------------------------
# requests
# --------------------------------------------------------------------------------------------------------------

def data_form(form_type: str, fields: dict, type_: str = "submit") -> str:
    """A XEP-0004 form: fields maps var -> value (str, bool or int) or list of values."""
    out = [f"<x xmlns='{DATA_NS}' type='{type_}'>",
           f"<field var='FORM_TYPE' type='hidden'><value>{form_type}</value></field>"]
    for var, value in fields.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        rendered = "".join(f"<value>{escape(form_value(v))}</value>" for v in values)
        out.append(f"<field var={quoteattr(var)}>{rendered}</field>")
    out.append("</x>")
    return "".join(out)


def form_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def publish_xml(node: str, payload: str | None, item_id: str | None = None, options: dict | None = None) -> str:
    """<pubsub><publish node><item id?>payload</item></publish><publish-options/>?</pubsub> (XEP-0060 §7.1.1,
    §7.1.5)."""
    id_attr = f" id={quoteattr(item_id)}" if item_id is not None else ""
    item = f"<item{id_attr}>{payload or ''}</item>"
    opts = ""
    if options is not None:
        opts = f"<publish-options>{data_form(PUBLISH_OPTIONS, options)}</publish-options>"
    return f"<pubsub xmlns='{PUBSUB_NS}'><publish node={quoteattr(node)}>{item}</publish>{opts}</pubsub>"


async def publish(c, node: str, payload: str | None, item_id: str | None = None, options: dict | None = None,
                  to: str | None = None, ok: bool = True):
    """Publish; `ok` asserts an iq result. Returns the answer."""
    answer = await c.iq("set", publish_xml(node, payload, item_id, options), to=to)
    if ok:
        assert answer["type"] == "result", f"publish to {node!r} refused: {answer}"
    return answer


def published_id(answer) -> str | None:
    """The item id in a publish result (XEP-0060 §7.1.2), or None."""
    item = answer.xml.find(f"{q(PUBSUB_NS, 'pubsub')}/{q(PUBSUB_NS, 'publish')}/{q(PUBSUB_NS, 'item')}")
    return None if item is None else item.get("id")


async def get_items(c, node: str, to: str | None = None, max_items: int | None = None, ids=()):
    """XEP-0060 §6.5: all items, the newest max_items, or those with these ids. Returns the answer."""
    max_attr = f" max_items='{max_items}'" if max_items is not None else ""
    wanted = "".join(f"<item id={quoteattr(i)}/>" for i in ids)
    return await c.iq("get", f"<pubsub xmlns='{PUBSUB_NS}'><items node={quoteattr(node)}{max_attr}>{wanted}"
                             "</items></pubsub>", to=to)


def items_of(answer) -> list[ET.Element]:
    """The <item/> elements of an items result (asserting it is one)."""
    assert answer["type"] == "result", f"items request refused: {answer}"
    items = answer.xml.find(f"{q(PUBSUB_NS, 'pubsub')}/{q(PUBSUB_NS, 'items')}")
    assert items is not None, f"no <items/> in the result: {answer}"
    return items.findall(q(PUBSUB_NS, "item"))


def ids_of(items: list[ET.Element]) -> list[str]:
    return [i.get("id") for i in items]


def payload_of(item: ET.Element) -> ET.Element | None:
    return item[0] if len(item) else None


async def owner_iq(c, itype: str, inner: str, to: str | None = None):
    return await c.iq(itype, f"<pubsub xmlns='{OWNER_NS}'>{inner}</pubsub>", to=to)


async def pubsub_iq(c, itype: str, inner: str, to: str | None = None):
    return await c.iq(itype, f"<pubsub xmlns='{PUBSUB_NS}'>{inner}</pubsub>", to=to)


def config_fields(answer, parent: str = "configure", ns: str = OWNER_NS) -> dict[str, list[str]]:
    """var -> values of the data form in a <configure/> (or <default/>) result."""
    assert answer["type"] == "result", f"configuration request refused: {answer}"
    x = answer.xml.find(f"{q(ns, 'pubsub')}/{q(ns, parent)}/{q(DATA_NS, 'x')}")
    assert x is not None, f"no form in the {parent} result: {answer}"
    return {f.get("var"): [v.text or "" for v in f.findall(q(DATA_NS, "value"))]
            for f in x.findall(q(DATA_NS, "field"))}


# --------------------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------------------

def error_signature(answer) -> tuple[str | None, str | None, frozenset[str]]:
    """(stanza type, error type, {conditions}) where conditions are the defined condition and any application-
    specific one, in Clark notation without the text."""
    e = answer.xml
    error = e.find(q(CLIENT_NS, "error"))
    if error is None:
        return e.get("type"), None, frozenset()
    conditions = frozenset(child.tag for child in error if child.tag != q(STANZAS_ERR_NS, "text"))
    return e.get("type"), error.get("type"), conditions


def assert_error(answer, condition: str, pubsub_condition: str | None = None, what: str = "") -> None:
    """An iq error with this RFC 6120 condition (and this pubsub#errors one, when given)."""
    stype, _etype, conditions = error_signature(answer)
    assert stype == "error", f"{what}: expected an error <{condition}/>, got {answer}"
    assert q(STANZAS_ERR_NS, condition) in conditions, f"{what}: expected <{condition}/>, got {answer}"
    if pubsub_condition is not None:
        assert q(PUBSUB_ERRORS_NS, pubsub_condition) in conditions, \
            f"{what}: expected <{pubsub_condition} xmlns='{PUBSUB_ERRORS_NS}'/>, got {answer}"


# --------------------------------------------------------------------------------------------------------------
# notifications
# --------------------------------------------------------------------------------------------------------------

def event_of(st) -> ET.Element | None:
    if st.xml.tag != q(CLIENT_NS, "message") or st.xml.get("type") == "error":
        return None
    return st.xml.find(q(EVENT_NS, "event"))


def is_event(node: str, sender: str | None = None, kind: str = "items", item_id: str | None = None,
             retract: str | None = None):
    """A pubsub#event message about `node`: kind 'items' (an <items/>, holding an <item id=item_id/> or a
    <retract id=retract/> when given), 'delete' or 'purge'; from `sender` when given."""
    def match(st) -> bool:
        event = event_of(st)
        if event is None or (sender is not None and st.xml.get("from") != sender):
            return False
        child = event.find(q(EVENT_NS, kind))
        if child is None or child.get("node") != node:
            return False
        if item_id is not None and item_id not in [i.get("id") for i in child.findall(q(EVENT_NS, "item"))]:
            return False
        if retract is not None and retract not in [r.get("id") for r in child.findall(q(EVENT_NS, "retract"))]:
            return False
        return True
    return match


def event_items(st) -> list[ET.Element]:
    return event_of(st).find(q(EVENT_NS, "items")).findall(q(EVENT_NS, "item"))


def is_chat(body: str):
    def match(st) -> bool:
        return (st.xml.tag == q(CLIENT_NS, "message") and st.xml.get("type") != "error"
                and st.xml.findtext(q(CLIENT_NS, "body")) == body)
    return match


async def assert_none_before(c, unwanted, marker, what: str) -> None:
    """Wait for the marker stanza (sent after whatever could have produced an unwanted one, along the same path),
    then assert nothing matching `unwanted` arrived."""
    await c.expect_stanza(marker, f"the marker after {what}")
    got = c.received_matching(unwanted)
    assert not got, f"{c.jid} received {what}: " + " | ".join(str(st) for st in got)


def chat_marker(sender, receiver, text: str):
    """Send a chat message from sender to receiver's full JID, for assert_none_before: stanzas for one session
    are delivered in the order the server queued them. Returns the predicate matching it."""
    sender.send_message(receiver.jid, text)
    return is_chat(text)


# --------------------------------------------------------------------------------------------------------------
# disco
# --------------------------------------------------------------------------------------------------------------

async def disco_info(c, to: str | None, node: str | None = None):
    node_attr = f" node={quoteattr(node)}" if node else ""
    answer = await c.iq("get", f"<query xmlns='{DISCO_INFO_NS}'{node_attr}/>", to=to)
    assert answer["type"] == "result", f"disco#info of {to} refused: {answer}"
    query = answer.xml.find(q(DISCO_INFO_NS, "query"))
    identities = {(i.get("category"), i.get("type")) for i in query.findall(q(DISCO_INFO_NS, "identity"))}
    features = {f.get("var") for f in query.findall(q(DISCO_INFO_NS, "feature"))}
    return identities, features


async def disco_items(c, to: str | None, node: str | None = None) -> list[tuple[str, str | None]]:
    """(jid, node) of each item of a disco#items result (asserting it is one)."""
    node_attr = f" node={quoteattr(node)}" if node else ""
    answer = await c.iq("get", f"<query xmlns='{DISCO_ITEMS_NS}'{node_attr}/>", to=to)
    assert answer["type"] == "result", f"disco#items of {to} refused: {answer}"
    query = answer.xml.find(q(DISCO_ITEMS_NS, "query"))
    return [(i.get("jid"), i.get("node")) for i in query.findall(q(DISCO_ITEMS_NS, "item"))]
