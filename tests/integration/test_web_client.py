"""A real browser client over XMPP-over-WebSocket: converse.js 14 in headless Chromium (Selenium) logs in to hushd
over wss:// and talks with a slixmpp user on TCP — one message each way, asserted on the DOM and on what slixmpp
received; then the same with the connection found by XEP-0156 discovery (host-meta from the JID's domain).

converse.js is not in the repository and hushd does not serve it: `npm install converse.js@14.0.0` (the first run
needs the npm registry; a failure fails the test) into $HUSH_BUILD_DIR/npm-cache/converse-14.0.0, reused afterwards;
the page (web_client/index.html) and converse's dist/ are served by a separate `python3 -m http.server`. Needs
Debian's chromium, chromium-driver, python3-selenium and npm (./dev test installs them)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import TIMEOUT, build_dir
from test_im import PASSWORDS, im_client, login

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    webdriver = None

CONVERSE_VERSION = "14.0.0"
PAGE = Path(__file__).resolve().parent / "web_client" / "index.html"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    webdriver is None or CHROMIUM is None or CHROMEDRIVER is None,
    reason="the web client test needs a real browser: apt-get install chromium chromium-driver python3-selenium")


# --------------------------------------------------------------------------------------------------------------
# converse.js from npm, cached in the build directory
# --------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def converse_dist() -> Path:
    """converse.js's dist/ directory, installed with npm on first use."""
    cache = build_dir() / "npm-cache" / f"converse-{CONVERSE_VERSION}"
    dist = cache / "node_modules" / "converse.js" / "dist"
    if (dist / "converse.min.js").is_file() and (cache / ".complete").is_file():
        return dist
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: apt-get install npm (./dev test does); needed to install converse.js")
    cache.mkdir(parents=True, exist_ok=True)
    # A package.json of its own: npm would otherwise install into the nearest parent directory that has one.
    (cache / "package.json").write_text('{"name": "hush-test-converse", "private": true}\n')
    try:
        result = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--save-exact",
                                 f"converse.js@{CONVERSE_VERSION}"],
                                cwd=cache, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail(f"npm install converse.js@{CONVERSE_VERSION} did not finish within 300 s (is the npm registry "
                    f"reachable?)")
    if result.returncode != 0 or not (dist / "converse.min.js").is_file():
        pytest.fail(f"npm install converse.js@{CONVERSE_VERSION} failed (exit {result.returncode}) in {cache}: the "
                    f"npm registry must be reachable the first time (later runs reuse the cache)\n"
                    f"stdout: {result.stdout}\nstderr: {result.stderr}")
    (cache / ".complete").write_text(f"converse.js@{CONVERSE_VERSION}\n")
    return dist


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web_page(tmp_path, converse_dist):
    """http://127.0.0.1:PORT serving index.html and /dist (converse) from a python3 -m http.server."""
    www = tmp_path / "www"
    www.mkdir()
    shutil.copy(PAGE, www / "index.html")
    (www / "dist").symlink_to(converse_dist)
    port = free_port()
    proc = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", "-b", "127.0.0.1", "-d", str(www), str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "http.server.log", "wb"))
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:  # ready once it accepts a connection
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "http.server.log").read_text()
                assert time.monotonic() < deadline, "http.server never listened"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def make_browser(tmp_path: Path, resolver_rules: str):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--ignore-certificate-errors", f"--host-resolver-rules={resolver_rules}",
                "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    options.set_capability("acceptInsecureCerts", True)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def console(driver) -> str:
    try:
        return "\n".join(f"{e['level']} {e['message']}"[:600] for e in driver.get_log("browser"))[-15000:]
    except Exception as e:  # the browser is gone
        return f"(no console log: {e})"


def message_texts(driver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".chat-msg__text")]


def chat_with_bob(server, xmpp, tmp_path, page_url: str, resolver_rules: str):
    """alice in converse (page_url) and bob in slixmpp: a message each way, a screenshot."""
    browser = make_browser(tmp_path, resolver_rules)
    wait = WebDriverWait(browser, TIMEOUT)
    domain = page_url.split("jid=alice%40")[1].split("&")[0]

    async def in_browser(fn):
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    async def scenario():
        bob = im_client(xmpp, f"bob@{domain}/laptop")
        await login(bob, server.port("c2s"))
        await in_browser(lambda: browser.get(page_url))
        # The chat's textarea shows once alice is logged in and the chat with bob is open (the #converse/chat route).
        textarea = await in_browser(lambda: wait.until(
            lambda d: d.find_element(By.CSS_SELECTOR, "textarea.chat-textarea")))
        assert textarea is not None
        bob.send_message(f"alice@{domain}", "hi from slixmpp")
        await in_browser(lambda: wait.until(lambda d: "hi from slixmpp" in message_texts(d)))
        await in_browser(lambda: textarea.send_keys("hi from converse", Keys.ENTER))
        got = await bob.next_message()
        assert got["body"] == "hi from converse"
        # From the browser's session: converse binds a resource of its own.
        assert got["from"].bare == f"alice@{domain}" and got["from"].resource.startswith("converse.js-"), got["from"]
        shot = tmp_path / "chat.png"
        await in_browser(lambda: browser.save_screenshot(str(shot)))
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000, len(data)
        return got

    try:
        return xmpp.run(scenario())
    except Exception as e:
        raise AssertionError(f"{type(e).__name__}: {e}\n--- browser console ---\n{console(browser)}") from e
    finally:
        browser.quit()


def test_converse_over_wss(hush, xmpp, tmp_path, web_page):
    server = hush(listen=[{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                          {"kind": "https", "address": "127.0.0.1", "port": 0}])
    for name in ("alice", "bob"):
        server.adduser(f"{name}@localhost", PASSWORDS[name])
    ws = f"wss://127.0.0.1:{server.port('https')}/xmpp-websocket"
    url = (f"{web_page}?ws={ws}&jid=alice%40localhost&pw={PASSWORDS['alice']}"
           f"#converse/chat?jid=bob@localhost")
    # No name resolves (nothing leaves the machine); the page and hushd are reached by address.
    chat_with_bob(server, xmpp, tmp_path, url, "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")


def test_converse_discovers_the_websocket_endpoint(hush, xmpp, tmp_path, web_page):
    """No websocket_url: converse fetches https://hush.test/.well-known/host-meta (XEP-0156) and connects to the
    wss:// link in it. Chromium resolves hush.test to the https listener (port included); public_url names it."""
    server = hush(server={"hosts": ["hush.test"]}, http={"public_url": "https://hush.test"},
                  listen=[{"kind": "c2s", "address": "127.0.0.1", "port": 0},
                          {"kind": "https", "address": "127.0.0.1", "port": 0}])
    https_port = server.port("https")  # hush.test:443 in the browser
    for name in ("alice", "bob"):
        server.adduser(f"{name}@hush.test", PASSWORDS[name])
    url = (f"{web_page}?discover=1&jid=alice%40hush.test&pw={PASSWORDS['alice']}"
           f"#converse/chat?jid=bob@hush.test")
    chat_with_bob(server, xmpp, tmp_path, url, f"MAP hush.test 127.0.0.1:{https_port}, MAP * ~NOTFOUND, "
                  f"EXCLUDE 127.0.0.1")
