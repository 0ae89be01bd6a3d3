"""`quarterdeck` (alias `qd`): the command line."""

from quarterdeck.cli.main import main

__all__ = ["main"]
