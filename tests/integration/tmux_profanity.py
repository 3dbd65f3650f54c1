"""Drive the terminal client profanity through tmux, as a person at a keyboard would: type lines, read the screen.

profanity runs in a detached tmux session on a tmux server of its own (a unique socket name, so a user's tmux is never
touched) with an isolated HOME and XDG directories (nothing read from or written to the user's profanity, gpg or
desktop notifications). Reading the screen is capture-pane; waiting for something to show is polling it every 0.1 s
until it does or TIMEOUT passes — a failure shows the screen and the tail of profanity's own log.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from conftest import TIMEOUT

PROFANITY = shutil.which("profanity") or "/usr/bin/profanity"
SESSION = "profanity"


def squeeze(text: str) -> str:
    """All whitespace runs as one space: a line the client wrapped or indented reads the same as one that it did
    not."""
    return " ".join(text.split())


class Profanity:
    """One profanity process in its own tmux server. Use start(), then type() and the waits; close() always."""

    def __init__(self, home: Path, width: int = 220, height: int = 60):
        self.home = home
        self.width, self.height = width, height
        self.socket = f"hush-profanity-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.started = False
        self.socket_path: Path | None = None
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "GNUPGHOME": str(home / ".gnupg"),
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            # No DISPLAY and no DBUS_SESSION_BUS_ADDRESS: no desktop notifications reach the user's session.
        }

    # -- tmux --

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], env=self.env,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def start(self) -> "Profanity":
        for d in (".config", ".local/share", ".cache", ".gnupg"):
            (self.home / d).mkdir(parents=True, exist_ok=True, mode=0o700)
        # remain-on-exit: should profanity die, its last screen stays readable for the failure message.
        self.tmux("new-session", "-d", "-x", str(self.width), "-y", str(self.height), "-s", SESSION, PROFANITY,
                  ";", "set-option", "-g", "remain-on-exit", "on")
        self.started = True
        self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").stdout.strip())
        return self

    def close(self) -> None:
        """Ends this tmux server (only ours: its own socket) and the profanity in it; removes the socket, which
        tmux leaves behind."""
        if self.started:
            self.tmux("kill-server", check=False)
            self.started = False
            if self.socket_path is not None and self.socket_path.name == self.socket:
                self.socket_path.unlink(missing_ok=True)

    # -- keyboard and screen --

    def type(self, line: str) -> None:
        """Type `line` literally, then Enter."""
        self.tmux("send-keys", "-t", SESSION, "-l", "--", line)
        self.tmux("send-keys", "-t", SESSION, "Enter")

    def screen(self) -> str:
        """What the terminal shows now (with any scrollback), lines tmux wrapped joined, trailing blanks dropped."""
        text = self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", SESSION).stdout
        return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")

    def dead(self) -> bool:
        return self.tmux("display-message", "-p", "-t", SESSION, "#{pane_dead}").stdout.strip() == "1"

    def log_tail(self, lines: int = 30) -> str:
        log = self.home / ".local/share/profanity/logs/profanity.log"
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no profanity.log)"

    def describe(self, screen: str | None = None) -> str:
        if screen is None:
            try:
                screen = self.screen()
            except AssertionError as e:
                screen = f"(no screen: {e})"
        screen = re.sub(r"\n{3,}", lambda m: f"\n({len(m.group()) - 1} blank lines)\n", screen)
        return (f"--- profanity screen ({self.width}x{self.height}) ---\n{screen}\n"
                f"--- profanity.log (tail) ---\n{self.log_tail()}")

    async def wait_until(self, check, what: str, timeout: float = TIMEOUT):
        """Poll the screen every 0.1 s until check(screen) is truthy; return that value. Fails after timeout (or as
        soon as profanity has exited) with the screen. Async, so that the test's XMPP clients keep running."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            found = check(screen)
            if found:
                return found
            if self.dead():
                raise AssertionError(f"profanity exited while waiting for {what}\n{self.describe(screen)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"profanity never showed {what} within {timeout}s\n{self.describe(screen)}")
            await asyncio.sleep(0.1)

    async def wait_for(self, text: str, timeout: float = TIMEOUT) -> str:
        """Wait until `text` is on the screen (whitespace-insensitive); return the screen."""
        return await self.wait_until(lambda s: s if squeeze(text) in squeeze(s) else None, repr(text), timeout)

    async def wait_for_regex(self, pattern: str, timeout: float = TIMEOUT) -> re.Match:
        return await self.wait_until(lambda s: re.search(pattern, s, re.M), f"/{pattern}/", timeout)

    # -- profanity --

    async def connect(self, jid: str, password: str, port: int, host: str = "127.0.0.1") -> None:
        """Start-up settings, then /connect with TLS required and the self-signed certificate trusted; the password
        typed at profanity's prompt. Returns once profanity says it is logged in."""
        await self.wait_for("Type '/help' to show complete help.")
        # Settings the test does not want in its way: no desktop notifications, no keep-alive pings of our own.
        self.type("/notify chat off")
        await self.wait_for("Chat notifications disabled.")
        self.type("/autoping set 0")
        await self.wait_for("Autoping disabled.")
        self.type(f"/connect {jid} server {host} port {port} tls trust")
        await self.wait_for("Enter password:")
        self.type(password)
        await self.wait_for_regex(rf"{re.escape(jid)}/\S+ logged in successfully")
