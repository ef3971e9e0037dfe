"""Encrypted reports: each page becomes ciphertext plus a small inline decryptor that asks for a
passphrase.

The page is AES-256-GCM encrypted under a key derived from the patient's passphrase with
PBKDF2-HMAC-SHA256 (600,000 iterations by default; WebCrypto offers no memory-hard KDF). The
browser decrypts with WebCrypto and nothing is fetched; the Content-Security-Policy allows only the
decryptor script, by hash. Python uses the ``cryptography`` package for every primitive.

The provenance shown in plain text on the locked page (versions and checksums, no patient data) is
stored inside the sealed payload and is part of the AES-GCM associated data, so editing it makes the
page refuse to open.

Passphrases are six words of the EFF long word list (shipped inside the ``xkcdpass`` package;
6 x 12.9 = 77 bits): either random words (``secrets``) kept in the passphrase file, so that a rerun
re-encrypts every report under the passphrase already handed out (``rxrank rotate-passphrases``
changes them on purpose), or derived with HKDF-SHA256 from a site master secret (at least 128 bits)
and the pseudonymised patient ID, so that a site can re-issue one without keeping a passphrase file.
"""

from __future__ import annotations

import base64
import hashlib
import html as _html
import json
import logging
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from rxrank.config import PrivacyParams
from rxrank.io import RxrankInputError
from rxrank.privacy import load_secret, refuse_inside, require_strong_secret

from ._env import environment, stylesheet

__all__ = [
    "Sealing",
    "WrongPassphrase",
    "decrypt_page",
    "derive_passphrase",
    "encrypt_page",
    "new_passphrase",
    "normalise_passphrase",
    "read_passphrases",
    "rotate_passphrases",
    "sealing_from_config",
    "write_passphrases",
    "write_private",
]

N_WORDS = 6
ITERATIONS = (
    PrivacyParams.kdf_iterations
)  # the config's default: OWASP's 2023 floor (PBKDF2-SHA256)
#: v2: the associated data is FORMAT + AAD_SEPARATOR + the provenance text stored in the payload
FORMAT = "rxrank-sealed-report-v2"
#: v1 pages (associated data: the format string only) still open
FORMAT_V1 = "rxrank-sealed-report-v1"
AAD_SEPARATOR = "\n"
MASTER_WHAT = "report master secret"
#: SHA-256 of the sorted EFF long list: derived passphrases must never change silently
WORDLIST_SHA256 = "76e3348ad957cad7d9c5c68873e89410ed998c19f4956367ab52d9aec4eee884"
HKDF_SALT = b"rxrank report passphrase v1"


log = logging.getLogger(__name__)


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
    """The passphrase of one report, re-derivable from the site's master secret (HKDF-SHA256).

    ``master`` must carry at least 128 bits (:func:`rxrank.privacy.require_strong_secret`): the
    passphrases of every report follow from it.
    """
    require_strong_secret(master or b"", MASTER_WHAT)
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
_SHOWN = re.compile(r'<pre class="mono"(?: id="provenance")?>(.*?)</pre>', re.DOTALL)
_KIND = re.compile(r"<title>Encrypted rxrank (.*?)</title>", re.DOTALL)


def _decryptor() -> str:
    return (Path(__file__).parent / "decrypt.js").read_text().strip()


def _script_hash(script: str) -> str:
    return "sha256-" + _b64(hashlib.sha256(script.encode("utf-8")).digest())


def _aad(fmt: str, provenance: str) -> bytes:
    """The AES-GCM associated data: the format and, from v2 on, the plain provenance text."""
    if fmt == FORMAT_V1:
        return FORMAT_V1.encode()
    return (fmt + AAD_SEPARATOR + provenance).encode("utf-8")


def _script_json(data: Mapping[str, Any]) -> str:
    """JSON safe inside ``<script>``: no ``<``, ``>`` or ``&`` can close the element."""
    text = json.dumps(data)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _provenance_text(provenance: Mapping[str, Any] | str | None) -> str:
    if isinstance(provenance, str):
        return provenance
    return json.dumps(dict(provenance or {}), indent=1, sort_keys=True, default=str)


def encrypt_page(
    html: str,
    passphrase: str,
    *,
    provenance: Mapping[str, Any] | str | None = None,
    kind: str = "patient report",
    iterations: int = ITERATIONS,
) -> str:
    """The HTML page that holds ``html`` encrypted; only ``provenance`` (no patient data) is plain.

    The provenance (a mapping, shown as JSON, or that JSON text itself) is stored in the sealed
    payload and authenticated with the ciphertext: a page whose provenance was edited does not open.
    """
    prov = _provenance_text(provenance)
    salt, nonce = os.urandom(16), os.urandom(12)
    ciphertext = AESGCM(_key(passphrase, salt, iterations)).encrypt(
        nonce, html.encode("utf-8"), _aad(FORMAT, prov)
    )
    sealed = {
        "format": FORMAT,
        "cipher": "AES-256-GCM",
        "kdf": "PBKDF2-HMAC-SHA256",
        "iterations": iterations,
        "salt": _b64(salt),
        "nonce": _b64(nonce),
        "provenance": prov,
        "ciphertext": _b64(ciphertext),
    }
    script = _decryptor()
    return (
        environment()
        .get_template("encrypted.html")
        .render(
            css=stylesheet(),
            kind=kind,
            sealed=_script_json(sealed),
            provenance=prov,  # escaped by the template; the decryptor shows the sealed copy
            script=script,
            script_hash=_script_hash(script),
        )
    )


def _altered(source: str, what: str) -> WrongPassphrase:
    return WrongPassphrase(
        f"{source} was altered after it was written ({what}); it does not open. Use the copy "
        "rxrank wrote, or rerun the report stage."
    )


def _sealed(page: str, source: str) -> tuple[dict[str, Any], str]:
    """The sealed parameters of a page and the provenance text its tag covers."""
    match = _SEALED.search(page)
    if not match:
        raise RxrankInputError(f"{source} is not an encrypted rxrank report (no sealed payload).")
    try:
        sealed = json.loads(match.group(1))
    except json.JSONDecodeError:
        raise _altered(source, "its sealed payload is not valid JSON") from None
    if not isinstance(sealed, dict):
        raise _altered(source, "its sealed payload is not a mapping")
    fmt = sealed.get("format")
    shown = _SHOWN.search(page)
    if fmt == FORMAT_V1:  # v1: the provenance shown was not authenticated
        return sealed, _html.unescape(shown.group(1)) if shown else ""
    if fmt != FORMAT:
        raise RxrankInputError(f"{source}: unknown format {fmt!r}.")
    prov = sealed.get("provenance")
    if not isinstance(prov, str):
        raise _altered(source, "its provenance is missing from the sealed payload")
    if shown is None or _html.unescape(shown.group(1)) != prov:
        raise _altered(source, "the provenance shown differs from the one sealed with the report")
    return sealed, prov


def decrypt_page(page: str, passphrase: str, *, source: str = "the report") -> str:
    """The plaintext HTML of an encrypted page; :class:`WrongPassphrase` if it does not open.

    Opens the current format and v1 pages; from v2 on an edited provenance also refuses to open.
    """
    sealed, prov = _sealed(page, source)
    try:
        key = _key(passphrase, base64.b64decode(sealed["salt"]), int(sealed["iterations"]))
        nonce = base64.b64decode(sealed["nonce"])
        ciphertext = base64.b64decode(sealed["ciphertext"])
    except (KeyError, TypeError, ValueError):
        raise _altered(source, "its sealed parameters are damaged") from None
    try:
        plain = AESGCM(key).decrypt(nonce, ciphertext, _aad(sealed["format"], prov))
    except (InvalidTag, ValueError):
        raise WrongPassphrase(
            f"the passphrase does not open {source}: check it against the passphrase file "
            "(words are separated by hyphens; case and spacing do not matter), or the file was "
            "altered after it was written (the ciphertext or the provenance shown with it)."
        ) from None
    return plain.decode("utf-8")


@dataclass
class Sealing:
    """How to encrypt a cohort's reports: passphrase source and where passphrases are written.

    Random mode keeps the passphrase of every report already in ``passphrase_file``: a rerun
    re-encrypts the page under the passphrase handed out before and draws new words only for new
    reports (:func:`rotate_passphrases` changes them on purpose).
    """

    mode: str = "random"  # random | derived
    master: bytes | None = field(default=None, repr=False)  # derived mode only
    passphrase_file: Path | None = None
    iterations: int = ITERATIONS
    _kept: dict[str, str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("random", "derived"):
            raise RxrankInputError(f"passphrase mode {self.mode!r}: use 'random' or 'derived'.")
        if self.mode == "derived" and self.master is not None:
            require_strong_secret(self.master, MASTER_WHAT)

    def kept(self) -> dict[str, str]:
        """The passphrases already in ``passphrase_file`` (empty when there is none yet)."""
        if self._kept is None:
            path = Path(self.passphrase_file).expanduser() if self.passphrase_file else None
            self._kept = read_passphrases(path) if path is not None and path.exists() else {}
        return self._kept

    def passphrase(self, name: str) -> str:
        """The passphrase of report ``name`` (a pseudonym, or ``index`` for the cohort index)."""
        if self.mode == "derived":
            if not self.master:
                raise RxrankInputError("derived passphrases need the site's master secret.")
            return derive_passphrase(self.master, name)
        return self.kept().get(name) or new_passphrase()

    def save(self, passphrases: Mapping[str, str]) -> Path | None:
        """Write ``passphrases`` to ``passphrase_file`` (mode 0600, atomically), keeping the
        entries of every other report already in it. Report shards running at the same time
        take turns (an exclusive lock on ``<file>.lock``), so no shard's entries are lost."""
        if self.passphrase_file is None:
            return None
        import fcntl

        path = Path(self.passphrase_file).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            merged = read_passphrases(path) if path.exists() else {}
            merged.update(passphrases)
            self._kept = dict(merged)
            return write_passphrases(merged, path)


MASTER_ENV = PrivacyParams.master_key_env  # the config's default


def sealing_from_config(
    privacy: PrivacyParams | Mapping[str, Any], *, results: str | Path = "results"
) -> Sealing:
    """The :class:`Sealing` that ``privacy.encrypt_reports`` asks for, with its checks.

    ``privacy`` is the ``privacy`` section (:class:`rxrank.config.PrivacyParams` or its mapping).
    """
    privacy = PrivacyParams.coerce(privacy)
    mode = privacy.passphrases
    if mode not in ("random", "derived"):
        raise RxrankInputError(
            f"privacy.passphrases is {mode!r}; use 'random' (random words kept in "
            "privacy.passphrase_file and reused on reruns) or 'derived' (re-derivable from a site "
            "master secret)."
        )
    file = privacy.passphrase_file
    refuse_inside(file, results, "privacy.passphrase_file")
    path = Path(file).expanduser().resolve() if file else None
    if mode == "random" and path is None:
        raise RxrankInputError(
            "privacy.encrypt_reports with random passphrases needs privacy.passphrase_file (where "
            "the passphrases are written, mode 0600): without it nobody could open the reports."
        )
    master = None
    if mode == "derived":
        env = privacy.master_key_env or MASTER_ENV
        master = load_secret(
            env, privacy.master_key_file, create=bool(privacy.create_master_key), what=MASTER_WHAT
        )
        if master is None:
            raise RxrankInputError(
                f"derived passphrases need the site master secret: set the environment variable "
                f"{env} or privacy.master_key_file (privacy.create_master_key: true creates one)."
            )
    iterations = int(privacy.kdf_iterations or ITERATIONS)
    sealing = Sealing(mode=mode, master=master, passphrase_file=path, iterations=iterations)
    if mode == "random":
        sealing.kept()  # a damaged passphrase file fails now, not after every report is written
    return sealing


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
    bad = [i + 2 for i, r in enumerate(rows) if len(r) != 2 or not normalise_passphrase(r[1])]
    if bad:
        raise RxrankInputError(
            f"{path}: lines {bad[:5]} are not 'report<TAB>passphrase'; restore the file rxrank wrote."
        )
    return {name: phrase for name, phrase in rows}


ROTATE_DERIVED = (
    "privacy.passphrases is 'derived': every passphrase is re-derived from the site master secret "
    "and the pseudonym, so rotating them means a new master secret (a new {env} or "
    "privacy.master_key_file) and a rerun of the report stage, which changes the passphrase of "
    "every report at once. rxrank rotate-passphrases only rotates random passphrases."
)


def rotate_passphrases(
    reports_dir: str | Path,
    passphrase_file: str | Path | None,
    patients: Iterable[str] | None = None,
    *,
    iterations: int | None = None,
    mode: str = "random",
) -> dict[str, str]:
    """Give encrypted reports new random passphrases on purpose; returns ``{report: passphrase}``.

    Every encrypted page in ``reports_dir`` (or only ``patients``: report names, i.e. pseudonyms
    or ``index``) is opened with its passphrase from ``passphrase_file``, re-encrypted under new
    words (``iterations``: the page's own count unless given) and replaced atomically; the file
    is rewritten (mode 0600) with the new passphrases and every other entry kept. Nothing is
    written unless every page opens. Derived passphrases cannot be rotated this way.
    """
    if mode == "derived":
        raise RxrankInputError(ROTATE_DERIVED.format(env=MASTER_ENV))
    if mode != "random":
        raise RxrankInputError(f"passphrase mode {mode!r}: use 'random' or 'derived'.")
    if not passphrase_file:
        raise RxrankInputError(
            "rotating passphrases needs the passphrase file written with the reports "
            "(privacy.passphrase_file)."
        )
    folder, key_file = Path(reports_dir), Path(passphrase_file).expanduser()
    if not folder.is_dir():
        raise RxrankInputError(f"{folder} is not a folder of reports.")
    if not key_file.exists():
        raise RxrankInputError(f"passphrase file {key_file} not found.")
    phrases = read_passphrases(key_file)
    if patients is not None:
        names = list(dict.fromkeys(str(p).removesuffix(".html") for p in patients))
        missing = [n for n in names if not (folder / f"{n}.html").is_file()]
        if missing:
            raise RxrankInputError(f"no report {missing[:5]} in {folder} (names are file names).")
    else:
        names = sorted(
            p.stem for p in folder.glob("*.html") if _SEALED.search(p.read_text(encoding="utf-8"))
        )
    if not names:
        raise RxrankInputError(f"no encrypted reports in {folder}.")
    unknown = [n for n in names if n not in phrases]
    if unknown:
        raise RxrankInputError(
            f"{key_file} has no passphrase for {unknown[:5]}; pass the passphrase file written "
            "with these reports."
        )
    new: dict[str, str] = {}
    pages: dict[Path, str] = {}
    for name in names:  # open every page first: nothing is written if one does not open
        path = folder / f"{name}.html"
        page = path.read_text(encoding="utf-8")
        sealed, prov = _sealed(page, str(path))
        html = decrypt_page(page, phrases[name], source=str(path))
        phrase = new_passphrase()
        while normalise_passphrase(phrase) == normalise_passphrase(phrases[name]):
            phrase = new_passphrase()
        kind = _KIND.search(page)
        pages[path] = encrypt_page(
            html,
            phrase,
            provenance=prov,
            kind=_html.unescape(kind.group(1)) if kind else "patient report",
            iterations=int(iterations or sealed["iterations"]),
        )
        new[name] = phrase
    staged: dict[Path, Path] = {}
    try:  # stage the pages, then write the passphrases, then move the pages into place
        for path, page in pages.items():
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            staged[path] = tmp
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(page)
            os.chmod(tmp, path.stat().st_mode & 0o777)
        write_passphrases({**phrases, **new}, key_file)
        for path, tmp in staged.items():
            os.replace(tmp, path)
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
    log.info(
        "rotated the passphrases of %d reports in %s (written to %s)", len(new), folder, key_file
    )
    return new
