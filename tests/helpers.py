"""Helpers shared by test modules (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def shipped_config() -> dict:
    """config/config.yaml as the workflow sees it: every setting it leaves out at its default
    (``rxrank.config.with_defaults``, as workflow/rules/common.smk merges them)."""
    from rxrank.config import with_defaults

    return with_defaults(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))


def demo_config() -> dict:
    """config/config.yaml with absolute resource paths and no key file (tests set the key env)."""
    config = shipped_config()
    for section in ("cohort", "reference"):
        for key, value in config[section].items():
            if isinstance(value, str) and value.startswith("resources/"):
                config[section][key] = str(ROOT / value)
    config.setdefault("privacy", {}).update(key_file=None, create_key=False)
    return config


def write_demo_config(tmp: Path, config: dict | None = None) -> Path:
    """Write ``config`` (default: :func:`demo_config`) to ``tmp/config.yaml``."""
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(demo_config() if config is None else config))
    return path


#: the pseudonymisation key of every test run: 256 bits, not secret
TEST_KEY = "5f2b9c4e8a1d7063" * 4


def small_demo_config(*, fast: bool = False, privacy: dict | None = None) -> dict:
    """config/config.yaml for a seeded small demo written into the run's folder (relative paths).

    ``fast`` trims survival to one Cox penalty, no bootstrap and one outcome model, for tests
    that run the workflow; ``privacy`` replaces the privacy section (default: pseudonymise with
    the key from the environment, no key file).
    """
    config = shipped_config()
    for section in ("cohort", "reference"):
        for key, value in config[section].items():
            if isinstance(value, str) and value.startswith("resources/"):
                config[section][key] = value.removeprefix("resources/")
    config["sensitivity"]["min_lines"] = 10
    if fast:
        config["survival"].update(n_bootstrap=0, penalizers=[0.1])
        config["survival"]["outcome"]["models"] = ["logistic_regression"]
    config["privacy"] = privacy or {"pseudonymize": True, "key_file": None}
    return config


def stage_process(root, stage: str):
    """The running ``rxrank <stage>`` process under ``root`` (a psutil.Process), or None."""
    import psutil

    try:
        children = root.children(recursive=True)
    except psutil.Error:
        return None
    for child in children:
        try:
            cmd = child.cmdline()
        except psutil.Error:
            continue
        if any(part.endswith("rxrank") for part in cmd[:2]) and stage in cmd:
            return child
    return None


def demo_sensitivity() -> dict:
    """The sensitivity settings the demo config sets (config/config.yaml says why each differs)."""
    return dict(yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["sensitivity"])
