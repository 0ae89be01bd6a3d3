"""Settings from `quarterdeck.toml`, validated strictly, with errors that name the field.

Where the file is found (DESIGN §7): `--config`, else $QUARTERDECK_CONFIG, else
`quarterdeck.toml` in the working directory, else `quarterdeck/quarterdeck.toml` in the user's
config directory ($XDG_CONFIG_HOME, by default ~/.config). No file means the defaults.

```toml
operator = "dana.k"                        # who decides here (--operator wins; else login)

[store]
path = ".quarterdeck/quarterdeck.duckdb"   # --db and $QUARTERDECK_DB win over this
stale_after = "15m"                        # a running run with no event for this long is stale

[console]
read_only = false
refresh = "2s"                             # panes are queried again this often

[keys]                                     # remap any key by its binding id
"pane.filter" = "f"

[operators."dana.k"]
roles = ["operator", "finance-approver"]   # `operator`: pause, resume, rollback

[decisions]
journal = ".quarterdeck/decisions.jsonl"   # default: beside the store
outbox = "control-outbox.jsonl"            # default: beside the followed logs (or the store)

[serve]                                    # `quarterdeck serve`: one server per store
follow = ["runs/"]                         # logs it follows (and --follow PATH…)
evaluate_every = "5s"                      # the triggers are evaluated this often
socket_group = "ops"                       # the socket's group (mode 0660); default: the server's
outbox_group = "runners"                   # the outbox is readable by this group as well
max_connections = 512                      # clients' connections at once (more: refused, 503)
max_connections_per_user = 64              # per user (uid)
idle_timeout = "30s"                       # a connection that says nothing this long is closed

[workflows."invoice-posting"]              # publish authority (findings: queries.findings)
publishers = ["alice", "carol"]            # who may publish a version
approvers = ["bob", "dana"]                # who may approve a publish
min_approvals = 1
rollout_role = "release-manager"           # who may promote, roll back or pause its rollout

[[trigger]]                                # rollback triggers (metrics: queries.triggers)
name = "invoice-failures"
workflow = "invoice-posting"
metric = "failed_run_ratio"
window = "30m"
threshold = 0.2
min_runs = 5
on_trip = "pause"                          # or "rollback"; auto = true decides by itself
# version = "canary"                       # only the canary's runs; compare = "stable": minus
#                                          # the stable version's; on_trip = "rollback_version"

[[tool]]                                   # what an agent's tool does (traces: ingest.tools)
name = "charge_card"                       # the tool's name as traces give it
system = "payments"
object = "Charge"
action = "create"                          # read, create, update, delete or export
record_id = "customer_id"                  # the argument that names the record
```
"""

from __future__ import annotations

import getpass
import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from quarterdeck.ingest.models import SYSTEM_PATTERN
from quarterdeck.ingest.tools import ToolEffect, ToolMap
from quarterdeck.queries.decisions import Operator, Paths
from quarterdeck.queries.findings import DEFAULT_ROLLOUT_ROLE, PublishRule
from quarterdeck.queries.triggers import METRICS, Rule, valid_metric

ENV_CONFIG = "QUARTERDECK_CONFIG"
OUTBOX_NAME = "control-outbox.jsonl"
FILE_NAME = "quarterdeck.toml"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """`90`, `90s`, `15m`, `2h`, `7d` → seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration; write e.g. 90s, 15m, 2h or 7d")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0, allow_inf_nan=False)]


class ConfigError(Exception):
    """The config file is missing, unreadable or invalid; the message names the field."""


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(None, description="The store; --db and $QUARTERDECK_DB win.")
    stale_after: Seconds = Field(15 * 60, description="No event for this long: stale.")


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    read_only: bool = Field(False, description="Remove every decision action.")
    refresh: Seconds = Field(2, description="How often what is on screen is queried again.")
    evaluate_every: Seconds = Field(5, description="How often the triggers are evaluated.")


class OperatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str] = Field(default_factory=list, description="What this operator may do.")


class DecisionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    journal: str | None = Field(None, description="The decisions journal (JSON lines).")
    outbox: str | None = Field(None, description="The control outbox runners read.")


class ServeSettings(BaseModel):
    """`[serve]`: what `quarterdeck serve` follows and evaluates, and who may reach it."""

    model_config = ConfigDict(extra="forbid")

    follow: list[str] = Field(default_factory=list, description="Logs the server follows.")
    evaluate_every: Seconds = Field(5, description="How often the triggers are evaluated.")
    socket_group: str | None = Field(None, description="The socket's group (mode 0660).")
    outbox_group: str | None = Field(None, description="A group that may read the outbox.")
    ingest_limit_mib: int = Field(
        4096, gt=0, description="The most one `ingest` through the server may send (MiB)."
    )
    max_connections: int = Field(512, ge=1, description="Clients' connections open at once.")
    max_connections_per_user: int = Field(
        64, ge=1, description="Connections one user (uid) may have open at once."
    )
    idle_timeout: Seconds = Field(
        30, description="A connection saying nothing this long is closed."
    )


class WorkflowSettings(BaseModel):
    """`[workflows."W"]`: who may publish a version of W, who approves, who rolls it out."""

    model_config = ConfigDict(extra="forbid")

    publishers: list[str] | None = Field(None, description="Who may publish a version.")
    approvers: list[str] | None = Field(None, description="Who may approve a publish.")
    min_approvals: int = Field(1, ge=0, description="Approvals a publish needs.")
    rollout_role: str = Field(
        DEFAULT_ROLLOUT_ROLE,
        min_length=1,
        description="The role that may promote, roll back or pause a rollout.",
    )

    def rule(self, workflow: str) -> PublishRule:
        return PublishRule(
            workflow=workflow,
            publishers=tuple(self.publishers) if self.publishers is not None else None,
            approvers=tuple(self.approvers) if self.approvers is not None else None,
            min_approvals=self.min_approvals,
            rollout_role=self.rollout_role,
        )


class TriggerSettings(BaseModel):
    """One `[[trigger]]` rule (DESIGN §5; metrics defined in `queries.triggers`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    metric: str
    window: Seconds
    threshold: float
    workflow: str | None = None
    environment: str | None = None
    below: bool = False
    min_runs: int = Field(1, ge=0)
    on_trip: Literal["pause", "rollback", "rollback_version"] = "pause"
    auto: bool = False
    version: str | None = Field(
        None, min_length=1, description='Only this version\'s runs: "canary", "stable" or a name.'
    )
    compare: Literal["stable"] | None = Field(
        None, description='"stable": the value minus the stable version\'s.'
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if not valid_metric(value):
            raise ValueError(
                f"{value!r} is not a metric; one of {', '.join(METRICS)} or metric:NAME"
            )
        return value

    @model_validator(mode="after")
    def _versions_need_a_workflow(self) -> TriggerSettings:
        if self.version is not None and self.workflow is None:
            raise ValueError("version needs a workflow: a version is one workflow's")
        if self.compare is not None and self.version is None:
            raise ValueError('compare needs a version (e.g. version = "canary")')
        if self.on_trip == "rollback_version" and self.workflow is None:
            raise ValueError("on_trip = rollback_version needs a workflow (and its versions)")
        return self

    @model_validator(mode="after")
    def _auto_needs_a_workflow(self) -> TriggerSettings:
        if self.auto and self.workflow is None:
            raise ValueError(
                "auto = true needs a workflow: an automatic pause or rollback "
                "acts on one workflow's runs"
            )
        return self

    def rule(self) -> Rule:
        return Rule(
            name=self.name,
            metric=self.metric,
            window_s=self.window,
            threshold=self.threshold,
            workflow=self.workflow,
            environment=self.environment,
            below=self.below,
            min_runs=self.min_runs,
            on_trip=self.on_trip,
            auto=self.auto,
            version=self.version,
            compare=self.compare,
        )


class ToolSettings(BaseModel):
    """One `[[tool]]`: the touch each call of an agent's tool makes (`ingest.tools`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="The tool's name as traces give it.")
    system: str = Field(
        min_length=1,
        pattern=SYSTEM_PATTERN,
        description="As grants name it: no ':' and no white space (the touches' own rule).",
    )
    object: str = Field(min_length=1)
    action: Literal["read", "create", "update", "delete", "export"]
    record_id: str | None = Field(
        None, description="The argument that names the record (a bare value names it anyway)."
    )

    def effect(self) -> ToolEffect:
        return ToolEffect(self.system, self.object, self.action, self.record_id)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: str | None = Field(None, description="Who decides here; --operator wins.")
    operators: dict[str, OperatorSettings] = Field(
        default_factory=dict, description="Each operator's roles: [operators.NAME] roles = []."
    )
    decisions: DecisionSettings = DecisionSettings()
    trigger: list[TriggerSettings] = Field(
        default_factory=list, description="Rollback triggers: [[trigger]]."
    )
    tool: list[ToolSettings] = Field(
        default_factory=list, description="What agents' tools touch: [[tool]]."
    )
    workflows: dict[str, WorkflowSettings] = Field(
        default_factory=dict, description='Publish rules: [workflows."W"].'
    )
    store: StoreSettings = StoreSettings()
    console: ConsoleSettings = ConsoleSettings()
    serve: ServeSettings = ServeSettings()
    keys: dict[str, str] = Field(
        default_factory=dict,
        description='Remapped keys: binding id = key(s), e.g. `"pane.filter" = "f"`.',
    )
    source: str | None = Field(None, exclude=True, description="Where these came from.")

    @model_validator(mode="after")
    def _unique_trigger_names(self) -> Settings:
        seen: set[str] = set()
        for index, rule in enumerate(self.trigger):
            if rule.name in seen:
                raise ValueError(
                    f"trigger {index + 1} ({rule.name}): the name is used by another trigger"
                )
            seen.add(rule.name)
        tools: set[str] = set()
        for index, tool in enumerate(self.tool):
            if tool.name in tools:
                raise ValueError(f"tool {index + 1} ({tool.name}): the name is mapped twice")
            tools.add(tool.name)
        return self

    def rules(self) -> list[Rule]:
        return [t.rule() for t in self.trigger]

    def tool_map(self) -> ToolMap:
        return {t.name: t.effect() for t in self.tool}

    def publish_rules(self) -> tuple[PublishRule, ...]:
        return tuple(w.rule(name) for name, w in self.workflows.items())

    def rollout_roles(self) -> dict[str, str]:
        """Each configured workflow's rollout role (the others: `release-manager`)."""
        return {name: w.rollout_role for name, w in self.workflows.items()}


def operator(
    settings: Settings, explicit: str | None = None, *, read_only: bool = False
) -> Operator:
    """Who is deciding: `--operator`, else `operator` in the config, else the login name;
    with the roles the config gives that name."""
    name = explicit or settings.operator or _login_name()
    roles = settings.operators.get(name, OperatorSettings()).roles
    return Operator(name, frozenset(roles), read_only=read_only)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container, say)
        return f"uid-{os.getuid()}"


def decision_paths(settings: Settings, store: Path, followed: Sequence[Path | str] = ()) -> Paths:
    """The journal (default: beside the store) and the outbox (default: beside the first
    followed path, else beside the store)."""
    journal = Path(settings.decisions.journal or store.parent / "decisions.jsonl")
    if settings.decisions.outbox:
        outbox = Path(settings.decisions.outbox)
    elif followed:
        outbox = Path(followed[0]).resolve().parent / OUTBOX_NAME
    else:
        outbox = store.parent / OUTBOX_NAME
    return Paths(journal=journal, outbox=outbox)


def _where(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """`('trigger', 1, 'window')` → `trigger 2 (invoice-failures): window`."""
    if len(loc) >= 2 and loc[0] in ("trigger", "tool") and isinstance(loc[1], int):
        rules = data.get(loc[0]) or []
        name = (
            rules[loc[1]].get("name")
            if loc[1] < len(rules) and isinstance(rules[loc[1]], dict)
            else None
        )
        head = f"{loc[0]} {loc[1] + 1}" + (f" ({name})" if name else "")
        rest = ".".join(str(part) for part in loc[2:])
        return f"{head}: {rest}" if rest else head
    return ".".join(str(part) for part in loc) or "config"


def find(explicit: str | None, cwd: Path | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    local = (cwd or Path.cwd()) / FILE_NAME
    if local.is_file():
        return local
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    user = base / "quarterdeck" / FILE_NAME
    return user if user.is_file() else None


def load(explicit: str | None = None, cwd: Path | None = None) -> Settings:
    path = find(explicit, cwd)
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = _where(first["loc"], data)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown setting"
        raise ConfigError(f"{path}: {where}: {message}") from exc
    settings.source = str(path)
    return settings
