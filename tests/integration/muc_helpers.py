"""Shared helpers for the XEP-0045 end-to-end tests (test_muc*.py): slixmpp clients that speak MUC as the XEP writes
it (raw presence, messages and iqs), and predicates over what they receive. The room service is conference.a.test.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from xmpp_client import TIMEOUT
from xmpp_raw import CLIENT_NS, STANZAS_ERR_NS, q

HOST = "a.test"
MUC = f"conference.{HOST}"
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-2", "carol": "carol-secret-3",
             "dave": "dave-secret-4", "erin": "erin-secret-5", "mallory": "mallory-secret-6"}

MUC_NS = "http://jabber.org/protocol/muc"
USER_NS = "http://jabber.org/protocol/muc#user"
ADMIN_NS = "http://jabber.org/protocol/muc#admin"
OWNER_NS = "http://jabber.org/protocol/muc#owner"
ROOMCONFIG = "http://jabber.org/protocol/muc#roomconfig"
OCCUPANT_ID_NS = "urn:xmpp:occupant-id:0"
DATA_NS = "jabber:x:data"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS_NS = "http://jabber.org/protocol/disco#items"
ROSTER_NS = "jabber:iq:roster"


def start(hush, storage: str = "sqlite", users=("alice", "bob", "carol"), **sections):
    """A hushd serving a.test (its MUC service is conference.a.test by default) with these accounts."""
    server_section = {"hosts": [HOST], **sections.pop("server", {})}
    server = hush(storage=storage, server=server_section, **sections)
    for name in users:
        server.adduser(f"{name}@{HOST}", PASSWORDS[name])
    return server


async def online(xmpp, server, name: str, resource: str = "desk"):
    """A logged-in client with its roster fetched and available presence sent, that leaves subscriptions to the
    test."""
    c = xmpp.client(f"{name}@{HOST}/{resource}", PASSWORDS[name])
    c.xmpp.auto_authorize = None
    c.xmpp.auto_subscribe = False
    await c.connect(server.port("c2s"), presence=False)
    answer = await c.iq("get", f"<query xmlns='{ROSTER_NS}'/>")
    assert answer["type"] == "result", str(answer)
    c.xmpp.send_presence()
    await c.ping_server()
    return c


def room_jid(name: str) -> str:
    return f"{name}@{MUC}"


# ----------------------------------------------------------------------------------------------------------------
# predicates
# ----------------------------------------------------------------------------------------------------------------

def muc_x(st) -> ET.Element | None:
    return st.xml.find(q(USER_NS, "x"))


def status_codes(st) -> set[int]:
    x = muc_x(st)
    return set() if x is None else {int(s.get("code")) for s in x.findall(q(USER_NS, "status"))}


def item_of(st) -> ET.Element | None:
    x = muc_x(st)
    return None if x is None else x.find(q(USER_NS, "item"))


def is_presence_from(occupant: str, ptype: str | None = None, codes: set[int] = frozenset()):
    """Presence from room@service/nick of that type (None: available), carrying at least these status codes."""
    def match(st) -> bool:
        return (st.xml.tag == q(CLIENT_NS, "presence") and st.xml.get("from") == occupant
                and st.xml.get("type") == ptype and codes <= status_codes(st))
    return match


def is_groupchat(sender: str, body: str):
    def match(st) -> bool:
        return (st.xml.tag == q(CLIENT_NS, "message") and st.xml.get("type") == "groupchat"
                and st.xml.get("from") == sender and st.xml.findtext(q(CLIENT_NS, "body")) == body)
    return match


def is_subject(room: str):
    def match(st) -> bool:
        return (st.xml.tag == q(CLIENT_NS, "message") and st.xml.get("type") == "groupchat"
                and (st.xml.get("from") or "").split("/")[0] == room
                and st.xml.find(q(CLIENT_NS, "subject")) is not None
                and st.xml.find(q(CLIENT_NS, "body")) is None)
    return match


def is_message_from(sender: str, body: str | None = None, mtype: str | None = None):
    def match(st) -> bool:
        return (st.xml.tag == q(CLIENT_NS, "message") and st.xml.get("from") == sender
                and (mtype is None or st.xml.get("type") == mtype)
                and (body is None or st.xml.findtext(q(CLIENT_NS, "body")) == body))
    return match


def error_condition(st) -> str | None:
    error = st.xml.find(q(CLIENT_NS, "error"))
    if error is None:
        return None
    for child in error:
        if child.tag.startswith("{" + STANZAS_ERR_NS + "}") and not child.tag.endswith("}text"):
            return child.tag.split("}")[1]
    return None


def is_error_from(sender: str, kind: str, condition: str | None = None):
    def match(st) -> bool:
        return (st.xml.tag == q(CLIENT_NS, kind) and st.xml.get("type") == "error"
                and st.xml.get("from") == sender and (condition is None or error_condition(st) == condition))
    return match


def occupant_id(st) -> str | None:
    e = st.xml.find(q(OCCUPANT_ID_NS, "occupant-id"))
    return None if e is None else e.get("id")


# ----------------------------------------------------------------------------------------------------------------
# actions
# ----------------------------------------------------------------------------------------------------------------

def send_join(c, room: str, nick: str, password: str | None = None, history: dict | None = None,
              muc: bool = True) -> None:
    x = ""
    if muc:
        inner = ""
        if password is not None:
            inner += f"<password>{escape(password)}</password>"
        if history is not None:
            inner += "<history " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in history.items()) + "/>"
        x = f"<x xmlns='{MUC_NS}'>{inner}</x>"
    c.xmpp.send_raw(f"<presence to={quoteattr(room + '/' + nick)}>{x}</presence>")


async def join(c, room: str, nick: str, password: str | None = None, history: dict | None = None,
               codes: set[int] = frozenset()):
    """Join and wait for the self-presence (status 110 and `codes`); returns it."""
    send_join(c, room, nick, password, history)
    return await c.expect_stanza(is_presence_from(f"{room}/{nick}", None, {110, *codes}),
                                 f"self-presence in {room} as {nick}")


async def join_and_subject(c, room: str, nick: str, **kw):
    """join(), then wait for the subject that ends the join (XEP-0045 §7.2.15)."""
    presence = await join(c, room, nick, **kw)
    await c.expect_stanza(is_subject(room), f"the subject of {room}")
    return presence


def data_form(form_type: str, fields: dict, type_: str = "submit") -> str:
    out = [f"<x xmlns='{DATA_NS}' type='{type_}'>",
           f"<field var='FORM_TYPE'><value>{escape(form_type)}</value></field>"]
    for var, value in fields.items():
        values = value if isinstance(value, list) else [value]
        rendered = "".join(f"<value>{escape(v if isinstance(v, str) else ('1' if v is True else '0' if v is False else str(v)))}</value>"
                           for v in values)
        out.append(f"<field var={quoteattr(var)}>{rendered}</field>")
    out.append("</x>")
    return "".join(out)


async def configure(c, room: str, fields: dict | None = None):
    """Submit the room's configuration (an empty form: the instant room of XEP-0045 §10.1.2); asserts a result."""
    form = data_form(ROOMCONFIG, fields or {})
    answer = await c.iq("set", f"<query xmlns='{OWNER_NS}'>{form}</query>", to=room)
    assert answer["type"] == "result", f"configuring {room} failed: {answer}"
    return answer


async def create(c, room: str, nick: str, fields: dict | None = None):
    """Create a room (status 201), take the subject that ends the join, configure it (instant when no fields)."""
    await join_and_subject(c, room, nick, codes={201})
    await configure(c, room, fields)
    return room


async def admin_iq(c, room: str, itype: str, items: str):
    return await c.iq(itype, f"<query xmlns='{ADMIN_NS}'>{items}</query>", to=room)


async def say(c, room: str, body: str) -> None:
    c.xmpp.send_raw(f"<message to={quoteattr(room)} type='groupchat'><body>{escape(body)}</body></message>")


def fields_of(answer) -> dict[str, list[str]]:
    x = answer.xml.find(f".//{q(DATA_NS, 'x')}")
    out: dict[str, list[str]] = {}
    if x is None:
        return out
    for f in x.findall(q(DATA_NS, "field")):
        out[f.get("var")] = [v.text or "" for v in f.findall(q(DATA_NS, "value"))]
    return out


async def assert_none_before(c, unwanted, marker, what: str, timeout: float = TIMEOUT) -> None:
    """Wait for the marker stanza (sent after whatever could have produced an unwanted one, along the same path),
    then assert nothing matching `unwanted` arrived."""
    await c.expect_stanza(marker, f"the marker after {what}", timeout=timeout)
    got = c.received_matching(unwanted)
    assert not got, f"{c.jid} received {what}: " + " | ".join(str(st) for st in got)
