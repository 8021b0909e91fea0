"""inboxd: the running service that turns agents' file deliveries into database rows."""

__version__ = "0.1.0"
