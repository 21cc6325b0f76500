"""Checking a composed config against a schema, before anything is built.

A schema is a nested dict: key -> `Spec` (a leaf: what values are accepted),
key -> dict (a section whose keys are checked in turn), or key -> `FREE_FORM`
(a section whose content is passed on unchecked, e.g. `gymnasium.make` kwargs).
Every problem becomes one line `<full.key.path>=<value>: expected <what>`, so a
user sees all of them at once, each naming its key.

This module imports neither torch nor rl_games: a bad config fails in about a
second, not after the ten seconds those imports take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from omegaconf import DictConfig, ListConfig, OmegaConf

Schema = Mapping[str, Any]


class ConfigError(ValueError):
    """One or more config values are wrong; `problems` holds one line per key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Spec:
    accepted: str
    ok: Callable[[Any], bool]


class _FreeForm:
    def __repr__(self) -> str:
        return "FREE_FORM"


FREE_FORM = _FreeForm()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number(low: float | None = None, high: float | None = None, low_open: bool = False) -> Spec:
    """A number in [low, high] (or (low, high] with `low_open`); ints are accepted."""
    if low is None and high is None:
        accepted = "a number"
    elif high is None:
        accepted = f"a number {'>' if low_open else '>='} {low:g}"
    elif low is None:
        accepted = f"a number <= {high:g}"
    else:
        accepted = f"a number in {'(' if low_open else '['}{low:g}, {high:g}]"

    def ok(value: Any) -> bool:
        if not _is_number(value) or value != value:
            return False
        if low is not None and (value <= low if low_open else value < low):
            return False
        return high is None or value <= high

    return Spec(accepted, ok)


def integer(low: int | None = None) -> Spec:
    accepted = "an integer" if low is None else ("a positive integer" if low == 1 else f"an integer >= {low}")
    return Spec(accepted, lambda value: _is_int(value) and (low is None or value >= low))


BOOLEAN = Spec("True or False", lambda value: isinstance(value, bool))
STRING = Spec("a string", lambda value: isinstance(value, str))
ANYTHING = Spec("anything", lambda value: True)


def choice(*options: Any) -> Spec:
    shown = ", ".join(str(option) for option in options)
    return Spec(f"one of {shown}", lambda value: any(value == o and type(value) is type(o) for o in options))


def optional(spec: Spec, empty: str = "empty") -> Spec:
    """`spec`, or None / '' (a key left empty)."""
    return Spec(f"{spec.accepted}, or {empty}", lambda value: value in (None, "") or spec.ok(value))


def either(*specs: Spec) -> Spec:
    return Spec(" or ".join(spec.accepted for spec in specs), lambda value: any(spec.ok(value) for spec in specs))


def list_of(item: Spec) -> Spec:
    return Spec(
        f"a list of {item.accepted.removeprefix('a ').removeprefix('an ')}s",
        lambda value: isinstance(value, (list, tuple)) and all(item.ok(element) for element in value),
    )


def infer(default: Any) -> Any:
    """The schema a shipped default implies: its type (ints for ints, any number for floats), its keys."""
    if isinstance(default, Mapping):
        return {key: infer(value) for key, value in default.items()}
    if isinstance(default, bool):
        return BOOLEAN
    if _is_int(default):
        return integer()
    if isinstance(default, float):
        return number()
    if isinstance(default, str):
        return STRING
    if isinstance(default, (list, tuple)):
        if default and all(_is_number(element) for element in default):
            return list_of(number())
        if default and all(isinstance(element, str) for element in default):
            return list_of(STRING)
        return Spec("a list", lambda value: isinstance(value, (list, tuple)))
    return ANYTHING  # a null default says nothing about the type


def merge(base: Any, override: Any) -> Any:
    """`override` laid over `base`: sections merge key by key, leaves of `override` win."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return override


def _show(value: Any) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=False)
    return "null" if value is None else str(value)


def check(node: DictConfig, schema: Schema, path: str, problems: list[str], skip: Callable[[str], bool] = lambda p: False) -> None:
    """Append to `problems` one line per key of `node` that `schema` does not accept.

    A value that cannot be resolved (an interpolation over a wrong value, say)
    is reported only when nothing else was: the wrong value it depends on is
    the line the user needs.
    """
    unresolved: list[str] = []
    _check(node, schema, path, problems, unresolved, skip)
    if not problems:
        problems.extend(unresolved)


def _check(node: DictConfig, schema: Schema, path: str, problems: list[str], unresolved: list[str], skip) -> None:
    for key in node.keys():
        full = f"{path}.{key}" if path else str(key)
        if skip(full):
            continue
        spec = schema.get(key)
        try:
            value = node[key]
        except Exception as error:  # an interpolation that fails to resolve
            raw = OmegaConf.to_container(node, resolve=False).get(key)
            unresolved.append(f"{full}={_show(raw)}: could not be resolved ({error.__class__.__name__}: {error})".split("\n")[0])
            continue
        if spec is None:
            known = ", ".join(sorted(str(k) for k in schema)) or "no keys"
            problems.append(f"{full}={_show(value)}: unknown key; {path or 'the top level'} accepts {known}")
        elif spec is FREE_FORM:
            continue
        elif isinstance(spec, Mapping):
            if isinstance(value, DictConfig):
                _check(value, spec, full, problems, unresolved, skip)
            else:
                problems.append(f"{full}={_show(value)}: expected a section with keys {', '.join(sorted(spec))}")
        else:
            plain = OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value
            if not spec.ok(plain):
                problems.append(f"{full}={_show(value)}: expected {spec.accepted}")
