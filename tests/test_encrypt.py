"""Encrypted reports (privacy.encrypt_reports): crypto round trips, passphrases, no plaintext leak,
and the decryptor in headless Chromium.

The pages are the hand-made bundle of tests/test_report.py (an XSS payload among the drug names).
PBKDF2 runs at the minimum the config allows (600,000 iterations), so every page costs ~0.2 s.
"""

from __future__ import annotations

import base64
import json
import re
import stat

import pytest
from browser import browser as open_browser
from browser import chromium_path, unlock
from test_report import EVIL, PATIENTS, PSEUDONYMS, bundle  # noqa: F401 (fixture)

from rxrank.cli import main as cli
from rxrank.io import RxrankInputError
from rxrank.report import render_index, render_patient, write_reports
from rxrank.report.encrypt import (
    ITERATIONS,
    Sealing,
    WrongPassphrase,
    decrypt_page,
    derive_passphrase,
    encrypt_page,
    new_passphrase,
    normalise_passphrase,
    read_passphrases,
    sealing_from_config,
    wordlist,
)

SEALED = re.compile(r'(<script type="application/json" id="sealed">)(.*?)(</script>)', re.DOTALL)


@pytest.fixture(scope="module")
def sealed(bundle, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("sealed")
    keys = tmp / "secret" / "passphrases.tsv"
    paths = write_reports(bundle, tmp / "reports", sealing=Sealing(passphrase_file=keys))
    return paths, read_passphrases(keys), keys


def test_every_page_round_trips_and_matches_the_plain_report(bundle, sealed):  # noqa: F811
    paths, keys, _ = sealed
    assert set(keys) == {*PATIENTS, "index"}  # keyed by file name
    for pid, path in zip(PATIENTS, paths[:-1], strict=True):
        html = decrypt_page(path.read_text(), keys[pid])
        assert html == render_patient(bundle, pid)
    assert decrypt_page(paths[-1].read_text(), keys["index"]) == render_index(bundle)


def test_wrong_passphrase_fails_clearly(sealed):
    paths, keys, _ = sealed
    page = paths[0].read_text()
    with pytest.raises(WrongPassphrase, match="does not open"):
        decrypt_page(page, keys["index"])  # another report's passphrase
    with pytest.raises(WrongPassphrase):
        decrypt_page(page.replace('"ciphertext": "', '"ciphertext": "AAAA'), keys["PT-ALPHA"])
    # spacing and case are forgiven
    loose = "  " + keys["PT-ALPHA"].upper().replace("-", "   ") + " "
    assert decrypt_page(page, loose).startswith("<!DOCTYPE html>")


def test_passphrase_file_is_private_and_complete(sealed):
    _, keys, path = sealed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    words = set(wordlist())
    for phrase in keys.values():
        assert len(phrase.split("-")) == 6 and set(phrase.split("-")) <= words
    assert len(set(keys.values())) == len(keys)


def _plain_part(page: str) -> tuple[str, dict]:
    """The page without its ciphertext, and the sealed parameters."""
    match = SEALED.search(page)
    params = json.loads(match.group(2))
    return SEALED.sub(r"\1\3", page), params


def test_no_patient_data_in_plain_text(bundle, sealed):  # noqa: F811
    paths, _, _ = sealed
    secrets = set(PATIENTS) | set(PSEUDONYMS.values())
    secrets |= {str(d) for d in bundle.rankings["drug"]} | {EVIL}
    secrets |= {str(v) for v in bundle.obs.to_numpy().ravel()} | {"III &amp; IV", "Evil &amp; co"}
    for path in paths:
        page = path.read_text()
        plain, params = _plain_part(page)
        ciphertext = base64.b64decode(params["ciphertext"], validate=True)
        assert len(ciphertext) > 1000
        for secret in secrets:
            # outside the payload: no occurrence at all; inside it only base64 characters exist
            assert not re.search(rf"(?<![\w+/]){re.escape(secret)}(?![\w+/])", plain), (
                path,
                secret,
            )
        assert params["iterations"] >= ITERATIONS and params["kdf"] == "PBKDF2-HMAC-SHA256"
        assert len(base64.b64decode(params["salt"])) == 16
        assert "http" not in plain.replace('http-equiv="Content-Security-Policy"', "")
        # provenance stays readable for an auditor
        assert "c0nf1gha5h" in plain and "ab" * 32 in plain


def test_csp_allows_only_the_decryptor_by_hash(sealed):
    import hashlib

    page = sealed[0][0].read_text()
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "unsafe-inline" not in csp.split("style-src")[0] and "unsafe-eval" not in csp
    script = re.search(r"<script>(.*?)</script>", page, flags=re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert "eval(" not in script and "Function(" not in script


def test_derived_passphrases_are_stable_and_per_report():
    master = b"site master secret"
    a = derive_passphrase(master, "RX-3f9a2c")
    assert a == derive_passphrase(master, "RX-3f9a2c")
    assert a != derive_passphrase(master, "RX-77b01e")
    assert a != derive_passphrase(b"another site", "RX-3f9a2c")
    assert len(a.split("-")) == 6
    assert new_passphrase() != new_passphrase()
    assert normalise_passphrase(" Apple  BANANA_cherry ") == "apple-banana-cherry"


def test_config_checks(tmp_path, monkeypatch):
    results = tmp_path / "results"
    with pytest.raises(RxrankInputError, match="outside the results folder"):
        sealing_from_config({"passphrase_file": str(results / "keys.tsv")}, results=results)
    with pytest.raises(RxrankInputError, match="needs privacy.passphrase_file"):
        sealing_from_config({"passphrases": "random"}, results=results)
    monkeypatch.delenv("RXRANK_REPORT_MASTER_KEY", raising=False)
    with pytest.raises(RxrankInputError, match="master secret"):
        sealing_from_config({"passphrases": "derived"}, results=results)
    monkeypatch.setenv("RXRANK_REPORT_MASTER_KEY", "s3cret")
    sealing = sealing_from_config({"passphrases": "derived"}, results=results)
    assert sealing.passphrase("RX-1") == derive_passphrase(b"s3cret", "RX-1")


def test_decrypt_command(sealed, tmp_path, monkeypatch, caplog):
    paths, keys, key_file = sealed
    out = tmp_path / "plain.html"
    assert cli(["decrypt", str(paths[0]), "--passphrase-file", str(key_file), "-o", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "RX-3f9a2c" in out.read_text()
    monkeypatch.setenv("RXRANK_REPORT_PASSPHRASE", "wrong-words")
    assert cli(["decrypt", str(paths[0])]) == 2
    assert "does not open" in caplog.text


def test_flag_off_leaves_reports_unchanged(bundle, tmp_path):  # noqa: F811
    paths = write_reports(bundle, tmp_path, sealing=None)
    assert paths[0].read_text() == render_patient(bundle, PATIENTS[0])
    assert "sealed" not in paths[0].read_text()


def test_encrypt_page_keeps_provenance_escaped():
    page = encrypt_page("<p>x</p>", "a-b-c", provenance={"input": "<b>&"})
    assert "&lt;b&gt;&amp;" in _plain_part(page)[0]


@pytest.mark.skipif(
    chromium_path() is None, reason="no Chromium installed (apt-get install chromium)"
)
def test_browser_opens_with_the_right_passphrase_only(sealed, tmp_path):
    paths, keys, _ = sealed
    with open_browser() as b:
        good = unlock(b, paths[0], keys["PT-ALPHA"], screenshot=tmp_path / "unlocked.png")
        bad = unlock(b, paths[0], "wrong words entirely")
        index = unlock(b, paths[-1], keys["index"].replace("-", " ").upper())
    assert "Treatment ranking for patient RX-3f9a2c" in good.text
    assert EVIL in good.text  # the payload is text in the decrypted page too
    assert "does not open the report" in bad.text and "Treatment ranking" not in bad.text
    assert "RX-3f9a2c" not in bad.text
    assert "Treatment rankings: Demo & test cohort" in index.text
    for v in (good, bad, index):
        assert v.requests == [] and v.errors == [], v
        assert not [c for c in v.console if "error" in c.lower()], v.console


def test_check_refuses_a_passphrase_file_inside_results(tmp_path, monkeypatch):
    from helpers import demo_config

    from rxrank.check import run_check

    config = demo_config()
    config["privacy"].update(encrypt_reports=True, passphrase_file="results/keys.tsv")
    monkeypatch.setenv("RXRANK_PSEUDONYM_KEY", "k")
    monkeypatch.chdir(tmp_path)
    report, _ = run_check("config.yaml", config)
    assert not report.ok and any("outside the results folder" in e for e in report.errors)
