"""Defaults live in the params dataclasses of rxrank.config: the schema states types and ranges
only (no default), and the schema's keys are the dataclasses' fields, both ways.

Not yet checked (issue 20): that config/config.yaml restates no default; it still lists every
setting as documentation, and survival, outcome, check and cli still read some with .get(...).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rxrank import cli
from rxrank.check import schema
from rxrank.config import (
    SECTIONS,
    WEIGHTS,
    Params,
    RankingParams,
    SensitivityParams,
    SurvivalParams,
    defaults,
    section_params,
)
from rxrank.errors import RxrankInputError
from rxrank.ranking import COMPONENTS

ROOT = Path(__file__).resolve().parents[1]


def _walk(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, i))


def test_the_schema_holds_no_default():
    found = [".".join(map(str, p)) for p, key, _ in _walk(schema()) if key == "default"]
    assert not found, f"defaults belong in rxrank.config, not the schema: {found}"


def _object_properties(node: dict) -> dict:
    return node.get("properties", {})


def _compare(cls: type[Params], node: dict, where: str) -> None:
    props = _object_properties(node)
    names = {f for f in cls.__dataclass_fields__}
    assert set(props) == names, (where, set(props) ^ names)
    defaults_ = cls()
    for name, prop in props.items():
        value = getattr(defaults_, name)
        if isinstance(value, Params):
            _compare(type(value), prop, f"{where}.{name}")


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_schema_keys_are_the_params_fields(section):
    node = schema()["properties"][section]
    _compare(SECTIONS[section], node, section)
    if section == "cohort":  # a nullable block (None by default): its own keys too
        from rxrank.config import SingleCellParams

        _compare(SingleCellParams, node["properties"]["single_cell"], "cohort.single_cell")


def test_weights_cover_every_ranking_component():
    assert set(WEIGHTS) == set(COMPONENTS)
    assert set(schema()["properties"]["ranking"]["properties"]["weights"]["properties"]) == set(
        COMPONENTS
    )


def test_the_shipped_config_is_valid_and_complete_with_defaults():
    import jsonschema

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    jsonschema.validate(config, schema())
    jsonschema.validate(
        defaults() | {"cohort": config["cohort"], "reference": config["reference"]}, schema()
    )


def test_params_from_config_fill_defaults_and_refuse_unknown_keys():
    p = section_params({"sensitivity": {"min_lines": 7}}, "sensitivity")
    assert p.min_lines == 7 and p.model == SensitivityParams().model
    s = SurvivalParams.from_config({"outcome": {"column": None}})
    assert s.outcome.column is None and s.outcome.cv_folds == 5
    assert RankingParams.from_config({"weights": {"target": 2.0}}).weights["survival"] == 0.5
    with pytest.raises(RxrankInputError, match="min_line.*did you mean 'min_lines'"):
        SensitivityParams.from_config({"min_line": 7})


def test_defaults_command_prints_every_setting(capsys):
    assert cli.main(["defaults"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed == defaults()
    assert printed["sensitivity"]["min_lines"] == SensitivityParams().min_lines
