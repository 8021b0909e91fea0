"""Live: the running daemon: watcher, work queue, worker and the systemd handshake.

Look here when a file that arrived was not picked up, or picked up late, or the service did not
start, reload or stop as it should. Each file it picks up goes down the one path in ``ingest``.
"""
