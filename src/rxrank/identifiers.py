"""Patient identifiers: normalised once where they are read, safe as file names, never confusable.

Every reader of patient IDs (clinical table, expression samples, single-cell samples sheet,
longitudinal table, the workflow's list of patients) goes through :func:`clean_ids`, whatever the
privacy setting, because an ID becomes part of a report's file name when pseudonymisation is off.
Messages name lines and columns, never the IDs themselves, so that no raw ID reaches a log.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import cache

from .errors import RxrankInputError

__all__ = ["clean_ids", "id_problem", "normalise_id"]

MAX_LENGTH = 100
#: characters that file systems or shells treat specially (Windows' reserved set, path separators)
FORBIDDEN = set('/\\<>:"|?*')


def normalise_id(raw: object) -> str:
    """Unicode NFKC, invisible format characters (zero-width, bidi controls) removed, trimmed."""
    text = unicodedata.normalize("NFKC", str(raw))
    return "".join(c for c in text if unicodedata.category(c) != "Cf").strip()


@cache
def _latin_lookalike(char: str) -> str:
    """The Latin letter or digit a non-ASCII character is confusable with (itself if none)."""
    from confusable_homoglyphs import confusables

    found = confusables.is_confusable(char, preferred_aliases=["latin", "common"], greedy=True)
    for entry in found or []:
        for glyph in entry["homoglyphs"]:
            if glyph["c"].isascii() and glyph["c"].isalnum():
                return glyph["c"]
    return char


def _collision_key(text: str) -> str:
    """What two IDs share when a reader could not tell them apart: case and look-alikes folded."""
    return "".join(c if c.isascii() else _latin_lookalike(c) for c in text).casefold()


def id_problem(text: str) -> str | None:
    """Why ``text`` (normalised) cannot be an ID that may become a file name; None if it can."""
    if not text:
        return "is empty"
    if len(text) > MAX_LENGTH:
        return f"is {len(text)} characters long (at most {MAX_LENGTH})"
    if text in (".", "..") or text.startswith("."):
        return "starts with a dot (a hidden file or a parent folder when used as a file name)"
    if text.startswith("-"):
        return "starts with a hyphen (read as an option by command-line tools)"
    bad = sorted({c for c in text if c in FORBIDDEN or unicodedata.category(c) == "Cc"})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return f"holds {shown} (path separators and control characters cannot be in an ID)"
    return None


def _describe(a: str, b: str) -> str:
    if a == b:
        return "differ only by invisible characters, spaces or character width"
    if a.casefold() == b.casefold():
        return "differ only by letter case"
    odd = sorted({c for c in a + b if not c.isascii()})
    if odd:
        names = ", ".join(f"{unicodedata.name(c, hex(ord(c)))}" for c in odd[:3])
        return f"differ only by look-alike characters ({names})"
    return "are the same ID"


def clean_ids(
    raw: Sequence[object],
    *,
    source: str,
    where: Sequence[str] | None = None,
    unique: bool = True,
) -> list[str]:
    """Normalised IDs, or :class:`RxrankInputError` naming ``source`` and the lines at fault.

    ``where`` labels each ID's place in the file (``"line 5"``, ``"column 7"``); by default the
    line of a table with a header (row i is line i + 2). With ``unique`` an ID may appear once;
    without, repeated IDs are fine but two different spellings of one ID still are not.
    """
    where = list(where) if where is not None else [f"line {i + 2}" for i in range(len(raw))]
    ids = [normalise_id(r) for r in raw]
    for i, text in enumerate(ids):
        problem = id_problem(text)
        if problem:
            raise RxrankInputError(
                f"{source}, {where[i]}: the patient ID {problem}. IDs become file names: use "
                "letters, digits and - _ . (not first), at most 100 characters, and fix that row."
            )
    first: dict[str, int] = {}
    for i, text in enumerate(ids):
        key = _collision_key(text)
        j = first.setdefault(key, i)
        if j == i:
            continue
        if ids[j] == text and not unique:
            continue
        if str(raw[j]).strip() == str(raw[i]).strip():
            raise RxrankInputError(
                f"{source}: {where[j]} and {where[i]} hold the same patient ID. Each patient may "
                "appear once: merge or delete one of them."
            )
        raise RxrankInputError(
            f"{source}: the patient IDs at {where[j]} and {where[i]} {_describe(ids[j], text)}; "
            "rxrank would take them for two patients, or one. Write both the same way if they "
            "are one patient, or make them clearly different."
        )
    return ids
