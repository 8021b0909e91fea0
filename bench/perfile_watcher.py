"""The process-per-file baseline: a watcher that runs ``inboxd process FILE`` per arrival.

What ``watchmedo shell-command --patterns='*.json' --recursive --wait
--command='inboxd process --root ROOT "${watch_dest_path}"' ROOT/outbox`` does (watchmedo is
in watchdog's optional ``[watchmedo]`` extra, not installed here): the same watchdog
observer, and for each file closed after writing or moved into place, one ``inboxd process``
child, waited for before the next (``--wait``: two writers on one SQLite file would only
queue on its lock). Prints ``ready`` once watching.

    python bench/perfile_watcher.py ROOT
"""

from __future__ import annotations

import fnmatch
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from watchdog.events import FileClosedEvent, FileMovedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

INBOXD = Path(sys.executable).parent / "inboxd"
PATTERNS = ("*.json", "*.jsonl")


class RunPerFile(FileSystemEventHandler):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: queue.Queue[str | None] = queue.Queue()

    def dispatch(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileMovedEvent):
            path = os.fsdecode(event.dest_path)
        elif isinstance(event, FileClosedEvent):
            path = os.fsdecode(event.src_path)
        else:
            return
        if any(fnmatch.fnmatch(Path(path).name, p) for p in PATTERNS):
            self.paths.put(path)

    def work(self) -> None:
        while (path := self.paths.get()) is not None:
            subprocess.run(
                [str(INBOXD), "process", "--root", str(self.root), path],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )


def main(argv: list[str]) -> int:
    root = Path(argv[0]).resolve()
    handler = RunPerFile(root)
    observer = Observer()
    observer.schedule(handler, str(root / "outbox"), recursive=True)
    observer.start()
    worker = threading.Thread(target=handler.work, daemon=True)
    worker.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    while not stop.wait(0.2):
        pass
    observer.stop()
    observer.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
