"""The HTTP endpoint end to end (issue 6, part): /blocklist.xml with ETag and 304, /metrics, and the admin API with
bearer tokens from hushctl — 401 without a valid token, 400 with a message for bad input."""

from __future__ import annotations

import http.client
import json
import xml.etree.ElementTree as ET

BLOCKLIST_NS = "urn:hush:blocklist:0"


def start(hush):
    return hush(listen=[{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                        {"kind": "http", "address": "127.0.0.1", "port": 0}])


def call(server, method: str, path: str, body=None, token: str | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port("http"), timeout=10)
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    data = json.dumps(body) if isinstance(body, (dict, list)) else body
    if data is not None:
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=h)
    res = conn.getresponse()
    payload = res.read().decode()
    conn.close()
    return res, payload


def test_published_blocklist_with_etag(hush):
    server = start(hush)
    res, body = call(server, "GET", "/blocklist.xml")
    assert res.status == 200 and res.getheader("Content-Type").startswith("application/xml")
    root = ET.fromstring(body)
    assert root.tag == f"{{{BLOCKLIST_NS}}}blocklist" and root.get("server") == "localhost" and len(root) == 0
    etag = res.getheader("ETag")
    assert etag and etag.startswith('"')
    res, body = call(server, "GET", "/blocklist.xml", headers={"If-None-Match": etag})
    assert res.status == 304 and body == ""

    token = server.hushctl("token", "create", "ops").stdout.strip()
    res, body = call(server, "POST", "/api/blocklist", {"kind": "domain", "value": "Spam.Test",
                                                        "reason": "invites", "expires_hours": 48}, token)
    assert res.status == 201, body
    assert json.loads(body)["value"] == "spam.test" and json.loads(body)["source"] == "admin:ops"
    res, body = call(server, "GET", "/blocklist.xml", headers={"If-None-Match": etag})
    assert res.status == 200 and res.getheader("ETag") != etag
    entry = ET.fromstring(body).find(f"{{{BLOCKLIST_NS}}}entry")
    assert (entry.get("type"), entry.get("value"), entry.get("reason")) == ("domain", "spam.test", "invites")
    assert entry.get("added").endswith("Z") and entry.get("expires").endswith("Z")
    assert res.getheader("Last-Modified", "").endswith("GMT")


def test_admin_api_needs_a_token_and_valid_input(hush):
    server = start(hush)
    res, body = call(server, "GET", "/api/blocklist")
    assert res.status == 401 and "token" in json.loads(body)["error"]
    assert res.getheader("WWW-Authenticate", "").startswith("Bearer")
    res, _ = call(server, "GET", "/api/blocklist", token="not-a-token")
    assert res.status == 401
    token = server.hushctl("token", "create", "ops").stdout.strip()
    assert "ops\tcreated " in server.hushctl("token", "list").stdout
    res, body = call(server, "GET", "/api/blocklist", token=token)
    assert res.status == 200 and json.loads(body) == []
    for bad, message in (({"kind": "ip", "value": "192.0.2.7/24"}, "not an IP address or range"),
                         ({"kind": "host", "value": "x"}, "kind must be jid, domain or ip"),
                         ({"kind": "jid", "value": "bot@spam.test", "expires_hours": -1}, "expires_hours"),
                         ("{not json", "expected a JSON object")):
        res, body = call(server, "POST", "/api/blocklist", bad, token)
        assert res.status == 400 and message in json.loads(body)["error"], body
    res, body = call(server, "POST", "/api/blocklist", {"kind": "jid", "value": "bot@spam.test",
                                                        "contacts_too": True}, token)
    assert res.status == 201
    res, body = call(server, "GET", "/api/blocklist", token=token)
    assert [e["value"] for e in json.loads(body)] == ["bot@spam.test"] and json.loads(body)[0]["contacts_too"]
    res, _ = call(server, "DELETE", "/api/blocklist/jid/bot@spam.test", token=token)
    assert res.status == 204
    res, body = call(server, "DELETE", "/api/blocklist/jid/bot@spam.test", token=token)
    assert res.status == 404 and "no entry" in json.loads(body)["error"]
    server.hushctl("token", "revoke", "ops")
    res, _ = call(server, "GET", "/api/blocklist", token=token)
    assert res.status == 401
    res, body = call(server, "GET", "/nowhere")
    assert res.status == 404
    res, body = call(server, "POST", "/metrics", "x")
    assert res.status == 405


def test_metrics(hush):
    server = start(hush)
    res, body = call(server, "GET", "/metrics")
    assert res.status == 200 and res.getheader("Content-Type").startswith("text/plain")
    assert 'hush_antispim_verdicts_total{policy="challenge",verdict="hold",mode="enforced"} 0' in body
    assert 'hush_antispim_verdicts_total{policy="blocklist",verdict="reject",mode="dry_run"} 0' in body
    assert "hush_blocklist_entries 0" in body and "hush_s2s_outgoing_streams 0" in body
    assert 'hush_antispim_classified_total{row="stranger-message"} 0' in body
    assert 'hush_antispim_state_evictions_total{map="rate"} 0' in body
