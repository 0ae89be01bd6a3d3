"""How a command ends: its exit code, and the one place an error becomes a message and a code.

Exit codes: 0 ok, 1 failure, 2 usage error, 3 refused (locked store, read-only, authority),
4 a trigger is tripped (`triggers`), 130 interrupted. A command returns 0 or 4 itself and
raises for everything else; `exit_code` prints what went wrong on stderr, one line per
problem, never a traceback for an error a person can act on. An exception it does not know
is a bug and goes on up, traceback and all.
"""

from __future__ import annotations

import argparse
import sys

from quarterdeck import config as config_mod
from quarterdeck.printable import printable

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
EXIT_TRIPPED = 4  # `triggers`: a rule is tripped
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """The command was given something it cannot use: its usage line, the message, exit 2."""


class Failed(Exception):
    """The command did not do what was asked: each problem on a line of its own after
    `program:` (`quarterdeck`, or the command's own name where it has always said it), exit 1.
    """

    def __init__(self, *problems: str, program: str = "quarterdeck") -> None:
        super().__init__(*problems)
        self.problems = problems
        self.program = program


def exit_code(exc: BaseException, usage: argparse.ArgumentParser) -> int | None:
    """Say on stderr what `exc` means for the person at the terminal and return the exit
    code; None for an exception that is a bug (the caller re-raises it). `usage` is the
    parser of the command that ran, whose usage line goes before a usage error."""
    if isinstance(exc, UsageError):
        usage.print_usage(sys.stderr)
        _say(str(exc))
        return EXIT_USAGE
    if isinstance(exc, config_mod.ConfigError):
        _say(str(exc))
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        _say("interrupted; what was committed is kept")
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return EXIT_OK  # the reader has gone (`| head`): nothing left to say
    if isinstance(exc, Failed):
        for problem in exc.problems:
            _say(problem, exc.program)
        return EXIT_FAILURE
    # the store's, the loader's and the bundle's own errors (imported only when one is here)
    from quarterdeck.bundle import BundleError
    from quarterdeck.ingest.load import LoadError
    from quarterdeck.queries.decisions import JournalError, Refused
    from quarterdeck.queries.store import StoreError

    if isinstance(exc, StoreError | Refused):  # each knows its code: 1, or 3 for a refusal
        refused = isinstance(exc, Refused) and exc.exit_code == EXIT_REFUSED
        _say(f"{'refused: ' if refused else ''}{exc}")
        return exc.exit_code
    if isinstance(exc, JournalError | LoadError | BundleError):
        _say(str(exc))
        return EXIT_FAILURE
    return None


def _say(message: str, program: str = "quarterdeck") -> None:
    """One line on stderr. Messages can quote ids, names and errors from the logs: each is
    printed `printable`, so none of it reaches the terminal as a control sequence."""
    print(f"{program}: {printable(message)}", file=sys.stderr)
