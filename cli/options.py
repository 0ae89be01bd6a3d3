"""What the command line's shared options mean: the global options every command takes, how
a command is added, numbers above 0, `--format`, `--since`, the store's path and who decides.

Global options (`--db`, `--config`, `--operator`, `--read-only`) are accepted before or after
the command: each command's parser has its own copy, whose default leaves the value given
before the command alone. A value a person typed that cannot be used is a usage error
(exit 2) that names the option and says what would do.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quarterdeck import config as config_mod
from quarterdeck import formats
from quarterdeck.cli.errors import UsageError
from quarterdeck.queries.named import LIMIT_PROBLEM, MAX_LIMIT
from quarterdeck.queries.store import utc_now

if TYPE_CHECKING:
    from quarterdeck.queries.decisions import Operator, Paths

#: What runs a command: its arguments and the loaded config in, its exit code out.
Handler = Callable[[argparse.Namespace, config_mod.Settings], int]
#: The `commands` that each command module's `register` adds its commands to.
Commands = argparse._SubParsersAction


def global_options(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    """The options every command takes; `nested` copies leave the top level's value alone
    unless given again after the command."""
    unset = argparse.SUPPRESS if nested else None
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=unset,
        help="the store (env QUARTERDECK_DB; default .quarterdeck/quarterdeck.duckdb)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=unset,
        help="the config file (env QUARTERDECK_CONFIG; default ./quarterdeck.toml, then "
        "~/.config/quarterdeck/quarterdeck.toml)",
    )
    parser.add_argument(
        "--operator",
        metavar="NAME",
        default=unset,
        help="who decides (default: `operator` in the config, else the login name)",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=argparse.SUPPRESS if nested else False,
        help="a read-only session: no decision actions are offered (READ-ONLY badge)",
    )


def add_command(
    commands: Commands, name: str, help_text: str, handler: Handler
) -> argparse.ArgumentParser:
    """A command's parser, with the global options, run by `handler`."""
    sub = commands.add_parser(name, help=help_text, description=help_text)
    global_options(sub, nested=True)
    sub.set_defaults(handler=handler, command_parser=sub)
    return sub


def format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=formats.FORMATS, default="table")


#: The largest whole number an option takes (DuckDB's BIGINT).
MAX_INT = 2**63 - 1


def _positive(
    kind: type[int] | type[float], most: int = MAX_INT, beyond: str = ""
) -> Callable[[str], Any]:
    """An argparse type: a number above 0 (`kind` int or float); a whole one at most `most`
    (`beyond`: what to say of a larger one)."""
    what = "a whole number" if kind is int else "a number"

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(
                "must be 1 or more" if kind is int else f"{text!r} must be above 0"
            )
        if kind is int and value > most:  # a store's counts and limits are 64-bit
            raise argparse.ArgumentTypeError(beyond or f"must be at most {most:,}")
        return value

    return parse


positive_int = _positive(int)
positive_float = _positive(float)
#: A read command's `--limit`: 1 to `named.MAX_LIMIT` rows (the server refuses a larger one
#: in the same words).
row_limit = _positive(int, MAX_LIMIT, f"must be {LIMIT_PROBLEM}")


def parse_since(text: str, now: datetime | None = None, *, option: str = "--since") -> datetime:
    """`2h`, `3d`, `30m` before now, or an RFC 3339 timestamp (naive means UTC); `option` is
    how the messages name the option it came from."""
    usage = (
        f"{option} {text!r}: give a duration (30m, 2h, 7d) or a timestamp (2026-11-20T08:00:00Z)"
    )
    try:
        seconds = config_mod.parse_duration(text)
    except ValueError:
        pass
    else:
        try:
            return (now or utc_now()) - timedelta(seconds=seconds)
        except OverflowError:
            raise UsageError(f"{option} {text!r} reaches back before the year 1") from None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
    except ValueError as exc:
        raise UsageError(usage) from exc
    except OverflowError:
        raise UsageError(f"{option} {text!r} falls outside the years 0001-9999 in UTC") from None
    return value


def store_path(args: argparse.Namespace, settings: config_mod.Settings) -> Path:
    """The store: `--db`, else env QUARTERDECK_DB, else the config's, else the default."""
    from quarterdeck.queries.store import ENV_DB, default_path

    if args.db:
        return Path(args.db)
    if os.environ.get(ENV_DB):
        return Path(os.environ[ENV_DB])
    if settings.store.path:
        return Path(settings.store.path)
    return default_path()


def decision_context(
    args: argparse.Namespace, settings: config_mod.Settings, store: Path
) -> tuple[Operator, Paths]:
    """Who decides (read-only with `--read-only` or the config's), and where the decisions
    journal and the control outbox of the store are."""
    operator = config_mod.operator(
        settings,
        getattr(args, "operator", None),
        read_only=args.read_only or settings.console.read_only,
    )
    return operator, config_mod.decision_paths(settings, store)
