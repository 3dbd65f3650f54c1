"""The admin page (issue 6) in a real headless Chromium driven by Selenium: a wrong token is refused with a visible
error, the right one loads the blocklist; an entry added through the form is published in /blocklist.xml and one
removed with its button leaves it; the search box filters the rows; a stranger's refused message shows up among
the recent verdicts. Needs Debian's chromium, chromium-driver and python3-selenium (./dev test installs them)."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import pytest

from conftest import TIMEOUT
from test_antispim import is_error_from
from test_im import PASSWORDS, login

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    webdriver = None

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    webdriver is None or CHROMIUM is None or CHROMEDRIVER is None,
    reason="the admin page test needs a real browser: apt-get install chromium chromium-driver python3-selenium")


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def fetch(url: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            return res.status, dict(res.headers), res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def rows(driver, table: str) -> list[list[str]]:
    """The visible rows of a table's body, as cell texts — read in one script call, so never half-replaced."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'))"
        ".filter((r) => !r.hidden).map((r) => Array.from(r.cells).map((c) => c.textContent));", table)


def values(driver) -> list[str]:
    return [r[1] for r in rows(driver, "#entries")]


def fill(driver, element_id: str, text: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def add_entry(driver, kind: str, value: str, reason: str = "", hours: str = "") -> None:
    Select(driver.find_element(By.ID, "add-kind")).select_by_value(kind)
    fill(driver, "add-value", value)
    fill(driver, "add-reason", reason)
    fill(driver, "add-expires", hours)
    driver.find_element(By.ID, "add-submit").click()


def test_admin_page_in_a_real_browser(hush, xmpp, browser):
    server = hush(antispim={"chain": ["blocklist"], "trust_local_users": False},
                  listen=[{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                          {"kind": "http", "address": "127.0.0.1", "port": 0}])
    server.adduser("bob@localhost", PASSWORDS["bob"])
    server.adduser("mallory@localhost", PASSWORDS["dave"])
    token = server.hushctl("token", "create", "web").stdout.strip()
    base = f"http://127.0.0.1:{server.port('http')}"
    wait = WebDriverWait(browser, TIMEOUT)

    # The page itself holds no data: served without a token, locked down by its headers.
    status, headers, html = fetch(base + "/admin")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert 'id="entries"' in html and token not in html
    assert fetch(base + "/api/verdicts")[0] == 401

    browser.get(base + "/admin")
    assert browser.title == "Hush admin"
    fill(browser, "token", "not-the-token")
    browser.find_element(By.ID, "login").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "error"), "bad token"))
    assert not browser.find_element(By.ID, "app").is_displayed()

    fill(browser, "token", token)
    browser.find_element(By.ID, "login").click()
    wait.until(EC.visibility_of_element_located((By.ID, "app")))
    assert not browser.find_element(By.ID, "error").is_displayed()
    assert rows(browser, "#entries") == [] and rows(browser, "#verdicts") == []
    assert browser.find_element(By.ID, "entries-count").text == "0 entries"

    # Add through the form: it shows in the table and in the published list.
    add_entry(browser, "domain", "Spam.Example", "spam invites", "48")
    wait.until(lambda d: "spam.example" in values(d))
    kind, value, reason, source, added, expires, action = rows(browser, "#entries")[0]
    assert (kind, value, reason, source, action) == ("domain", "spam.example", "spam invites", "admin:web", "Remove")
    assert added.endswith("Z") and expires.endswith("Z")
    assert "value='spam.example'" in fetch(base + "/blocklist.xml")[2]

    add_entry(browser, "jid", "mallory@localhost", "test bot")
    wait.until(lambda d: sorted(values(d)) == ["mallory@localhost", "spam.example"])

    # The API's 400 message is shown as it is.
    add_entry(browser, "ip", "192.0.2.7/24")
    wait.until(EC.text_to_be_present_in_element((By.ID, "error"), "not an IP address or range"))
    assert "(400)" in browser.find_element(By.ID, "error").text

    # Search filters rows client-side; clearing it shows them all again.
    fill(browser, "search", "SPAM")
    wait.until(lambda d: values(d) == ["spam.example"])
    assert browser.find_element(By.ID, "entries-count").text == "1 of 2 entries"
    fill(browser, "search", "test bot")
    wait.until(lambda d: values(d) == ["mallory@localhost"])
    browser.find_element(By.ID, "search").clear()
    browser.find_element(By.ID, "search").send_keys(" ")
    wait.until(lambda d: len(values(d)) == 2)

    # A stranger on the list writes to bob: refused, and the verdict is listed.
    async def stranger_writes():
        mallory = xmpp.client("mallory@localhost/bot", PASSWORDS["dave"])
        await login(mallory, server.port("c2s"))
        mallory.send_message("bob@localhost", "cheap pills")
        await mallory.expect_stanza(is_error_from("bob@localhost", "policy-violation"), "the refusal")

    xmpp.run(stranger_writes())
    status, _, body = fetch(base + "/api/verdicts")
    assert status == 401  # the API still wants the token; the page sends it
    browser.find_element(By.ID, "refresh").click()
    wait.until(lambda d: len(rows(d, "#verdicts")) == 1)
    when, policy, verdict, reason, sender, receiver, stanza, score = rows(browser, "#verdicts")[0]
    assert (policy, verdict, reason, sender, receiver, stanza) == \
        ("blocklist", "reject", "blocked-jid:mallory@localhost", "mallory@localhost", "bob@localhost", "message")
    assert score == ""  # the blocklist decided before the content policy scored anything
    assert when[:2] == "20"

    # Remove with the row's button: gone from the table and from the published list.
    browser.find_element(By.CSS_SELECTOR, '#entries tr[data-value="spam.example"] button.remove').click()
    wait.until(lambda d: values(d) == ["mallory@localhost"])
    assert "spam.example" not in fetch(base + "/blocklist.xml")[2]
    wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "removed domain spam.example"))

    # The token lives in sessionStorage: a reload keeps the session; signing out forgets it.
    browser.refresh()
    wait.until(lambda d: values(d) == ["mallory@localhost"])
    browser.find_element(By.ID, "logout").click()
    wait.until(EC.invisibility_of_element_located((By.ID, "app")))
    assert browser.execute_script("return sessionStorage.length") == 0

    # Nothing on the page was blocked by its own Content-Security-Policy.
    csp = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert csp == []


def test_verdicts_api_limit(hush):
    server = hush(listen=[{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                          {"kind": "http", "address": "127.0.0.1", "port": 0}])
    token = server.hushctl("token", "create", "ops").stdout.strip()
    base = f"http://127.0.0.1:{server.port('http')}"

    def get(path: str) -> tuple[int, str]:
        req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status, res.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    assert get("/api/verdicts") == (200, "[]")
    assert get("/api/verdicts?limit=5") == (200, "[]")
    for bad in ("0", "-1", "x", ""):
        status, body = get(f"/api/verdicts?limit={bad}")
        assert status == 400 and "limit" in json.loads(body)["error"]
    assert fetch(base + "/admin/admin.js")[1]["Content-Type"].startswith("text/javascript")
    assert fetch(base + "/admin/admin.css")[1]["Content-Type"].startswith("text/css")
    assert fetch(base + "/admin/")[0] == 200
