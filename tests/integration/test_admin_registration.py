"""The registration part of the admin API and page (issue 17): invitations created, listed and revoked, the
approval queue worked through, in the JSON API and in a real headless Chromium (as test_admin_page.py)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from conftest import TIMEOUT
from test_admin_page import CHROMEDRIVER, CHROMIUM, browser, fill, rows, webdriver  # noqa: F401 (browser: fixture)
from test_im import error_condition
from xmpp_raw import CLIENT_NS, SASL_NS, RawStream, q

REGISTER_NS = "jabber:iq:register"


def http_listeners():
    return [{"kind": "c2s", "address": "127.0.0.1", "port": 0}, {"kind": "http", "address": "127.0.0.1", "port": 0}]


class Api:
    def __init__(self, server):
        self.base = f"http://127.0.0.1:{server.port('http')}"
        self.token = server.hushctl("token", "create", "ops").stdout.strip()

    def call(self, method: str, path: str, body=None, token: str | None = None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token or self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                text = res.read().decode()
                return res.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            return e.code, json.loads(text) if text else None


def register(port: int, user: str, token: str | None = None) -> tuple[str | None, str | None]:
    """(preauth answer, registration answer) on a raw stream: "result" or the error condition."""
    def answer(reply: ET.Element) -> str:
        return "result" if reply.get("type") == "result" else error_condition(reply)

    with RawStream.connect("127.0.0.1", port) as s:
        s.secure()
        pre = None
        if token is not None:
            s.send(f"<iq type='set' id='p1'><preauth xmlns='urn:xmpp:pars:0' token='{token}'/></iq>")
            pre = answer(s.read_until(q(CLIENT_NS, "iq")))
        s.send(f"<iq type='set' id='r1'><query xmlns='{REGISTER_NS}'><username>{user}</username>"
               f"<password>{user}-password-1</password></query></iq>")
        return pre, answer(s.read_until(q(CLIENT_NS, "iq")))


def can_log_in(port: int, user: str) -> bool:
    with RawStream.connect("127.0.0.1", port) as s:
        s.secure()
        return s.auth_plain(user, f"{user}-password-1").tag == q(SASL_NS, "success")


def test_registration_api(hush):
    server = hush(listen=http_listeners(), registration={"mode": "open", "captcha": False, "approval": True})
    api = Api(server)
    port = server.port("c2s")
    assert api.call("GET", "/api/invites", token="wrong")[0] == 401
    assert api.call("GET", "/api/invites") == (200, [])

    status, created = api.call("POST", "/api/invites", {"uses": 2, "expires_hours": 48})
    assert status == 201
    assert re.fullmatch(r"xmpp:localhost\?register;preauth=[a-z2-7]{24}", created["uri"])
    assert (created["uses_left"], created["uses_total"], created["state"], created["host"]) == (2, 2, "live", "localhost")
    token = created["uri"].split("preauth=")[1]
    status, listed = api.call("GET", "/api/invites")
    assert status == 200 and [i["id"] for i in listed] == [created["id"]]
    assert "uri" not in listed[0] and token not in json.dumps(listed)  # the token is shown once, at creation
    for bad in ({"uses": 0}, {"uses": "2"}, {"expires_hours": -1}, {"host": "elsewhere.example"},
                {"username": "a b"}):
        status, body = api.call("POST", "/api/invites", bad)
        assert status == 400 and body["error"], bad

    # Invited: no approval needed. Not invited: pending, cannot log in.
    assert register(port, "invited", token) == ("result", "result")
    assert can_log_in(port, "invited")
    assert register(port, "carol") == (None, "result")
    assert register(port, "dave") == (None, "result")
    assert not can_log_in(port, "carol")
    status, pending = api.call("GET", "/api/registrations/pending")
    assert status == 200 and [(p["jid"], p["address"]) for p in pending] == \
        [("carol@localhost", "127.0.0.1"), ("dave@localhost", "127.0.0.1")]
    assert api.call("POST", "/api/registrations/pending/carol%40localhost/approve") == (204, None)
    assert can_log_in(port, "carol")
    assert api.call("POST", "/api/registrations/pending/dave%40localhost/deny") == (204, None)
    assert "dave@localhost" not in server.hushctl("users").stdout.split()
    # Neither an approved account nor an unknown one is pending: 404, nothing deleted.
    assert api.call("POST", "/api/registrations/pending/carol%40localhost/deny")[0] == 404
    assert api.call("POST", "/api/registrations/pending/invited%40localhost/deny")[0] == 404
    assert "invited@localhost" in server.hushctl("users").stdout.split()
    assert api.call("POST", "/api/registrations/pending/carol%40localhost/maybe")[0] == 404
    assert api.call("GET", "/api/registrations/pending") == (200, [])

    assert api.call("DELETE", f"/api/invites/{created['id']}") == (204, None)
    assert api.call("DELETE", f"/api/invites/{created['id']}")[0] == 404
    assert api.call("DELETE", "/api/invites/xyz")[0] == 400
    # Revoked: the token is refused; registering without it is pending approval again.
    assert register(port, "late", token) == ("item-not-found", "result")
    assert not can_log_in(port, "late")


@pytest.mark.skipif(webdriver is None or CHROMIUM is None or CHROMEDRIVER is None,
                    reason="needs chromium, chromium-driver and python3-selenium")
def test_registration_section_in_a_real_browser(hush, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    server = hush(listen=http_listeners(), registration={"mode": "open", "captcha": False, "approval": True})
    api = Api(server)
    port = server.port("c2s")
    assert register(port, "carol") == (None, "result")
    wait = WebDriverWait(browser, TIMEOUT)

    browser.get(api.base + "/admin")
    fill(browser, "token", api.token)
    browser.find_element(By.ID, "login").click()
    wait.until(EC.visibility_of_element_located((By.ID, "app")))
    wait.until(lambda d: [r[0] for r in rows(d, "#pending")] == ["carol@localhost"])
    assert rows(browser, "#invites") == []

    # Create through the form: the link is shown once, the table lists the invite.
    fill(browser, "invite-uses", "3")
    fill(browser, "invite-expires", "0")
    browser.find_element(By.ID, "invite-submit").click()
    wait.until(EC.visibility_of_element_located((By.ID, "invite-created")))
    uri = browser.find_element(By.ID, "invite-uri").text
    assert re.fullmatch(r"xmpp:localhost\?register;preauth=[a-z2-7]{24}", uri), uri
    wait.until(lambda d: len(rows(d, "#invites")) == 1)
    invite_id, host, username, inviter, uses, created, expires, state, action = rows(browser, "#invites")[0]
    assert (host, username, inviter, uses, expires, state, action) == \
        ("localhost", "any", "admin", "3 of 3", "never", "live", "Revoke")
    token = uri.split("preauth=")[1]
    assert register(port, "invited", token) == ("result", "result")

    # Approve carol with her row's button: she can log in.
    browser.find_element(By.CSS_SELECTOR, '#pending tr[data-jid="carol@localhost"] button.approve').click()
    wait.until(lambda d: rows(d, "#pending") == [])
    wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "approved carol@localhost"))
    assert can_log_in(port, "carol")

    # Revoke the invitation: the table reloads with it gone, and its token is refused.
    browser.find_element(By.CSS_SELECTOR, f'#invites tr[data-id="{invite_id}"] button.revoke').click()
    wait.until(lambda d: rows(d, "#invites") == [])
    assert register(port, "late", token)[0] == "item-not-found"

    # A refused request's message is shown as the API gives it.
    fill(browser, "invite-username", "not valid")
    browser.find_element(By.ID, "invite-submit").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "error"), "username is not a valid local part (400)"))
    csp = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert csp == []
