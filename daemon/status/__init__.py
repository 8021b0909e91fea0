"""Status: what inboxd tells people and agents, computed from the database alone.

Look here when a status file, ``inboxd status`` or a gap report is wrong: ``tally`` keeps the
whole-table counts, ``view`` shapes what each agent is told, ``render`` turns that into
Markdown, ``writer`` puts ``status.json`` and ``STATUS.md`` into each inbox, ``current`` tells
whether those files are still current (``inboxd status`` then shows them), ``coverage`` is
the one place that computes what is missing, and ``gap_report`` is the report for a person.
"""
