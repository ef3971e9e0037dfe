"""Pseudonymisation of patient identifiers, and provenance records that carry no patient data.

With ``privacy.pseudonymize: true`` every patient ID is replaced, as soon as it is read, by a keyed
HMAC-SHA256 pseudonym (``RX-`` + 12 hex digits), so no original ID reaches any output. The key comes
from an environment variable or a key file outside the repository; it is never written to outputs.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import logging
import os
import platform
import re
import secrets
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

import pandas as pd

from .config import PrivacyParams
from .io import RxrankInputError, atomic_path, file_sha256

__all__ = [
    "config_hash",
    "file_sha256",
    "load_key",
    "load_secret",
    "provenance",
    "pseudonym",
    "pseudonym_map",
    "refuse_inside",
    "secret_bits",
    "require_strong_secret",
    "write_mapping",
]

log = logging.getLogger(__name__)

KEY_ENV = PrivacyParams.key_env  # the config's default
MIN_SECRET_BITS = 128
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


def secret_bits(secret: bytes) -> float:
    """A generous upper bound on the bits a secret carries: length x log2(its alphabet's size).

    Hex digits count 4 bits each, base64/alphanumeric text 6, other text 6.5 and arbitrary
    bytes 8; a secret of fewer than 8 distinct characters counts as its distinct characters only.
    """
    if not secret:
        return 0.0
    text = secret.decode("utf-8", errors="replace")
    if len(set(text)) < 8:
        return len(set(text)) * 4.0
    if re.fullmatch(r"[0-9a-fA-F]+", text):
        per = 4.0
    elif re.fullmatch(r"[A-Za-z0-9+/=_-]+", text):
        per = 6.0
    elif text.isprintable():
        per = 6.5
    else:
        per = 8.0
    return len(text) * per


def require_strong_secret(secret: bytes, what: str) -> bytes:
    """Refuse a secret of fewer than 128 bits: short keys are reversed by hashing guesses."""
    bits = secret_bits(secret)
    if bits < MIN_SECRET_BITS:
        raise RxrankInputError(
            f"{what} is too short or too simple (about {bits:.0f} bits, at least "
            f"{MIN_SECRET_BITS} needed): a short secret is recovered by trying guesses, which "
            "reverses pseudonyms or opens reports. Use 32 or more random hex digits, e.g. the "
            "output of `python -c 'import secrets; print(secrets.token_hex(32))'`, or delete the "
            "key file and let rxrank create one (privacy.create_key / create_master_key: true)."
        )
    return secret


def refuse_inside(path: str | Path | None, folder: str | Path, what: str) -> None:
    """Refuse a secret or mapping file placed inside ``folder`` (the results, which are shared)."""
    if not path:
        return
    resolved = Path(path).expanduser().resolve()
    if resolved.is_relative_to(Path(folder).expanduser().resolve()):
        raise RxrankInputError(
            f"{what} {path} lies inside {folder}/, which is shared with the reports; put it "
            "outside the results folder (e.g. ~/.config/rxrank/ or a secured directory)."
        )


def load_secret(
    env: str, key_file: str | None, *, create: bool = False, what: str = "key"
) -> bytes | None:
    """A secret from the environment variable ``env``, else from ``key_file`` (None if neither).

    With ``create`` a missing key file is created holding a random 256-bit secret, mode 0600.
    A secret of fewer than 128 bits is refused (:func:`require_strong_secret`).
    """
    if os.environ.get(env):
        return require_strong_secret(os.environ[env].encode(), f"{what} in ${env}")
    if not key_file:
        return None
    path = Path(key_file).expanduser()
    if path.exists():
        if path.stat().st_mode & 0o077:
            log.warning("key file %s is readable by others; run: chmod 600 %s", path, path)
        key = path.read_text().strip()
        if not key:
            raise RxrankInputError(
                f"key file {path} is empty; delete it or write a secret into it."
            )
        return require_strong_secret(key.encode(), f"{what} in file {path}")
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    log.info("created a new key file %s (mode 0600)", path)
    return path.read_text().strip().encode()


def load_key(privacy: PrivacyParams | Mapping) -> bytes:
    """The pseudonymisation key: the environment variable first, then the key file.

    ``privacy`` is the ``privacy`` section (:class:`rxrank.config.PrivacyParams` or its mapping).
    With ``create_key`` a missing key file is created with a random 256-bit key (mode 0600), so
    pseudonyms stay stable between runs without the key ever being typed into a config.
    """
    privacy = PrivacyParams.coerce(privacy)
    env = privacy.key_env or KEY_ENV
    key = load_secret(
        env, privacy.key_file, create=bool(privacy.create_key), what="pseudonymisation key"
    )
    if key is not None:
        return key
    raise RxrankInputError(
        f"privacy.pseudonymize is true but no key was found: set the environment variable {env}, "
        "or set privacy.key_file to a file outside the repository holding a secret "
        "(privacy.create_key: true creates one), or set privacy.pseudonymize: false."
    )


def pseudonym(patient_id: str, key: bytes) -> str:
    """Stable pseudonym ``RX-`` + 12 hex digits of HMAC-SHA256(key, ID): not reversible by guessing."""
    return "RX-" + hmac.new(key, str(patient_id).encode(), hashlib.sha256).hexdigest()[:12]


def pseudonym_map(
    patient_ids: Iterable[str], privacy: PrivacyParams | Mapping | None
) -> dict[str, str]:
    """Patient ID -> the ID used in outputs (a pseudonym, or the ID itself when switched off).

    ``privacy`` is the ``privacy`` section (:class:`rxrank.config.PrivacyParams` or its mapping).
    """
    ids = [str(p) for p in patient_ids]
    privacy = PrivacyParams.coerce(privacy)
    if not privacy.pseudonymize:
        return {p: p for p in ids}
    key = load_key(privacy)
    out = {p: pseudonym(p, key) for p in ids}
    if len(set(out.values())) != len(out):
        raise RxrankInputError("two patients received the same pseudonym; use another key.")
    return out


def write_mapping(mapping: dict[str, str], path: str | Path) -> None:
    """Write pseudonym -> patient ID (tab-separated) readable by the owner only (mode 0600)."""
    path = Path(path).expanduser()
    frame = pd.DataFrame({"pseudonym": list(mapping.values()), "patient_id": list(mapping)})
    with atomic_path(path) as tmp:
        tmp.chmod(0o600)
        frame.to_csv(tmp, sep="\t", index=False)
    path.chmod(0o600)


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
    """What a result was built from: versions, config hash, input checksums (no patient data).

    Inputs are named by file name only: absolute paths can carry user names.
    """
    return {
        "rxrank_version": _version("rxrank"),
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "config_hash": config_hash(config),
        "input_checksums": {
            f"{name} ({Path(p).name})": file_sha256(p) for name, p in inputs.items() if p
        },
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
