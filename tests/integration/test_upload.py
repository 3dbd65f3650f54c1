"""XEP-0363 HTTP File Upload end to end (docs/upload.md), on both storage backends: slixmpp's own XEP-0363 plugin
uploads and another account downloads; then raw slot requests and raw HTTP for what must be refused — too large,
over quota, too many pending slots, an expired slot, a wrong or missing token, a slot used twice, paths that try to
leave the upload directory, another host's account — and for ranges, HEAD, CORS, and hushctl upload stats|purge."""

from __future__ import annotations

import asyncio
import http.client
import os
import ssl
import time
import urllib.parse
import xml.etree.ElementTree as ET

from xmpp_raw import STANZAS_ERR_NS, q

HOST = "a.test"
OTHER = "b.test"
UPLOAD = f"upload.{HOST}"
NS = "urn:xmpp:http:upload:0"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS_NS = "http://jabber.org/protocol/disco#items"
DATA_NS = "jabber:x:data"
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-2", "carol": "carol-secret-3"}


def start(hush, storage: str, **upload):
    server = hush(storage=storage, server={"hosts": [HOST, OTHER]},
                  listen=[{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                          {"kind": "http", "address": "127.0.0.1", "port": 0}],
                  upload={"enabled": True, **upload})  # a plain http listener: on only when asked
    for name in PASSWORDS:
        server.adduser(f"{name}@{HOST}", PASSWORDS[name])
    server.adduser(f"bob@{OTHER}", PASSWORDS["bob"])
    return server


async def online(xmpp, server, name: str, host: str = HOST, plugins=()):
    c = xmpp.client(f"{name}@{host}/desk", PASSWORDS[name])
    for plugin in plugins:
        c.xmpp.register_plugin(plugin)
    await c.connect(server.port("c2s"), presence=False)
    return c


def request_xml(filename: str, size: int, content_type: str | None = "text/plain") -> str:
    ctype = "" if content_type is None else f" content-type='{content_type}'"
    return f"<request xmlns='{NS}' filename='{filename}' size='{size}'{ctype}/>"


def slot_of(answer) -> tuple[str, str, dict[str, str]]:
    """(put url, get url, put headers) of a slot result."""
    assert answer["type"] == "result", str(answer)
    slot = answer.xml.find(q(NS, "slot"))
    put = slot.find(q(NS, "put"))
    headers = {h.get("name"): h.text for h in put.findall(q(NS, "header"))}
    return put.get("url"), slot.find(q(NS, "get")).get("url"), headers


def error_of(answer) -> tuple[str, str, ET.Element]:
    """(type, condition, error element) of an error answer."""
    assert answer["type"] == "error", str(answer)
    error = answer.xml.find(q("jabber:client", "error"))
    condition = next(child.tag.split("}")[1] for child in error if child.tag.startswith("{" + STANZAS_ERR_NS))
    return error.get("type"), condition, error


async def ask_slot(c, filename: str, size: int, content_type: str | None = "text/plain", to: str = UPLOAD):
    return await c.iq("get", request_xml(filename, size, content_type), to=to)


def _http(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    """One raw request (http.client sends the path exactly as given); returns (status, headers, body)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE  # hushd's first-run certificate is self-signed
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=10, context=unverified)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.putrequest(method, path, skip_accept_encoding=True)
        sent = dict(headers or {})
        if body is not None and "Content-Length" not in sent:
            sent["Content-Length"] = str(len(body))
        for k, v in sent.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


async def call(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    # Off the event loop: the XMPP clients go on reading meanwhile.
    return await asyncio.to_thread(_http, method, url, body, headers)


def base_url(server) -> str:
    return f"http://127.0.0.1:{server.port('http')}"


def upload_dir(server):
    return server.workdir / "data" / "uploads"


def test_slixmpp_uploads_and_another_account_downloads(hush, xmpp, storage_backend, tmp_path):
    server = start(hush, storage_backend)
    content = os.urandom(70000) + b"the end"
    source = tmp_path / "holiday picture.png"
    source.write_bytes(content)

    async def scenario():
        alice = await online(xmpp, server, "alice", plugins=("xep_0004", "xep_0128", "xep_0363"))
        bob = await online(xmpp, server, "bob")
        # The service is among the host's items, with its identity, feature and maximum size.
        items = await bob.iq("get", f"<query xmlns='{DISCO_ITEMS_NS}'/>", to=HOST)
        assert UPLOAD in [i.get("jid") for i in items.xml.iter(q(DISCO_ITEMS_NS, "item"))], str(items)
        info = await bob.iq("get", f"<query xmlns='{DISCO_INFO_NS}'/>", to=UPLOAD)
        identity = info.xml.find(f".//{q(DISCO_INFO_NS, 'identity')}")
        assert (identity.get("category"), identity.get("type")) == ("store", "file"), str(info)
        assert NS in [f.get("var") for f in info.xml.iter(q(DISCO_INFO_NS, "feature"))], str(info)
        fields = {f.get("var"): f.findtext(q(DATA_NS, "value")) for f in info.xml.iter(q(DATA_NS, "field"))}
        assert fields == {"FORM_TYPE": NS, "max-file-size": "104857600"}, str(info)

        # The plugin's own discovery (get_info_from_domain) passes coroutines to asyncio.wait, which Python 3.11
        # refuses: it is given the service found above, and does the slot request and the PUT itself.
        plugin = alice.xmpp["xep_0363"]
        plugin.upload_service = UPLOAD
        plugin.max_file_size = int(fields["max-file-size"])
        url = await plugin.upload_file(source, content_type="image/png")
        assert url.startswith(base_url(server) + "/upload/") and url.endswith("/holiday%20picture.png"), url

        status, headers, body = await call("GET", url)
        assert status == 200 and body == content, (status, headers)
        assert headers["content-type"] == "image/png"
        assert headers["content-length"] == str(len(content))
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'; sandbox"
        assert headers["content-disposition"].startswith("inline"), headers
        assert headers["cache-control"].startswith("public, max-age=") and "immutable" in headers["cache-control"]
        assert headers["etag"] and headers["access-control-allow-origin"] == "*"

        status, headers, body = await call("HEAD", url)
        assert status == 200 and body == b"" and headers["content-length"] == str(len(content)), (status, headers)
        status, headers, body = await call("GET", url, headers={"Range": "bytes=10-19"})
        assert status == 206 and body == content[10:20], (status, headers)
        assert headers["content-range"] == f"bytes 10-19/{len(content)}"
        status, headers, body = await call("GET", url, headers={"Range": "bytes=-7"})
        assert status == 206 and body == b"the end"
        status, headers, body = await call("GET", url, headers={"Range": f"bytes={len(content)}-"})
        assert status == 416 and headers["content-range"] == f"bytes */{len(content)}", (status, headers)
        status, headers, body = await call("GET", url, headers={"Range": "bytes=0-1,5-6"})
        assert status == 200 and body == content  # several ranges: the whole file
        # The name belongs to the URL.
        status, _, body = await call("GET", url.rsplit("/", 1)[0] + "/other.png")
        assert status == 404 and body, body

        stats = server.hushctl("upload", "stats").stdout
        assert f"alice@{HOST}\t1\t{len(content)}\t0" in stats, stats
        assert f"total\t1\t{len(content)}\t0" in stats, stats

    xmpp.run(scenario())


def test_upload_over_the_https_listener(hush, xmpp):
    """With only an https listener, slots point at it, and the PUT and GET (with a range) go over TLS."""
    server = hush(server={"hosts": [HOST]},
                  listen=[{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                          {"kind": "https", "address": "127.0.0.1", "port": 0}])
    server.adduser(f"alice@{HOST}", PASSWORDS["alice"])

    async def scenario():
        alice = await online(xmpp, server, "alice")
        put, get, headers = slot_of(await ask_slot(alice, "report.txt", 11))
        assert put.startswith(f"https://{HOST}:{server.port('https')}/upload/"), put
        local = put.replace(f"https://{HOST}:", "https://127.0.0.1:")
        status, _, body = await call("PUT", local, b"hello world", {**headers, "Content-Type": "text/plain"})
        assert status == 201, body
        status, h, body = await call("GET", local, headers={"Range": "bytes=6-"})
        assert status == 206 and body == b"world" and h["content-range"] == "bytes 6-10/11", (status, h)

    xmpp.run(scenario())


def test_what_is_refused(hush, xmpp, storage_backend):
    server = start(hush, storage_backend, max_file_size=1000, quota_per_user=2000, max_pending_slots=3,
                   slot_timeout=2, allowed_content_types=["text/*", "image/png"],
                   cors_origins=["https://web.example"])

    async def scenario():
        alice = await online(xmpp, server, "alice")
        carol = await online(xmpp, server, "carol")
        other = await online(xmpp, server, "bob", host=OTHER)

        # Too large: not-acceptable with the XEP's file-too-large and the maximum.
        etype, condition, error = error_of(await ask_slot(alice, "big.txt", 1001))
        assert (etype, condition) == ("modify", "not-acceptable")
        assert error.findtext(f"{q(NS, 'file-too-large')}/{q(NS, 'max-file-size')}") == "1000"
        # A type not allowed.
        assert error_of(await ask_slot(alice, "a.exe", 10, "application/x-msdownload"))[:2] == ("modify",
                                                                                               "not-acceptable")
        # Another host's account gets nothing from this host's service (and one of its own from upload.b.test).
        assert error_of(await ask_slot(other, "x.txt", 10))[:2] == ("auth", "not-allowed")
        slot_of(await ask_slot(other, "x.txt", 10, to=f"upload.{OTHER}"))

        # A slot: the token, the size and the type must be the slot's, and it is used once.
        put, get, headers = slot_of(await ask_slot(alice, "notes.txt", 5))
        assert put == get and set(headers) == {"Authorization"} and headers["Authorization"].startswith("Bearer ")
        assert (await call("GET", get))[0] == 404  # not uploaded yet
        assert (await call("PUT", put, b"hello", {"Content-Type": "text/plain"}))[0] == 403
        wrong = {"Authorization": "Bearer " + "0" * 64, "Content-Type": "text/plain"}
        status, _, body = await call("PUT", put, b"hello", wrong)
        assert status == 403 and body, body
        right = {**headers, "Content-Type": "text/plain"}
        assert (await call("PUT", put, b"hello!", right))[0] == 400  # not the slot's size
        assert (await call("PUT", put, b"hello", {**headers, "Content-Type": "image/png"}))[0] == 415
        status, _, body = await call("PUT", put, b"hello", right)
        assert status == 201, body
        status, _, body = await call("PUT", put, b"hello", right)
        assert status in (403, 409), (status, body)
        status, headers_got, body = await call("GET", get)
        assert status == 200 and body == b"hello" and headers_got["content-disposition"].startswith("inline")

        # CORS: the preflight names the allowed origin; another origin is not allowed.
        status, h, _ = await call("OPTIONS", put, headers={"Origin": "https://web.example",
                                                           "Access-Control-Request-Method": "PUT"})
        assert status == 204 and h["access-control-allow-origin"] == "https://web.example", (status, h)
        assert h["access-control-allow-methods"] == "GET, HEAD, PUT, OPTIONS"
        assert h["access-control-allow-headers"] == "Authorization, Content-Type"
        assert h["access-control-max-age"] == "86400"
        status, h, _ = await call("OPTIONS", put, headers={"Origin": "https://evil.example"})
        assert status == 403 and "access-control-allow-origin" not in h

        # Paths that try to leave the directory: refused without touching the file system.
        base = base_url(server)
        slot_id = put.split("/")[-2]
        for path in ("/upload/../../etc/passwd", "/upload/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                     f"/upload/{slot_id}/..%2f..%2fx", f"/upload/{slot_id}/..%5c..%5cx", "/upload/..\\..\\x",
                     f"/upload/{slot_id.upper()}/notes.txt", f"/upload/{slot_id}/notes.txt/extra",
                     f"/upload/{slot_id}%2fnotes.txt", "/upload/"):
            for method, body in (("GET", None), ("PUT", b"owned")):
                status, _, answer = await call(method, base + path, body, right)
                assert status in (400, 404), (method, path, status, answer)
        assert not (server.workdir / "x").exists() and not (server.workdir / "data" / "x").exists()
        assert sorted(p.name for p in upload_dir(server).iterdir()) == [slot_id], list(upload_dir(server).iterdir())

        # Quota: stored and promised bytes count (5 stored + 1000 + 995 promised = 2000; one more byte is over).
        slot_of(await ask_slot(alice, "one.txt", 1000))
        slot_of(await ask_slot(alice, "two.txt", 995))
        etype, condition, error = error_of(await ask_slot(alice, "three.txt", 1))
        assert (etype, condition) == ("wait", "resource-constraint")
        assert "Quota" in (error.findtext(q(STANZAS_ERR_NS, "text")) or ""), ET.tostring(error)

        # Pending slots: at most three waiting for their upload.
        for i in range(3):
            slot_of(await ask_slot(carol, f"{i}.txt", 1))
        etype, condition, error = error_of(await ask_slot(carol, "3.txt", 1))
        assert (etype, condition) == ("wait", "resource-constraint")
        assert "waiting" in error.findtext(q(STANZAS_ERR_NS, "text")), ET.tostring(error)

        # An expired slot (2 s): the same wrong-size PUT is refused for its size until the slot is past its deadline.
        put, _, headers = slot_of(await ask_slot(alice, "late.txt", 0))
        late = {**headers, "Content-Type": "text/plain"}
        deadline = time.monotonic() + 10
        while True:
            status, _, body = await call("PUT", put, b"x", late)
            if status != 400:
                break
            assert time.monotonic() < deadline, body
            await asyncio.sleep(0.2)  # polling a wall-clock deadline, not synchronizing with the server
        assert status in (403, 404, 410), (status, body)

    xmpp.run(scenario())


def test_hushctl_upload_purge(hush, xmpp, storage_backend):
    server = start(hush, storage_backend, expire_after=1)

    async def scenario():
        alice = await online(xmpp, server, "alice")
        bob = await online(xmpp, server, "bob")
        ids = []
        for name, who in (("a.txt", alice), ("b.txt", alice), ("c.txt", bob)):
            put, get, headers = slot_of(await ask_slot(who, name, 3))
            status, _, body = await call("PUT", put, b"abc", {**headers, "Content-Type": "text/plain"})
            assert status == 201, body
            ids.append(put.split("/")[-2])
        # One account's files (the rows and the files on disk).
        out = server.hushctl("upload", "purge", "--account", f"bob@{HOST}").stdout
        assert "purged 1 upload(s)" in out, out
        assert not (upload_dir(server) / ids[2]).exists()
        stats = server.hushctl("upload", "stats").stdout
        assert f"bob@{HOST}" not in stats and f"alice@{HOST}\t2\t6\t0" in stats, stats
        # Files live 1 s: once past it they are no longer served, and purge deletes them.
        deadline = time.monotonic() + 10
        while (await call("GET", base_url(server) + f"/upload/{ids[0]}/a.txt"))[0] == 200:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)  # polling a wall-clock expiry
        out = server.hushctl("upload", "purge").stdout
        assert "purged 2 upload(s) (expired)" in out, out
        assert not any((upload_dir(server) / i).exists() for i in ids), list(upload_dir(server).iterdir())
        assert server.hushctl("upload", "purge", "--all").returncode == 0
        assert "total\t0\t0\t0" in server.hushctl("upload", "stats").stdout

    xmpp.run(scenario())
