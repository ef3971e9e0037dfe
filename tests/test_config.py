"""Defaults live in the params dataclasses of rxrank.config and nowhere else: the schema states
types and ranges only (no default), and the schema's keys are the dataclasses' fields, both ways;
config/config.yaml holds the demo's data paths and what the demo sets differently from the
defaults, nothing it would get anyway; and no module of rxrank restates a setting's default in a
``.get("setting", default)`` (read from the source with ``ast``). The cli's survival and outcome
commands are the last to convert (issue 20): their restated defaults are an expected failure until
they are.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from rxrank import cli
from rxrank.check import INPUT_KEYS, schema
from rxrank.config import (
    SECTIONS,
    WEIGHTS,
    CohortParams,
    Params,
    RankingParams,
    SensitivityParams,
    SurvivalParams,
    defaults,
    section_params,
    survival_settings,
    with_defaults,
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


# ---- config/config.yaml: the demo's data and what it sets differently, no default restated

#: the demo's input files: set because they are the demo, whatever the defaults say
DATA_PATHS = {f"{section}.{key}" for section, key in INPUT_KEYS}
_ABSENT = object()


def _leaves(node: dict, path: tuple[str, ...] = ()):
    for key, value in node.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*path, key))
        else:
            yield (*path, key), value


def _default_at(path: tuple[str, ...]):
    node = defaults()
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return _ABSENT  # e.g. a block under a setting whose default is null
        node = node[key]
    return node


def test_the_shipped_config_restates_no_default():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    restated = [
        f"{'.'.join(path)}: {value!r}"
        for path, value in _leaves(config)
        if ".".join(path) not in DATA_PATHS and _default_at(path) == value
    ]
    assert not restated, (
        f"config/config.yaml sets these to their defaults (rxrank.config); leave them out: "
        f"{restated}"
    )
    # every data path the demo has (it brings a MAF, not a table of calls)
    assert {f"{s}.{k}" for s, k in INPUT_KEYS if config[s].get(k)} == DATA_PATHS - {"cohort.calls"}


def test_with_defaults_fills_every_setting_and_the_config_wins():
    config = {
        "cohort": {"clinical": "c.tsv", "covariates": ["age"], "single_cell": {"samples": "s"}},
        "ranking": {"weights": {"target": 2.0}},
        "survival": {"outcome": None},
    }
    merged = with_defaults(config)
    assert merged["cohort"]["covariates"] == ["age"] and merged["cohort"]["clinical"] == "c.tsv"
    assert merged["cohort"]["id_column"] == CohortParams().id_column
    assert merged["cohort"]["single_cell"] == {"samples": "s"}  # a block whose default is null
    assert merged["ranking"]["weights"] == {**WEIGHTS, "target": 2.0}
    assert merged["survival"]["outcome"] is None and merged["survival"]["seed"] == 0
    assert set(merged) == set(defaults()) and config["cohort"] == {
        "clinical": "c.tsv", "covariates": ["age"], "single_cell": {"samples": "s"}
    }  # fmt: skip
    assert with_defaults({}) == defaults()
    shipped = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    full = with_defaults(shipped)
    for section, cls in SECTIONS.items():  # every section reads back to the same params
        assert (
            cls.from_config(full[section]).to_dict() == section_params(shipped, section).to_dict()
        )


def test_survival_settings_split_the_cohort_keys_the_cli_mixes_in():
    surv, cohort, extra = survival_settings(
        {"seed": 3, "time_column": "t", "covariates": ["age"], "categorical": ["grade"]},
        {"time_column": "os", "event_column": "dead"},
        extras=("categorical",),
    )
    assert surv == SurvivalParams(seed=3) and extra == {"categorical": ["grade"]}
    assert (cohort.time_column, cohort.event_column, cohort.covariates) == ("t", "dead", ["age"])
    typed = survival_settings(SurvivalParams(seed=3), CohortParams(time_column="t"))
    assert typed[0] == surv and typed[1].time_column == "t"
    with pytest.raises(RxrankInputError, match="did you mean 'features'"):
        survival_settings({"featurs": []})


# ---- the source: no module restates a setting's default

SRC = ROOT / "src" / "rxrank"


def _params_classes(cls: type = Params) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_params_classes(sub)}
    return out


#: every setting's name, in any section
SETTINGS = {name for cls in _params_classes() for name in cls.__dataclass_fields__}
#: (module, key) -> why its ``.get(key, default)`` is not the default of a config setting
NOT_SETTINGS: dict[tuple[str, str], str] = {}


def restated_defaults(path: Path, module: str | None = None) -> list[str]:
    """``.get("<setting>", <default>)`` calls in ``path`` whose default is not None."""
    found = []
    module = module or path.relative_to(SRC).as_posix()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and len(node.args) == 2
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in SETTINGS
        ):
            continue
        default = node.args[1]
        if isinstance(default, ast.Constant) and default.value is None:
            continue
        if (module, node.args[0].value) in NOT_SETTINGS:
            continue
        found.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_scan_finds_a_restated_default(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        'def f(p, q):\n    return p.get("min_lines", 20), q.get("min_lines"), '
        'q.get("not_a_setting", 1), p.get("seed", q.seed)\n'
    )
    assert restated_defaults(sample, "sample.py") == [
        "sample.py:2: p.get('min_lines', 20)",
        "sample.py:2: p.get('seed', q.seed)",
    ]


def test_no_module_restates_a_default():
    found = [hit for path in sorted(SRC.rglob("*.py")) for hit in restated_defaults(path)]
    assert not found, (
        "defaults belong in rxrank.config: read the section's params (XParams.from_config / "
        f"section_params) instead of .get(key, default): {found}"
    )


def test_a_setting_whose_default_is_none_may_be_null_unless_required():
    """The workflow validates the config with every default merged in, so a setting whose default
    is None must accept null (the single-cell input leaves cohort.expression unset)."""
    from dataclasses import fields

    from rxrank.config import SingleCellParams

    def nullable(prop: dict) -> bool:
        kind = prop.get("type")
        return kind == "null" or (isinstance(kind, list) and "null" in kind)

    problems = []

    def walk(cls, node, where):
        instance = cls()
        for f in fields(cls):
            prop = node.get("properties", {}).get(f.name, {})
            value = getattr(instance, f.name)
            if isinstance(value, Params):
                walk(type(value), prop, f"{where}.{f.name}")
            elif value is None and f.name not in node.get("required", []) and not nullable(prop):
                problems.append(f"{where}.{f.name}")

    for section, cls in SECTIONS.items():
        walk(cls, schema()["properties"][section], section)
    walk(SingleCellParams, schema()["properties"]["cohort"]["properties"]["single_cell"], "sc")
    assert not problems, problems


def test_version_is_printed(capsys):
    from rxrank import __version__

    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"rxrank {__version__}"
