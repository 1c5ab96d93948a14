"""Headless sub-commands of `easeml-gui`, one module per command group. No Qt here."""


class CommandError(Exception):
    """A failure the user can fix: printed without a traceback, exit status 1."""


class UsageError(Exception):
    """A command line that cannot be right: printed with the usage hint, exit status 2."""
