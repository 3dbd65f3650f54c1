"""Admins close chat rooms and ban JIDs service-wide (issue 20): through the admin API on a running hushd, and with
hushctl offline on the database, which the running hushd picks up within its sync period (docs/blocklist.md)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request

from muc_helpers import (MUC, USER_NS, create, is_error_from, is_presence_from, join_and_subject,
                         online, room_jid, send_join, start)
from xmpp_raw import CLIENT_NS, q

# hushd reads storage every 10 s; a room hushctl deleted is closed once its last write is 30 s old.
SYNC_TIMEOUT = 25
CLOSE_TIMEOUT = 60


def http_listeners():
    return [{"kind": "c2s", "address": "127.0.0.1", "port": 0}, {"kind": "http", "address": "127.0.0.1", "port": 0}]


class Api:
    def __init__(self, server):
        self.base = f"http://127.0.0.1:{server.port('http')}"
        self.token = server.hushctl("token", "create", "ops").stdout.strip()

    def _call(self, method: str, path: str, body=None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                text = res.read().decode()
                return res.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            return e.code, json.loads(text) if text else None

    async def call(self, method: str, path: str, body=None) -> tuple[int, object]:
        # Off the event loop: the clients must go on reading what the call makes the server send.
        return await asyncio.to_thread(self._call, method, path, body)


def destroy_reason(st) -> str | None:
    x = st.xml.find(q(USER_NS, "x"))
    destroy = None if x is None else x.find(q(USER_NS, "destroy"))
    return None if destroy is None else (destroy.findtext(q(USER_NS, "reason")) or "")


async def join_when_allowed(c, room: str, nick: str, timeout: float) -> None:
    """Try joining until it works (a ban lifted in storage reaches hushd within its sync period)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        send_join(c, room, nick)
        answer = await c.expect_stanza(
            lambda st: st.xml.tag == q(CLIENT_NS, "presence") and st.xml.get("from") == f"{room}/{nick}",
            f"an answer to joining {room}")
        if answer.xml.get("type") != "error":
            return
        assert asyncio.get_running_loop().time() < deadline, f"{c.jid} still cannot join {room}: {answer}"
        await asyncio.sleep(1)


def test_api_closes_rooms_and_bans_service_wide(hush, xmpp, storage_backend):
    server = start(hush, storage_backend, listen=http_listeners())
    api = Api(server)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        bob = await online(xmpp, server, "bob")
        carol = await online(xmpp, server, "carol")
        lobby, one, two = room_jid("lobby"), room_jid("one"), room_jid("two")
        await create(alice, lobby, "Alice", {"muc#roomconfig_roomname": "The Lobby"})
        await join_and_subject(bob, lobby, "Bob")

        status, rooms = await api.call("GET", "/api/muc/rooms")
        assert status == 200, rooms
        assert {"jid": lobby, "name": "The Lobby", "persistent": False, "public_room": True, "members_only": False,
                "occupants": 2} in rooms, rooms
        status, listed = await api.call("GET", f"/api/muc/rooms?service={MUC}")
        assert status == 200 and [r["jid"] for r in listed] == [lobby], listed
        status, error = await api.call("GET", "/api/muc/rooms?service=conference.elsewhere.test")
        assert status == 404 and "error" in error, error

        # Closing: every occupant is told, with the reason, and the room is gone.
        reason = urllib.parse.quote("spam wave")
        status, _ = await api.call("DELETE", f"/api/muc/rooms/{lobby}?reason={reason}")
        assert status == 204
        for c, nick in ((bob, "Bob"), (alice, "Alice")):
            gone = await c.expect_stanza(is_presence_from(f"{lobby}/{nick}", "unavailable"), "the room's destruction")
            assert destroy_reason(gone) == "spam wave", str(gone)
        status, _ = await api.call("DELETE", f"/api/muc/rooms/{lobby}")
        assert status == 404
        status, rooms = await api.call("GET", "/api/muc/rooms")
        assert lobby not in [r["jid"] for r in rooms], rooms
        status, error = await api.call("DELETE", "/api/muc/rooms/nobody%40")
        assert status == 400, error

        # A service-wide ban removes Carol (301) from the room she is in and keeps her out of every other.
        await create(alice, one, "Alice")
        await create(alice, two, "Alice")
        await join_and_subject(carol, one, "Carol")
        status, ban = await api.call("POST", "/api/muc/bans", {"service": MUC, "jid": "Carol@a.test", "reason": "spam"})
        assert status == 201 and ban == {"service": MUC, "jid": "carol@a.test", "reason": "spam"}, ban
        await carol.expect_stanza(is_presence_from(f"{one}/Carol", "unavailable", {301, 110}), "her own removal")
        seen = await alice.expect_stanza(is_presence_from(f"{one}/Carol", "unavailable", {301}), "carol's removal")
        assert seen.xml.find(f".//{q(USER_NS, 'reason')}").text == "spam", str(seen)
        send_join(carol, two, "Carol")
        await carol.expect_stanza(is_error_from(f"{two}/Carol", "presence", "forbidden"), "banned from the service")
        status, bans = await api.call("GET", "/api/muc/bans")
        assert status == 200 and [(b["service"], b["jid"], b["reason"]) for b in bans] == [(MUC, "carol@a.test", "spam")]
        assert bans[0]["created"], bans

        status, error = await api.call("POST", "/api/muc/bans", {"service": MUC, "jid": "carol@a.test/desk"})
        assert status == 400 and "jid" in error["error"], error
        status, error = await api.call("POST", "/api/muc/bans", {"service": "conference.elsewhere.test",
                                                                 "jid": "carol@a.test"})
        assert status == 400 and "service" in error["error"], error

        # Lifted: she can join again.
        status, _ = await api.call("DELETE", f"/api/muc/bans/{MUC}/carol@a.test")
        assert status == 204
        status, _ = await api.call("DELETE", f"/api/muc/bans/{MUC}/carol@a.test")
        assert status == 404
        await join_and_subject(carol, two, "Carol")

    xmpp.run(scenario())


def test_api_without_a_muc_service(hush):
    server = hush(listen=http_listeners(), muc={"enabled": False})
    api = Api(server)
    status, error = api._call("GET", "/api/muc/rooms")
    assert status == 404 and "[muc]" in error["error"], error
    status, error = api._call("POST", "/api/muc/bans", {"service": "conference.localhost", "jid": "x@y.test"})
    assert status == 404 and "[muc]" in error["error"], error


def test_hushctl_bans_and_closes_rooms_of_a_running_server(hush, xmpp, storage_backend):
    server = start(hush, storage_backend)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        bob = await online(xmpp, server, "bob")
        hall, side = room_jid("hall"), room_jid("side")
        await create(alice, hall, "Alice", {"muc#roomconfig_persistentroom": True, "muc#roomconfig_roomname": "Hall"})
        await create(alice, side, "Alice")
        await join_and_subject(bob, hall, "Bob")

        listed = server.hushctl("muc", "rooms").stdout
        assert listed.startswith(f"{hall}\t") and "\tHall" in listed and side not in listed, listed

        # A ban in storage reaches the running server within its sync period: Bob is removed with 301.
        server.hushctl("muc", "ban", MUC, "bob@a.test", "spam from hushctl")
        await bob.expect_stanza(is_presence_from(f"{hall}/Bob", "unavailable", {301, 110}), "the ban from hushctl",
                                timeout=SYNC_TIMEOUT)
        await alice.expect_stanza(is_presence_from(f"{hall}/Bob", "unavailable", {301}), "bob's removal")
        assert "bob@a.test\t" in server.hushctl("muc", "bans", MUC).stdout
        send_join(bob, side, "Bob")
        await bob.expect_stanza(is_error_from(f"{side}/Bob", "presence", "forbidden"), "banned from the service")

        # Lifted in storage: he can join again once the server has read it.
        server.hushctl("muc", "unban", MUC, "bob@a.test")
        await join_when_allowed(bob, side, "Bob", SYNC_TIMEOUT)
        assert server.hushctl("muc", "unban", MUC, "bob@a.test", check=False).returncode == 1
        assert server.hushctl("muc", "ban", "conference.elsewhere.test", "bob@a.test", check=False).returncode == 1

        # A persistent room deleted from storage is closed live, its occupants told.
        server.hushctl("muc", "close", hall)
        gone = await alice.expect_stanza(is_presence_from(f"{hall}/Alice", "unavailable"), "the room's closure",
                                         timeout=CLOSE_TIMEOUT)
        assert destroy_reason(gone) == "closed by the server's admins", str(gone)
        assert server.hushctl("muc", "close", hall, check=False).returncode == 1
        assert server.hushctl("muc", "rooms").stdout == ""
        # The temporary room stays: it was never stored.
        assert not bob.received_matching(is_presence_from(f"{side}/Bob", "unavailable")), "side was closed too"

    xmpp.run(scenario())
