"""Project configuration: `[tool.tokentag]` in pyproject.toml, or `.tokentag.toml`.

Both files live at the top of the worktree. When both set a key, `.tokentag.toml` wins
(per model for prices). `tokentag config set` writes `.tokentag.toml` only: tomli-w
would rewrite pyproject.toml without its comments and layout, and that file is the
user's, not ours.

    notes_file = "CHANGELOG.md"      # where `tokentag release` writes (default RELEASE_NOTES.md)
    tag_pattern = "v*"               # which tags are releases (a git glob; default all)
    task_pattern = "PROJ-[0-9]+"     # work-item ids in branch names and commit messages, a
                                     # Python regex (its first group, if any, is the id);
                                     # default: `ABC-123`, `#123`, `gh-123`
    compact_notes = true             # one table line and a details block (default false)
    commit_url = "https://git.example.com/team/app/commit/{commit}"
                                     # commit links in the notes (default: from the
                                     # origin remote on GitHub or GitLab; "" for none)
    [prices."my-proxy-model"]        # USD per million tokens, see pricing.PriceOverride
    input_mtok = 2.0
    output_mtok = 8.0
    [budgets.release]                # `tokentag check` fails past these (watch.budgets):
    usd = 50                         # release, branch, day and commit; usd, tokens or both
    [budgets.day]
    tokens = 20_000_000
    [spikes]                         # flagged: costing more than `factor` times the median
    factor = 3.0                     # of the `window` commits, days or sessions before
    window = 10                      # (report.spikes)
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from tokentag.core.config_files import OWN_FILE, PYPROJECT
from tokentag.core.errors import TokentagError
from tokentag.core.fileio import relative_name
from tokentag.report import spikes
from tokentag.report.pricing import PriceOverride
from tokentag.report.workitems import DEFAULT_TASK_PATTERN
from tokentag.setup import toml_edit
from tokentag.watch.limits import Budgets, Limit

if TYPE_CHECKING:
    from _typeshed import StrPath

DEFAULT_NOTES_FILE = "RELEASE_NOTES.md"


class SpikeSettings(BaseModel):
    """`[spikes]`, validated; `rule()` is what report.spikes measures with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    factor: float = Field(default=spikes.SpikeRule.factor, gt=1)
    window: int = Field(default=spikes.SpikeRule.window, ge=spikes.MIN_HISTORY)

    def rule(self) -> spikes.SpikeRule:
        return spikes.SpikeRule(self.factor, self.window)


class Config(BaseModel):
    """The validated settings; unknown keys are errors so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notes_file: str = Field(default=DEFAULT_NOTES_FILE, min_length=1)
    tag_pattern: str | None = Field(default=None, min_length=1)
    task_pattern: str = Field(default=DEFAULT_TASK_PATTERN, min_length=1)
    compact_notes: bool = False
    commit_url: str | None = None
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    budgets: Budgets = Field(default_factory=Budgets)
    spikes: SpikeSettings = Field(default_factory=SpikeSettings)
    # Models whose price is set only in part (input without output, say), with what each
    # lacks: unpriced until whole, and reported by `doctor`, rather than failing every
    # report meanwhile.
    _incomplete_prices: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    @property
    def incomplete_prices(self) -> dict[str, list[str]]:
        return self._incomplete_prices

    @field_validator("task_pattern")
    @classmethod
    def _a_regular_expression(cls, value: str) -> str:
        import regex  # what reports search with (see report.workitems)

        try:
            regex.compile(value)
        except regex.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return value

    @field_validator("notes_file")
    @classmethod
    def _inside_the_worktree(cls, value: str) -> str:
        # A cloned repository's settings must not point tokentag's writes elsewhere.
        relative_name(value, "notes_file")
        return value

    @field_validator("commit_url")
    @classmethod
    def _a_web_link(cls, value: str | None) -> str | None:
        if value and (not value.lower().startswith(("https://", "http://"))
                      or "{commit}" not in value):
            raise ValueError("must be an https:// (or http://) URL with {commit} in it, "
                             "or \"\" for no links")
        return value


def load(top: StrPath) -> Config:
    """The configuration of the worktree at `top`; defaults when neither file exists."""
    merged: dict[str, Any] = {}
    sources: list[str] = []
    project = _read_toml(Path(top, PYPROJECT)).get("tool", {})
    section = project.get("tokentag") if isinstance(project, dict) else None
    if section is not None:
        _check_table(section, f"{PYPROJECT} [tool.tokentag]")
        _merge(merged, section)
        sources.append(f"{PYPROJECT} [tool.tokentag]")
    own = _read_toml(Path(top, OWN_FILE))
    if own:
        _merge(merged, own)
        sources.append(OWN_FILE)
    incomplete = _set_aside_incomplete_prices(merged)
    config = _validate(merged, " and ".join(sources) or "defaults")
    config._incomplete_prices = incomplete
    return config


def _set_aside_incomplete_prices(merged: dict[str, Any]) -> dict[str, list[str]]:
    """Take out of `merged` the price tables that lack a required field; return what each
    lacks."""
    prices = merged.get("prices")
    if not isinstance(prices, dict):
        return {}
    required = [name for name, field in PriceOverride.model_fields.items()
                if field.is_required()]
    incomplete = {model: [name for name in required if name not in table]
                  for model, table in prices.items() if isinstance(table, dict)}
    incomplete = {model: missing for model, missing in incomplete.items() if missing}
    for model in incomplete:
        del prices[model]
    return incomplete


def _read_toml(path: Path) -> dict[str, Any]:
    from tokentag.core.fileio import read_limited

    try:
        return tomllib.loads(read_limited(path).decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TokentagError(f"malformed config {path.name}: {error}") from None
    except OSError as error:
        raise TokentagError(f"cannot read config {path}: {error.strerror}") from None


def _check_table(value: object, where: str) -> None:
    if not isinstance(value, dict):
        raise TokentagError(f"malformed config {where}: expected a table")


def _merge(into: dict[str, Any], layer: dict[str, Any]) -> None:
    """Later layers win per key; price tables merge per model, not wholesale."""
    for key, value in layer.items():
        if key == "prices" and isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = {**into[key], **value}
        else:
            into[key] = value


def _validate(data: dict[str, Any], where: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        raise _config_error(error.errors()[0], where) from None


def _config_error(first: Any, where: str) -> TokentagError:
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return TokentagError(f"malformed config in {where}: {key}: {first['msg']}")


# -- `tokentag config set/unset` ---------------------------------------------------

_STRING_KEYS = ("notes_file", "tag_pattern", "task_pattern", "commit_url")
_BOOLEAN_KEYS = ("compact_notes",)
_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True,
             "false": False, "no": False, "off": False, "0": False}
_PRICE_FIELDS = tuple(PriceOverride.model_fields)
_BUDGET_SCOPES = tuple(Budgets.model_fields)
_LIMIT_FIELDS = tuple(Limit.model_fields)
_SPIKE_FIELDS = tuple(SpikeSettings.model_fields)
_NUMBER_KEYS = ("prices.", "budgets.", "spikes.")


def set_value(top: StrPath, key: str, text: str) -> tuple[Path, list[str]]:
    """Set `key` (one of _STRING_KEYS or _BOOLEAN_KEYS, or `prices.<model>.<field>`)
    in .tokentag.toml, keeping the file's comments and layout. Returns the file and the keys
    still missing (a price needs input and output)."""
    data = _read_toml(Path(top, OWN_FILE))
    path, value = _parse_key(key), _parse_value(key, text)
    table = data
    for part in path[:-1]:
        table = table.setdefault(part, {})
        _check_table(table, f"{OWN_FILE} {part}")
    table[path[-1]] = value
    return _save(top, data, lambda old: toml_edit.set_key(old, path, value))


def unset_value(top: StrPath, key: str) -> Path:
    """Remove `key` from .tokentag.toml (an emptied model table goes too)."""
    data = _read_toml(Path(top, OWN_FILE))
    path = _parse_key(key)
    tables = [data]
    for part in path[:-1]:
        child = tables[-1].get(part)
        if not isinstance(child, dict):
            raise TokentagError(f"{key} is not set in {OWN_FILE}")
        tables.append(child)
    if tables[-1].pop(path[-1], None) is None:
        raise TokentagError(f"{key} is not set in {OWN_FILE}")
    for parent, child, name in reversed(list(zip(tables, tables[1:], path, strict=False))):
        if not child:
            del parent[name]
    return _save(top, data, lambda old: toml_edit.remove_key(old, path))[0]


def _parse_key(key: str) -> list[str]:
    if key in (*_STRING_KEYS, *_BOOLEAN_KEYS):
        return [key]
    head, _, rest = key.partition(".")
    model, _, field = rest.rpartition(".")
    if head == "prices" and model and field in _PRICE_FIELDS:
        return ["prices", model, field]  # model names contain dots: the field is the last part
    if head == "budgets" and model in _BUDGET_SCOPES and field in _LIMIT_FIELDS:
        return ["budgets", model, field]
    if head == "spikes" and rest in _SPIKE_FIELDS:
        return ["spikes", rest]
    raise TokentagError(f"unknown config key {key!r}: use "
                        f"{', '.join((*_STRING_KEYS, *_BOOLEAN_KEYS))}, "
                        f"prices.<model>.<{'|'.join(_PRICE_FIELDS)}>, "
                        f"budgets.<{'|'.join(_BUDGET_SCOPES)}>.<{'|'.join(_LIMIT_FIELDS)}> "
                        f"or spikes.<{'|'.join(_SPIKE_FIELDS)}>")


def _parse_value(key: str, text: str) -> str | int | float | bool:
    if key in _BOOLEAN_KEYS:
        if text.strip().lower() not in _BOOLEANS:
            raise TokentagError(f"config {key} is true or false, not {text!r}")
        return _BOOLEANS[text.strip().lower()]
    if not key.startswith(_NUMBER_KEYS):
        return text
    try:
        number = float(text)
    except ValueError:
        what = " of USD per million tokens" if key.startswith("prices.") else ""
        raise TokentagError(f"config {key} must be a number{what}, not {text!r}") from None
    return int(number) if number.is_integer() else number


def _save(top: StrPath, data: dict[str, Any],
          edit: Callable[[str], str]) -> tuple[Path, list[str]]:
    """Validate the would-be file before it replaces the old one: a bad value never lands.
    Missing keys are allowed, so a price's fields can be set one command at a time. The
    file is edited line by line when it can be, else written anew from `data`."""
    from tokentag.core.fileio import inside, write_atomic

    path = Path(top, OWN_FILE)
    inside(top, OWN_FILE, "config file")  # a link must not lead the write out of the repository
    try:
        Config.model_validate(data)
        missing = []
    except ValidationError as error:
        wrong = [e for e in error.errors() if e["type"] != "missing"]
        if wrong:
            raise _config_error(wrong[0], OWN_FILE) from None
        missing = [".".join(str(p) for p in e["loc"]) for e in error.errors()]
    write_atomic(path, _edited(path, data, edit).encode())
    return path, missing


def _edited(path: Path, data: dict[str, Any], edit: Callable[[str], str]) -> str:
    try:
        old = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = ""
    except (OSError, UnicodeDecodeError) as error:
        raise TokentagError(f"cannot read config {path}: {error}") from None
    try:
        return edit(old)
    except toml_edit.CannotEdit:
        return tomli_w.dumps(data)


def effective(top: StrPath) -> dict[str, Any]:
    """The configuration in force, as plain JSON-able data."""
    plain: dict[str, Any] = _plain(load(top).model_dump())
    return plain


def _plain(value: Any) -> Any:
    """Decimals as JSON numbers, None left out: what a TOML or JSON dump can hold."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def as_toml(data: dict[str, Any]) -> str:
    return tomli_w.dumps(data)
