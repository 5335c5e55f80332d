"""The one resolution of a configuration: every entry point (the command line, the board builds,
the benchmarks, the experiments) calls :func:`resolve_config`, so that a dataset, a rule and a
list of overrides name the same :class:`~.config.Config` (and hash) everywhere.

Layers, each overriding the previous one:

1. :class:`~.config.Config` defaults, with ``layers`` and the dataset's overrides from its preset
   (``golden/presets.py``), or the layers of data that is no named dataset (``shape``);
2. a configuration file: a JSON object of Config fields, possibly partial (format fields may be
   partial too: ``{"weight": {"bits": 18}}``), or a results file whose ``"config"`` member is used;
3. ``settings`` (``--set key=value``, :func:`parse_setting`); ``key`` may name a format member,
   e.g. ``weight.bits``;
4. the rule, then the dataset's preset for that rule where neither the file nor the settings named
   the field; a preset's rate schedule is dropped when they name a learning rate but no schedule.

Integers given for real-valued fields (``tau``, ``threshold``, ...) are stored as floats, so that
``tau=20`` and ``tau=20.0`` name the same configuration (same hash).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from .config import Config, ConfigError
from .presets import dataset_fields, rule_fields, yield_schedule

__all__ = ["resolve_config", "parse_setting", "read_config_file"]


def parse_setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` (a ``--set`` item, here and in the benchmarks) as ``(key, value)``: VALUE is
    JSON if it parses, ``None`` for ``None``, else the raw string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, not {text!r}")
    if raw == "None":  # Python's spelling of null, e.g. --set rate_reg_shift=None
        return key, None
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


# --- configuration ----------------------------------------------------------------------------------
_FLOAT_FIELDS = {f.name for f in dataclasses.fields(Config) if f.type in ("float", float)}
_FIELD_NAMES = {f.name for f in dataclasses.fields(Config)}


def _merge(base: dict, changes: dict) -> None:
    """Update ``base`` in place; dict values (formats) are merged member by member."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value


def read_config_file(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"cannot read configuration file {path}: {error.strerror or error}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"configuration file {path} is not valid JSON: {error}") from None
    if isinstance(data, dict) and "config" not in _FIELD_NAMES and isinstance(data.get("config"), dict):
        data = data["config"]  # a results file of `train --json` or the output of `config`
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {path} must hold a JSON object of Config fields")
    return data


def resolve_config(dataset: str | None = None, *, hidden: int | None = None,
                   config_file: Path | None = None, settings=(), rule: str | None = None,
                   shape: tuple[int, int] | None = None) -> Config:
    """The configuration of a run (the layers of the module docstring): ``dataset`` by name and
    its ``hidden`` width, ``config_file``, ``settings`` (``(key, value)`` pairs), ``rule``.

    ``shape`` = (inputs, classes) sets the layers for data that is not a named dataset (an events
    file): ``(inputs, hidden or 64, classes)``.
    Raises :class:`ConfigError` for an invalid configuration, an unknown field or a bad file.
    """
    data = Config().to_dict()
    explicit = set()                     # fields the file or --set name: presets yield to them
    if dataset is not None:
        data.update(dataset_fields(dataset, hidden))
    elif shape is not None:
        data["layers"] = [shape[0], hidden if hidden is not None else data["layers"][1], shape[1]]
    elif hidden is not None:
        data["layers"] = [data["layers"][0], hidden, data["layers"][-1]]
    if config_file is not None:
        from_file = read_config_file(config_file)
        explicit |= set(from_file)
        _merge(data, from_file)
    for key, value in settings:
        top, dot, member = key.partition(".")
        explicit.add(top)
        if dot:
            if top in data and not isinstance(data[top], dict):
                raise ConfigError(f"--set {key}: {top} has no members (it is {data[top]!r})")
            _merge(data, {top: {member: value}})
        else:
            _merge(data, {key: value})
    if rule is not None:
        data["rule"] = rule
    if dataset is not None:
        for key, value in rule_fields(dataset, data["rule"]).items():
            if key not in explicit:
                data[key] = value
        yield_schedule(data, explicit)
    for name in _FLOAT_FIELDS & data.keys():
        if isinstance(data[name], int) and not isinstance(data[name], bool):
            data[name] = float(data[name])
    try:
        return Config.from_dict(data)
    except TypeError as error:  # e.g. a format with an unknown or missing member
        raise ConfigError(str(error)) from None
