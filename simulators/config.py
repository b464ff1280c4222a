"""Typed, JSON-serialisable configurations for systems and training runs.

Every configurable object in slsim is a frozen dataclass. Users override fields with
``KEY=VALUE`` strings (``slsim generate duffing --set sigma=0.5``); this module parses and
checks those strings so that a typo gives a one-line error instead of a silent default.
Field metadata ``help`` and ``unit`` feed ``--show-config`` and the docs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

C = TypeVar("C")


class ConfigError(ValueError):
    """A configuration value is missing, unknown, malformed or out of range (a user error)."""


def param(default: Any, help: str, unit: str = "") -> Any:
    """A dataclass field with a help text and a physical unit, for self-describing configs."""
    return dataclasses.field(default=default, metadata={"help": help, "unit": unit})


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _parse_value(text: str, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if text.lower() in ("none", "null"):
            return None
        annotation = args[0]
        origin = typing.get_origin(annotation)
    if origin is tuple:
        (item_type, *_rest) = typing.get_args(annotation)
        parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
        return tuple(_parse_value(p.strip(), item_type, key) for p in parts)
    try:
        if annotation is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if annotation is int:
            return int(text)
        if annotation is float:
            return float(text)
        if annotation is str:
            return text
    except ValueError:
        raise ConfigError(
            f"parameter '{key}' expects {annotation.__name__}, got {text!r}"
        ) from None
    raise ConfigError(f"parameter '{key}' has an unsupported type {annotation!r}")


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """Turn ``["a=1", "b=x"]`` into ``{"a": "1", "b": "x"}`` with clear errors."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def build_config(cls: type[C], overrides: Mapping[str, Any] | None = None) -> C:
    """Instantiate ``cls`` with string or typed overrides, then run its ``validate`` method."""
    types_ = _field_types(cls)
    kwargs: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key not in types_:
            known = ", ".join(sorted(types_))
            raise ConfigError(f"unknown parameter '{key}' (known: {known})")
        kwargs[key] = _parse_value(value, types_[key], key) if isinstance(value, str) else value
    config = cls(**kwargs)
    _require_finite(config)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def _require_finite(config: Any) -> None:
    """Refuse NaN and ±inf in any float parameter (they would silently give NaN data)."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        values = value if isinstance(value, tuple) else (value,)
        for item in values:
            if isinstance(item, float) and not math.isfinite(item):
                raise ConfigError(f"parameter '{f.name}' must be a finite number, got {value}")


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain dict of a config (tuples become lists so that JSON round-trips)."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(config).items()
    }


def config_to_json(config: Any) -> str:
    return json.dumps(config_to_dict(config), sort_keys=True)


def config_from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """Rebuild a config stored in a file; unknown keys are an error (wrong system or version)."""
    types_ = _field_types(cls)
    converted = {
        key: tuple(value) if isinstance(value, list) and key in types_ else value
        for key, value in data.items()
    }
    return build_config(cls, converted)


def describe_config(config: Any) -> list[tuple[str, str, str, str]]:
    """Rows ``(name, value, unit, help)`` for printing a config."""
    rows = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        rows.append((f.name, repr(value), f.metadata.get("unit", ""), f.metadata.get("help", "")))
    return rows


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)
