"""Pseudonymisation of patient identifiers and provenance records for outputs."""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import logging
import os
import platform
from importlib import metadata
from pathlib import Path

__all__ = ["config_hash", "file_sha256", "provenance", "pseudonym", "pseudonyms"]

log = logging.getLogger(__name__)

KEY_ENV = "RXRANK_PSEUDONYM_KEY"
LIBRARIES = (
    "numpy",
    "pandas",
    "anndata",
    "scanpy",
    "scikit-learn",
    "lifelines",
    "snakemake",
    "jinja2",
)


def _key(salt: str | None) -> bytes:
    key = os.environ.get(KEY_ENV) or salt
    if not key:
        raise ValueError(
            f"no pseudonymisation key: set the environment variable {KEY_ENV} "
            "or privacy.pseudonym_salt in the config"
        )
    return key.encode()


def pseudonym(patient_id: str, *, salt: str | None = None) -> str:
    """Stable pseudonym ``RX-xxxxxxxx`` (keyed HMAC-SHA256, so IDs cannot be recovered by guessing)."""
    digest = hmac.new(_key(salt), str(patient_id).encode(), hashlib.sha256).hexdigest()
    return f"RX-{digest[:8]}"


def pseudonyms(patient_ids, *, salt: str | None = None) -> dict[str, str]:
    """Pseudonyms for many patients; refuses a collision instead of silently merging two patients."""
    out = {str(p): pseudonym(p, salt=salt) for p in patient_ids}
    if len(set(out.values())) != len(out):
        raise ValueError("pseudonym collision: choose another pseudonymisation key")
    return out


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def config_hash(config: dict) -> str:
    """SHA-256 of the config in canonical JSON (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance(config: dict, inputs: dict[str, str | Path]) -> dict:
    """What a result was built from: versions, config hash, input checksums (no patient data)."""
    return {
        "rxrank_version": _version("rxrank"),
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "config_hash": config_hash(config),
        "input_checksums": {
            f"{name} ({Path(p).name})": file_sha256(p) for name, p in inputs.items()
        },
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
