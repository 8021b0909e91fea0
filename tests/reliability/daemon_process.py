"""``inboxd run`` as a real child process, for the tests that kill or signal it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support import wait_for

INBOXD = Path(sys.executable).parent / "inboxd"


class DaemonProcess:
    """A running ``inboxd run --root ROOT``; its JSON log lines are read from a file."""

    def __init__(self, root: Path, wrapper: tuple[str, ...] = (), **env: str) -> None:
        """``wrapper``: a command the daemon runs under (e.g. setpriv dropping capabilities)."""
        self.root = root
        self.output = root / f"daemon-{len(list(root.glob('daemon-*.out')))}.out"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("INBOXD_")}
        environ.update({"INBOXD_SETTLE_SECONDS": "0.2", **env})
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(
                [*wrapper, str(INBOXD), "run", "--root", str(root)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=environ,
            )

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.output.read_text(errors="replace").splitlines():
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return found

    def saw(self, event: str) -> bool:
        return any(e.get("event") == event for e in self.events())

    def wait_ready(self, timeout: float = 30) -> None:
        wait_for(
            lambda: self.saw("daemon.ready") or self.proc.poll() is not None,
            timeout,
            "the daemon to be ready",
        )
        assert self.proc.poll() is None, self.output.read_text()

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
