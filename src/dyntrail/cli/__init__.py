"""The ``dyntrail`` command line. Thin: every rule lives in ``dyntrail.core``.

``app`` holds the command tree and the top-level options, ``runs`` the commands that run or
judge the strategy (backtest, accept, report, paper), ``tools`` the helpers (targets, config,
data, journal), ``common`` what they share (output streams, exit codes, the config a command
uses) and ``logs`` the log.
"""

from dyntrail.cli.app import app, main

__all__ = ["app", "main"]
