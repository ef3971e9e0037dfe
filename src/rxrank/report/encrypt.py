"""Encrypted reports: each page becomes ciphertext plus a small inline decryptor that asks for a
passphrase.

The page is AES-256-GCM encrypted under a key derived from the patient's passphrase with
PBKDF2-HMAC-SHA256 (600,000 iterations by default; WebCrypto offers no memory-hard KDF). The
browser decrypts with WebCrypto and nothing is fetched; the Content-Security-Policy allows only the
decryptor script, by hash. Python uses the ``cryptography`` package for every primitive.

Passphrases are six words of the EFF long word list (shipped inside the ``xkcdpass`` package;
6 x 12.9 = 77 bits): either new random words per run (``secrets``), or derived with HKDF-SHA256 from a
site master secret and the pseudonymised patient ID, so that a site can re-issue one without
keeping a passphrase file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from rxrank.io import RxrankInputError

__all__ = [
    "Sealing",
    "WrongPassphrase",
    "decrypt_page",
    "derive_passphrase",
    "encrypt_page",
    "new_passphrase",
    "normalise_passphrase",
    "read_passphrases",
    "sealing_from_config",
    "write_passphrases",
    "write_private",
]

N_WORDS = 6
ITERATIONS = 600_000  # OWASP's 2023 floor for PBKDF2-HMAC-SHA256
FORMAT = "rxrank-sealed-report-v1"  # also the AES-GCM associated data
#: SHA-256 of the sorted EFF long list: derived passphrases must never change silently
WORDLIST_SHA256 = "76e3348ad957cad7d9c5c68873e89410ed998c19f4956367ab52d9aec4eee884"
HKDF_SALT = b"rxrank report passphrase v1"


class WrongPassphrase(RxrankInputError):
    """The passphrase does not open this report (or the file was altered)."""


@cache
def wordlist() -> tuple[str, ...]:
    """The EFF long word list without its four hyphenated words (7,772 words), sorted."""
    from xkcdpass import xkcd_password

    path = Path(xkcd_password.locate_wordfile("eff-long"))
    words = sorted({w.strip() for w in path.read_text().split() if w.strip().isalpha()})
    if len(words) != 7772:
        raise RuntimeError(f"the EFF word list at {path} has {len(words)} words, expected 7,772")
    return tuple(words)


def _wordlist_digest() -> str:
    return hashlib.sha256("\n".join(wordlist()).encode()).hexdigest()


def normalise_passphrase(text: str) -> str:
    """Lower case, words joined by single hyphens: what a reader types is forgiven its spacing."""
    return "-".join(re.split(r"[\s\-_.,;:]+", text.strip().lower())).strip("-")


def new_passphrase(n_words: int = N_WORDS) -> str:
    """``n_words`` words drawn with the operating system's CSPRNG."""
    words = wordlist()
    return "-".join(secrets.choice(words) for _ in range(n_words))


def derive_passphrase(master: bytes, pseudonym: str, n_words: int = N_WORDS) -> str:
    """The passphrase of one report, re-derivable from the site's master secret (HKDF-SHA256)."""
    if _wordlist_digest() != WORDLIST_SHA256:
        raise RuntimeError(
            "the installed EFF word list differs from the one derived passphrases were defined "
            "with; pin xkcdpass to the version that made them, or use passphrases: random"
        )
    words = wordlist()
    okm = HKDF(
        algorithm=hashes.SHA256(), length=8 * n_words, salt=HKDF_SALT, info=pseudonym.encode()
    ).derive(master)
    # 64 bits per word reduced mod 7,772: the modulo bias is below 1e-15
    return "-".join(
        words[int.from_bytes(okm[8 * i : 8 * i + 8], "big") % len(words)] for i in range(n_words)
    )


def _key(passphrase: str, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(normalise_passphrase(passphrase).encode("utf-8"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_SEALED = re.compile(r'<script type="application/json" id="sealed">(.*?)</script>', re.DOTALL)


def _decryptor() -> str:
    return (Path(__file__).parent / "decrypt.js").read_text().strip()


def _script_hash(script: str) -> str:
    return "sha256-" + _b64(hashlib.sha256(script.encode("utf-8")).digest())


def encrypt_page(
    html: str,
    passphrase: str,
    *,
    provenance: Mapping[str, Any] | None = None,
    kind: str = "patient report",
    iterations: int = ITERATIONS,
) -> str:
    """The HTML page that holds ``html`` encrypted; only ``provenance`` (no patient data) is plain."""
    salt, nonce = os.urandom(16), os.urandom(12)
    ciphertext = AESGCM(_key(passphrase, salt, iterations)).encrypt(
        nonce, html.encode("utf-8"), FORMAT.encode()
    )
    sealed = {
        "format": FORMAT,
        "cipher": "AES-256-GCM",
        "kdf": "PBKDF2-HMAC-SHA256",
        "iterations": iterations,
        "salt": _b64(salt),
        "nonce": _b64(nonce),
        "ciphertext": _b64(ciphertext),
    }
    script = _decryptor()
    from ._render import _environment, _stylesheet

    return (
        _environment()
        .get_template("encrypted.html")
        .render(
            css=_stylesheet(),
            kind=kind,
            sealed=json.dumps(sealed),
            provenance=json.dumps(dict(provenance or {}), indent=1, sort_keys=True, default=str),
            script=script,
            script_hash=_script_hash(script),
        )
    )


def decrypt_page(page: str, passphrase: str, *, source: str = "the report") -> str:
    """The plaintext HTML of an encrypted page; :class:`WrongPassphrase` if it does not open."""
    match = _SEALED.search(page)
    if not match:
        raise RxrankInputError(f"{source} is not an encrypted rxrank report (no sealed payload).")
    sealed = json.loads(match.group(1))
    if sealed.get("format") != FORMAT:
        raise RxrankInputError(f"{source}: unknown format {sealed.get('format')!r}.")
    key = _key(passphrase, base64.b64decode(sealed["salt"]), int(sealed["iterations"]))
    try:
        plain = AESGCM(key).decrypt(
            base64.b64decode(sealed["nonce"]),
            base64.b64decode(sealed["ciphertext"]),
            FORMAT.encode(),
        )
    except InvalidTag:
        raise WrongPassphrase(
            f"the passphrase does not open {source}: check it against the passphrase file "
            "(words are separated by hyphens; case and spacing do not matter), or the file was "
            "altered after it was written."
        ) from None
    return plain.decode("utf-8")


@dataclass
class Sealing:
    """How to encrypt a cohort's reports: passphrase source and where passphrases are written."""

    mode: str = "random"  # random | derived
    master: bytes | None = None  # derived mode only
    passphrase_file: Path | None = None
    iterations: int = ITERATIONS

    def passphrase(self, name: str) -> str:
        """The passphrase of report ``name`` (a pseudonym, or ``index`` for the cohort index)."""
        if self.mode == "derived":
            if not self.master:
                raise RxrankInputError("derived passphrases need the site's master secret.")
            return derive_passphrase(self.master, name)
        return new_passphrase()


MASTER_ENV = "RXRANK_REPORT_MASTER_KEY"


def sealing_from_config(privacy: Mapping[str, Any], *, results: str | Path = "results") -> Sealing:
    """The :class:`Sealing` that ``privacy.encrypt_reports`` asks for, with its checks."""
    from rxrank.privacy import load_secret

    mode = privacy.get("passphrases", "random")
    if mode not in ("random", "derived"):
        raise RxrankInputError(
            f"privacy.passphrases is {mode!r}; use 'random' (new words every run, kept in "
            "privacy.passphrase_file) or 'derived' (re-derivable from a site master secret)."
        )
    file = privacy.get("passphrase_file")
    path = Path(file).expanduser().resolve() if file else None
    if path is not None and path.is_relative_to(Path(results).resolve()):
        raise RxrankInputError(
            f"privacy.passphrase_file {file} lies inside {results}/, next to the reports it opens; "
            "put it outside the results folder (e.g. ~/.config/rxrank/report-passphrases.tsv)."
        )
    if mode == "random" and path is None:
        raise RxrankInputError(
            "privacy.encrypt_reports with random passphrases needs privacy.passphrase_file (where "
            "the passphrases are written, mode 0600): without it nobody could open the reports."
        )
    master = None
    if mode == "derived":
        env = privacy.get("master_key_env") or MASTER_ENV
        master = load_secret(
            env, privacy.get("master_key_file"), create=bool(privacy.get("create_master_key"))
        )
        if master is None:
            raise RxrankInputError(
                f"derived passphrases need the site master secret: set the environment variable "
                f"{env} or privacy.master_key_file (privacy.create_master_key: true creates one)."
            )
    iterations = int(privacy.get("kdf_iterations") or ITERATIONS)
    return Sealing(mode=mode, master=master, passphrase_file=path, iterations=iterations)


def write_private(path: str | Path, text: str) -> Path:
    """Write ``text`` to a file created with mode 0600 and moved into place atomically."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def write_passphrases(passphrases: Mapping[str, str], path: str | Path) -> Path:
    """``report<TAB>passphrase`` lines in a private file (mode 0600)."""
    lines = ["report\tpassphrase", *(f"{name}\t{phrase}" for name, phrase in passphrases.items())]
    return write_private(path, "\n".join(lines) + "\n")


def read_passphrases(path: str | Path) -> dict[str, str]:
    """The file written by :func:`write_passphrases`."""
    path = Path(path).expanduser()
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
    bad = [i + 2 for i, r in enumerate(rows) if len(r) != 2]
    if bad:
        raise RxrankInputError(
            f"{path}: lines {bad[:5]} are not 'report<TAB>passphrase'; restore the file rxrank wrote."
        )
    return {name: phrase for name, phrase in rows}
