"""What does a person see, in a browser or a scraper, of what inboxd has done?

The dashboard (``inboxd run --http ADDR`` beside the daemon, ``inboxd serve`` alone against a
database; docs/dashboard.md): read-only pages, a JSON API and Prometheus metrics, all views of
the database built by the status room's own code (``daemon/status``), never a second query
for what that room already answers.

``board`` reads (the figures each page shows), ``chart`` draws the pairs-over-time SVG,
``metrics`` is ``/metrics``, ``guard`` decides who may look (loopback, the token, the
headers every answer carries), ``app`` puts the routes and templates together, ``server``
parses the address and runs uvicorn in a thread of its own.
"""
