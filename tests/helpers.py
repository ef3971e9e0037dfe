"""Helpers shared by test modules (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def demo_config() -> dict:
    """config/config.yaml with absolute resource paths and no key file (tests set the key env)."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
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
