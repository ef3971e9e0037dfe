"""Pseudonymisation keys, mapping files and provenance."""

from __future__ import annotations

import json
import stat

import pytest

from rxrank.io import RxrankInputError
from rxrank.privacy import (
    config_hash,
    load_key,
    provenance,
    pseudonym,
    pseudonym_map,
    write_mapping,
)


def test_key_from_environment_first(monkeypatch, tmp_path):
    monkeypatch.setenv("MY_KEY", "from-env")
    (tmp_path / "k").write_text("from-file")
    assert load_key({"key_env": "MY_KEY", "key_file": str(tmp_path / "k")}) == b"from-env"
    monkeypatch.delenv("MY_KEY")
    assert load_key({"key_env": "MY_KEY", "key_file": str(tmp_path / "k")}) == b"from-file"


def test_missing_key_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("RXRANK_PSEUDONYM_KEY", raising=False)
    with pytest.raises(RxrankInputError, match="RXRANK_PSEUDONYM_KEY.*key_file"):
        pseudonym_map(["P1"], {"pseudonymize": True, "key_file": str(tmp_path / "absent")})


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
