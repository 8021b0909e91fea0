"""The command line: ``inboxd`` and its subcommands, and what they show a person.

Kept light on import (every command pays for it): ``app`` imports the heavy parts (the daemon,
alembic, rich) inside the commands that need them.
"""
