"""spimsim's content policy: a throwaway spamd, a.test's [antispim.content] section and the classifier's training.

The config keys and `hushctl content train` are issue 17's (being built on main); a build without them is told
apart here by hushctl's exit status, and the content policy is reported as not run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from benchlib import free_port
from spimsim_texts import training_corpora


class ContentUnavailable(RuntimeError):
    """The build has no content scoring (issue 17's `[antispim.content]` and `hushctl content`): the content
    policy cannot run."""


class Spamd:
    """A throwaway SpamAssassin spamd, as Hush's tests run one: local tests only (-L, no DNS or RBL
    lookups), no per-user config (-x), its own home, Bayes off so its scores don't drift with what it sees, its
    children as nobody. Ready when `spamc -K` gets its PONG."""

    def __init__(self, root: Path):
        if not (shutil.which("spamd") and shutil.which("spamc")):
            raise ContentUnavailable("spamd or spamc is not installed (apt-get install spamassassin spamc)")
        self.dir = root / "spamd"
        self.dir.mkdir()
        self.port = free_port()
        as_user = []
        if os.geteuid() == 0:  # spamd's children must not stay root
            import grp
            import pwd
            os.chown(self.dir, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
            as_user = ["-u", "nobody", "-g", "nogroup"]
        self.log = self.dir / "spamd.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["spamd", "-L", "-x", "-4", "-i", f"127.0.0.1:{self.port}", "-A", "127.0.0.1", *as_user,
                 "-H", str(self.dir), "-s", "stderr", "-m", "2", "--min-children=1", "--cf=use_bayes 0",
                 "--cf=bayes_auto_learn 0"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while not self.ping():
            try:  # waiting on spamd's exit is the pause between pings: an early exit is seen at once
                self.proc.wait(timeout=0.1)
                raise RuntimeError(f"spamd exited ({self.proc.returncode}):\n{self.log.read_text(errors='replace')}")
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"spamd not ready in 60 s:\n{self.log.read_text(errors='replace')}")

    def ping(self) -> bool:
        return subprocess.run(["spamc", "-d", "127.0.0.1", "-p", str(self.port), "-K"], capture_output=True,
                              timeout=10).returncode == 0

    def stop(self) -> None:
        self.proc.terminate()  # TERM to the parent ends its children too
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def content_config(spamd_port: int) -> str:
    """a.test's [antispim.content] section: the spamd started for the run, failing open."""
    return f"""[antispim.content]
spamd = "127.0.0.1:{spamd_port}"   # spamd address; "" = no spamd
spamd_timeout_ms = 3000    # connecting, sending and the answer
spamd_fail = "pass"        # "pass" or "hold" when spamd is down or slow
"""


def train_classifier(hushctl_status, root: Path, seed: int, n: int) -> dict[str, int]:
    """Trains the built-in Bayes classifier with `hushctl content train spam|ham FILE` (one message a line, UTF-8)
    on the training corpora: n lines each, from a seed stream of their own, not the texts the run sends.
    `hushctl_status(*args)` runs hushctl with the server's config and returns the CompletedProcess."""
    spam, ham = training_corpora(seed, n)
    trained = {}
    for label, lines in (("spam", spam), ("ham", ham)):
        path = root / f"training-{label}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        done = hushctl_status("content", "train", label, str(path))
        if done.returncode != 0:
            why = (done.stderr or done.stdout).strip().splitlines()
            raise ContentUnavailable(
                f"`hushctl content train {label} FILE` exited with status {done.returncode}"
                f"{': ' + why[0] if why else ''} -- this build has no content scoring yet (issue 17: "
                f"[antispim.content] and `hushctl content train|stats|reset`); build one that does")
        trained[label] = len(lines)
    return trained
