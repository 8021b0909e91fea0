"""Status: what inboxd tells people and agents, computed from the database alone.

Look here when a status file, ``inboxd status`` or a gap report is wrong: the tally counts,
the view shapes what each agent is told, the writer puts ``status.json`` and ``STATUS.md``
into each inbox, and ``coverage`` is the one place that computes what is missing.
"""
