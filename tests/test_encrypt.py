"""Encrypted reports (privacy.encrypt_reports): crypto round trips, passphrases, no plaintext leak,
and the decryptor in headless Chromium.

The pages are the hand-made bundle of tests/test_report.py (an XSS payload among the drug names).
PBKDF2 runs at the minimum the config allows (600,000 iterations), so every page costs ~0.2 s.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat

import pytest
from browser import browser as open_browser
from browser import chromium_path, unlock
from browser import visit as open_locked
from test_report import EVIL, PATIENTS, PSEUDONYMS, bundle  # noqa: F401 (fixture)

from rxrank.cli import main as cli
from rxrank.io import RxrankInputError
from rxrank.report import render_index, render_patient, write_reports
from rxrank.report.encrypt import (
    FORMAT,
    FORMAT_V1,
    ITERATIONS,
    Sealing,
    WrongPassphrase,
    decrypt_page,
    derive_passphrase,
    encrypt_page,
    new_passphrase,
    normalise_passphrase,
    read_passphrases,
    rotate_passphrases,
    sealing_from_config,
    wordlist,
    write_passphrases,
)

#: strong (256-bit) secrets: rxrank refuses secrets of fewer than 128 bits
MASTER = b"5f0c2a9e3b7d4e8f1a6c0b9d2e7f3a4c8b1d6e0f9a2c7b3e5d8f1a4c6b0e9d2f"
OTHER_MASTER = b"0a1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdeffedcba9876543210"
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
    a = derive_passphrase(MASTER, "RX-3f9a2c")
    assert a == derive_passphrase(MASTER, "RX-3f9a2c")
    assert a != derive_passphrase(MASTER, "RX-77b01e")
    assert a != derive_passphrase(OTHER_MASTER, "RX-3f9a2c")
    assert len(a.split("-")) == 6
    assert new_passphrase() != new_passphrase()
    assert normalise_passphrase(" Apple  BANANA_cherry ") == "apple-banana-cherry"


def test_config_checks(tmp_path, monkeypatch):
    results = tmp_path / "results"
    with pytest.raises(RxrankInputError, match="outside the results folder"):
        sealing_from_config({"passphrase_file": str(results / "keys.tsv")}, results=results)
    with pytest.raises(RxrankInputError, match="needs privacy.passphrase_file"):
        sealing_from_config({"passphrases": "random", "passphrase_file": None}, results=results)
    monkeypatch.delenv("RXRANK_REPORT_MASTER_KEY", raising=False)
    with pytest.raises(RxrankInputError, match="master secret"):
        sealing_from_config({"passphrases": "derived"}, results=results)
    monkeypatch.setenv("RXRANK_REPORT_MASTER_KEY", MASTER.decode())
    sealing = sealing_from_config({"passphrases": "derived"}, results=results)
    assert sealing.passphrase("RX-1") == derive_passphrase(MASTER, "RX-1")
    assert MASTER.decode() not in repr(sealing)


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


@pytest.mark.browser
@pytest.mark.skipif(
    chromium_path() is None, reason="no Chromium installed (apt-get install chromium)"
)
def test_browser_opens_with_the_right_passphrase_only(sealed, tmp_path):
    paths, keys, _ = sealed
    forged = tmp_path / "forged.html"  # provenance edited in both copies: the tag refuses it
    forged.write_text(paths[0].read_text().replace("c0nf1gha5h", "f0rg3dha5h"))
    shown = tmp_path / "shown.html"  # only the shown copy edited: the sealed copy is displayed
    edited = _edit_shown(paths[0].read_text(), "c0nf1gha5h", "f0rg3dha5h")
    shown.write_text(edited.replace("<details>", "<details open>"))
    with open_browser() as b:
        good = unlock(b, paths[0], keys["PT-ALPHA"], screenshot=tmp_path / "unlocked.png")
        bad = unlock(b, paths[0], "wrong words entirely")
        index = unlock(b, paths[-1], keys["index"].replace("-", " ").upper())
        tampered = unlock(b, forged, keys["PT-ALPHA"])
        before = open_locked(b, shown)
    assert "does not open the report" in tampered.text and "Treatment ranking" not in tampered.text
    assert "c0nf1gha5h" in before.text and "f0rg3dha5h" not in before.text
    assert tampered.errors == [] and before.errors == []
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
    monkeypatch.setenv("RXRANK_PSEUDONYM_KEY", MASTER.decode())
    monkeypatch.chdir(tmp_path)
    report, _ = run_check("config.yaml", config)
    assert not report.ok and any("outside the results folder" in e for e in report.errors)


# --- audit findings: stable passphrases, rotation, strong master secrets, sealed provenance ---


def _edit_shown(page: str, old: str, new: str) -> str:
    """``page`` with ``old`` replaced by ``new`` in the provenance shown only (not the sealed copy)."""
    head, rest = page.split('<pre class="mono" id="provenance">', 1)
    shown, tail = rest.split("</pre>", 1)
    assert old in shown
    return f'{head}<pre class="mono" id="provenance">{shown.replace(old, new)}</pre>{tail}'


def test_rerun_keeps_every_random_passphrase(bundle, tmp_path):  # noqa: F811
    keys = tmp_path / "secret" / "passphrases.tsv"
    first = write_reports(bundle, tmp_path / "run1", sealing=Sealing(passphrase_file=keys))
    phrases = read_passphrases(keys)
    # a report of an earlier cohort stays in the file; PT-CHARLIE is new to the second run
    kept = {k: v for k, v in phrases.items() if k != "PT-CHARLIE"}
    write_passphrases({**kept, "RX-earlier": "apple-banana-cherry-date-elder-fig"}, keys)
    second = write_reports(bundle, tmp_path / "run2", sealing=Sealing(passphrase_file=keys))
    again = read_passphrases(keys)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert again["RX-earlier"] == "apple-banana-cherry-date-elder-fig"
    assert set(again) == {*PATIENTS, "index", "RX-earlier"}
    for name in ("PT-ALPHA", "PT-BRAVO", "index"):
        assert again[name] == phrases[name]
    assert again["PT-CHARLIE"] != phrases["PT-CHARLIE"]  # new to the file: new words
    for old_page, new_page in zip(first, second, strict=True):
        name = new_page.stem
        assert old_page.read_text() != new_page.read_text()  # fresh salt and nonce
        if name != "PT-CHARLIE":  # the passphrase handed out after run 1 opens run 2's page
            assert decrypt_page(new_page.read_text(), phrases[name]).startswith("<!DOCTYPE html>")
        assert decrypt_page(new_page.read_text(), again[name]) == decrypt_page(
            old_page.read_text(), phrases[name]
        )


def test_a_damaged_passphrase_file_is_refused_not_replaced(tmp_path):
    keys = tmp_path / "passphrases.tsv"
    keys.write_text("report\tpassphrase\nPT-ALPHA\n")
    with pytest.raises(RxrankInputError, match="report<TAB>passphrase"):
        sealing_from_config({"passphrase_file": str(keys)}, results=tmp_path / "results")
    assert keys.read_text() == "report\tpassphrase\nPT-ALPHA\n"


@pytest.fixture
def copied(sealed, tmp_path):
    """A copy of the sealed reports and their passphrase file, to rotate."""
    paths, _, key_file = sealed
    folder = tmp_path / "reports"
    shutil.copytree(paths[0].parent, folder)
    keys = tmp_path / "secret" / "passphrases.tsv"
    keys.parent.mkdir(mode=0o700)
    shutil.copy(key_file, keys)
    os.chmod(keys, 0o600)
    return folder, keys


def test_rotate_passphrases_of_named_patients(copied, bundle):  # noqa: F811
    folder, keys = copied
    old = read_passphrases(keys)
    before = {p.name: p.read_text() for p in folder.glob("*.html")}
    new = rotate_passphrases(folder, keys, ["PT-ALPHA"], iterations=ITERATIONS)
    assert set(new) == {"PT-ALPHA"}
    now = read_passphrases(keys)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert now == {**old, "PT-ALPHA": new["PT-ALPHA"]} and new["PT-ALPHA"] != old["PT-ALPHA"]
    page = (folder / "PT-ALPHA.html").read_text()
    assert decrypt_page(page, new["PT-ALPHA"]) == render_patient(bundle, "PT-ALPHA")
    with pytest.raises(WrongPassphrase):
        decrypt_page(page, old["PT-ALPHA"])
    assert "c0nf1gha5h" in _plain_part(page)[0]  # provenance and kind carried over
    assert "Encrypted rxrank patient report" in page
    for name, text in before.items():  # every other page untouched
        if name != "PT-ALPHA.html":
            assert (folder / name).read_text() == text
    assert not list(folder.glob(".*.tmp")) and not list(keys.parent.glob(".*.tmp"))


def test_rotate_passphrases_command(copied, tmp_path, caplog):
    folder, keys = copied
    old = read_passphrases(keys)
    assert cli(["rotate-passphrases", str(folder), "--passphrase-file", str(keys)]) == 0
    now = read_passphrases(keys)
    assert set(now) == set(old) and all(now[k] != old[k] for k in old)
    index = (folder / "index.html").read_text()
    assert "Encrypted rxrank cohort index" in index
    assert "Treatment rankings" in decrypt_page(index, now["index"])
    # a page that does not open with the file's passphrase stops the rotation before any write
    write_passphrases({**now, "PT-BRAVO": old["PT-BRAVO"]}, keys)
    snapshot = {p.name: p.read_text() for p in folder.glob("*.html")}
    assert cli(["rotate-passphrases", str(folder), "--passphrase-file", str(keys)]) == 2
    assert "does not open" in caplog.text
    assert {p.name: p.read_text() for p in folder.glob("*.html")} == snapshot
    assert read_passphrases(keys)["PT-BRAVO"] == old["PT-BRAVO"]
    # derived passphrases: rotating means a new master secret, so the command refuses
    config = tmp_path / "config.yaml"
    config.write_text(f"privacy:\n  passphrases: derived\n  passphrase_file: {keys}\n")
    assert cli(["rotate-passphrases", str(folder), "--config", str(config)]) == 2
    assert "new master secret" in caplog.text
    with pytest.raises(RxrankInputError, match="new master secret"):
        rotate_passphrases(folder, keys, mode="derived")
    with pytest.raises(RxrankInputError, match="no report"):
        rotate_passphrases(folder, keys, ["RX-nobody"])


def test_a_weak_master_secret_is_refused(tmp_path, monkeypatch):
    results = tmp_path / "results"
    with pytest.raises(RxrankInputError, match="report master secret.*too short"):
        derive_passphrase(b"s3cr", "RX-1")
    with pytest.raises(RxrankInputError, match="report master secret"):
        Sealing(mode="derived", master=b"s3cr")
    monkeypatch.setenv("RXRANK_REPORT_MASTER_KEY", "s3cr")
    with pytest.raises(
        RxrankInputError, match=r"report master secret in \$RXRANK_REPORT_MASTER_KEY"
    ):
        sealing_from_config({"passphrases": "derived"}, results=results)
    monkeypatch.delenv("RXRANK_REPORT_MASTER_KEY")
    key_file = tmp_path / "master.key"
    key_file.write_text("s3cr\n")
    key_file.chmod(0o600)
    privacy = {"passphrases": "derived", "master_key_file": str(key_file)}
    with pytest.raises(RxrankInputError, match=f"report master secret in file {key_file}"):
        sealing_from_config(privacy, results=results)
    key_file.write_text(MASTER.decode() + "\n")  # 64 hex digits: 256 bits
    assert sealing_from_config(privacy, results=results).passphrase("RX-1") == derive_passphrase(
        MASTER, "RX-1"
    )
    created = tmp_path / "new" / "master.key"  # create_master_key writes a strong one
    privacy = {"passphrases": "derived", "master_key_file": str(created), "create_master_key": True}
    assert len(sealing_from_config(privacy, results=results).passphrase("RX-1").split("-")) == 6


def test_provenance_is_sealed_with_the_report(sealed):
    paths, keys, _ = sealed
    page, phrase = paths[0].read_text(), keys["PT-ALPHA"]
    _, params = _plain_part(page)
    assert params["format"] == FORMAT and "c0nf1gha5h" in params["provenance"]
    assert decrypt_page(page, phrase).startswith("<!DOCTYPE html>")  # untampered: opens
    # edited in both copies (shown and sealed): the GCM tag no longer matches
    with pytest.raises(WrongPassphrase, match="altered"):
        decrypt_page(page.replace("c0nf1gha5h", "f0rg3dha5h"), phrase)
    # edited in the shown copy only
    with pytest.raises(WrongPassphrase, match="altered"):
        decrypt_page(_edit_shown(page, "c0nf1gha5h", "f0rg3dha5h"), phrase)
    # a provenance entry added to the sealed copy only
    forged = page.replace('"provenance": "{', '"provenance": "{\\n \\"signed_off\\": true,', 1)
    assert forged != page
    with pytest.raises(WrongPassphrase, match="altered"):
        decrypt_page(forged, phrase)
    # passing the page off as a v1 page (associated data without the provenance) fails too
    with pytest.raises(WrongPassphrase, match="altered"):
        decrypt_page(page.replace(FORMAT, FORMAT_V1), phrase)


def test_provenance_cannot_close_the_sealed_script():
    page = encrypt_page("<p>x</p>", "a-b-c", provenance={"input": "</script><b>&"})
    _, params = _plain_part(page)
    assert params["provenance"] == '{\n "input": "</script><b>&"\n}'
    assert decrypt_page(page, "a-b-c") == "<p>x</p>"


def test_version_1_pages_still_open():
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from rxrank.report.encrypt import _key

    salt, nonce = b"s" * 16, b"n" * 12
    ciphertext = AESGCM(_key("a-b-c", salt, ITERATIONS)).encrypt(
        nonce, b"<p>old</p>", FORMAT_V1.encode()
    )
    sealed = {
        "format": FORMAT_V1,
        "iterations": ITERATIONS,
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    page = (
        '<pre class="mono">{}</pre>\n'
        f'<script type="application/json" id="sealed">{json.dumps(sealed)}</script>'
    )
    assert decrypt_page(page, "a-b-c") == "<p>old</p>"
    with pytest.raises(WrongPassphrase):
        decrypt_page(page, "a-b-d")
