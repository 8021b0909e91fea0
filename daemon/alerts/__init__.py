"""Alerts: who is told when something goes wrong, and how it reaches them.

Look here when a notification (Telegram, Slack, e-mail, ntfy, a webhook) was not sent, sent
twice, or said the wrong thing. The daemon's own code knows nothing of notifications: it logs
events (``file.rejected``, ``batch.closed`` ...), a listener (``service``) turns the ones
asked for into alerts (``events``), ``outbox`` groups a burst into one message and keeps the
rate, ``delivery`` sends it through apprise on a thread of its own with bounded retries,
``watch`` looks at the states no single event tells (a silent agent, a database that keeps
files waiting, a closed batch's gaps) and logs each change, and ``marker`` knows whether the
previous run stopped cleanly.
"""
