"""Pseudonymisation keys, mapping files and provenance."""

from __future__ import annotations

import json
import secrets
import stat

import pytest

from rxrank.io import RxrankInputError
from rxrank.privacy import (
    config_hash,
    load_key,
    provenance,
    pseudonym,
    pseudonym_map,
    secret_bits,
    write_mapping,
)

ENV_KEY = "from-env-" + "0123456789abcdef" * 2
FILE_KEY = "from-file-" + "fedcba9876543210" * 2


def test_key_from_environment_first(monkeypatch, tmp_path):
    monkeypatch.setenv("MY_KEY", ENV_KEY)
    (tmp_path / "k").write_text(FILE_KEY)
    assert load_key({"key_env": "MY_KEY", "key_file": str(tmp_path / "k")}) == ENV_KEY.encode()
    monkeypatch.delenv("MY_KEY")
    assert load_key({"key_env": "MY_KEY", "key_file": str(tmp_path / "k")}) == FILE_KEY.encode()


@pytest.mark.parametrize(
    "weak", ["a", "secret", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "0123456789abcdef"]
)
def test_weak_keys_are_refused(monkeypatch, tmp_path, weak):
    """A one-character key let 200/200 pseudonyms be reversed by hashing guesses: 128 bits needed."""
    monkeypatch.setenv("MY_KEY", weak)
    with pytest.raises(RxrankInputError, match="too short or too simple.*128"):
        load_key({"key_env": "MY_KEY"})
    monkeypatch.delenv("MY_KEY")
    (tmp_path / "k").write_text(weak)
    with pytest.raises(RxrankInputError, match=f"file {tmp_path / 'k'}"):
        load_key({"key_env": "MY_KEY", "key_file": str(tmp_path / "k")})


def test_secret_bits_counts_the_alphabet():
    assert secret_bits(b"0123456789abcdef" * 2) == 128  # 32 hex digits
    assert secret_bits(b"a") < 128 and secret_bits(b"ab" * 40) < 128
    assert secret_bits(secrets.token_urlsafe(22).encode()) >= 128


def test_key_and_mapping_files_refused_inside_results(tmp_path):
    from helpers import demo_config

    from rxrank.check import check_config

    config = demo_config()
    config["privacy"].update(key_file="results/pseudonym.key", mapping_file="results/x/map.tsv")
    errors = " ".join(check_config(config, path="c.yaml"))
    assert "privacy.key_file" in errors and "privacy.mapping_file" in errors
    assert "outside the results folder" in errors


def test_missing_key_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("RXRANK_PSEUDONYM_KEY", raising=False)
    with pytest.raises(RxrankInputError, match="RXRANK_PSEUDONYM_KEY.*key_file"):
        pseudonym_map(["P1"], {"key_file": str(tmp_path / "absent"), "create_key": False})
    assert not (tmp_path / "absent").exists()


def test_the_default_key_file_is_created(monkeypatch, tmp_path):
    """No key file named: privacy.key_file's default, created (create_key's default is true)."""
    monkeypatch.delenv("RXRANK_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    first = pseudonym_map(["P1"], {})
    assert stat.S_IMODE((tmp_path / ".config/rxrank/pseudonym.key").stat().st_mode) == 0o600
    assert pseudonym_map(["P1"], None) == first


def test_created_key_is_private_and_stable(monkeypatch, tmp_path):
    monkeypatch.delenv("RXRANK_PSEUDONYM_KEY", raising=False)
    privacy = {"key_file": str(tmp_path / "sub" / "key"), "create_key": True}
    first = pseudonym_map(["P1", "P2"], privacy)
    assert stat.S_IMODE((tmp_path / "sub" / "key").stat().st_mode) == 0o600
    assert pseudonym_map(["P1", "P2"], privacy) == first
    assert first["P1"] != first["P2"] and first["P1"].startswith("RX-") and len(first["P1"]) == 15


def test_pseudonyms_depend_on_the_key():
    assert pseudonym("P1", b"a") != pseudonym("P1", b"b")
    assert pseudonym("P1", b"a") == pseudonym("P1", b"a")


def test_switched_off_keeps_ids():
    assert pseudonym_map(["P1"], {"pseudonymize": False}) == {"P1": "P1"}


def test_mapping_file_is_owner_only(tmp_path):
    path = tmp_path / "mapping.tsv"
    write_mapping({"P1": "RX-1", "P2": "RX-2"}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().splitlines()[1] == "RX-1\tP1"


def test_provenance_has_no_paths_or_patient_data(tmp_path):
    data = tmp_path / "home" / "alice" / "clinical.tsv"
    data.parent.mkdir(parents=True)
    data.write_text("patient_id\nP1\n")
    prov = provenance({"a": 1}, {"clinical": data})
    text = json.dumps(prov)
    assert "alice" not in text and "P1" not in text
    assert prov["config_hash"] == config_hash({"a": 1})
    assert len(next(iter(prov["input_checksums"].values()))) == 64
