"""Command-line options mapped onto the dataclasses they configure, written once for every command.

`add_option` declares a flag whose destination is a dataclass field (default and type from the field);
`options_from_args` builds the dataclass from the parsed arguments that carry its field names."""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from typing import Any, TypeVar

T = TypeVar("T")

_SCALARS = (int, float, str)


def finite_float(text: str) -> float:
    """A number argparse accepts: `inf` and `nan` parse as floats but no rate, duration or wait is either."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def add_option(parser: argparse.ArgumentParser, flag: str, cls: type[Any], name: str = "", **kwargs: Any) -> None:
    """Add `--flag` setting field `name` of dataclass `cls` (by default the flag's own name, `--batch-size` ->
    `batch_size`). Unless given: the default is the field's (a field without one makes the flag required), the
    type the field's annotation, and the metavar the flag's name as argparse would show it."""
    stem = flag.removeprefix("--").replace("-", "_")
    field = _field(cls, name or stem)
    if "default" not in kwargs and "required" not in kwargs:
        if field.default is not dataclasses.MISSING:
            kwargs["default"] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            kwargs["default"] = field.default_factory()
        else:
            kwargs["required"] = True
    annotation = typing.get_type_hints(cls).get(field.name)
    if "action" not in kwargs:
        if "type" not in kwargs and annotation in _SCALARS and annotation is not str:
            kwargs["type"] = finite_float if annotation is float else annotation
        kwargs.setdefault("metavar", stem.upper())
    parser.add_argument(flag, dest=field.name, **kwargs)


def options_from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """`cls(**fields found in args, **overrides)`; fields the command has no flag for keep their defaults."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.init and hasattr(args, f.name)}
    return cls(**{**values, **overrides})


def _field(cls: type[Any], name: str) -> dataclasses.Field[Any]:
    for field in dataclasses.fields(cls):
        if field.name == name:
            return field
    raise AttributeError(f"{cls.__name__} has no field {name!r}")
