"""Input checks of the survival stage: survival time/event columns and collinear designs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from rxrank.io import RxrankInputError

log = logging.getLogger(__name__)


def check_survival_data(
    clinical: pd.DataFrame, *, time_column: str, event_column: str, source: str = "clinical table"
) -> None:
    """Raise one message per problem in the survival columns, naming the file, the rows and the fix:
    missing time or event, negative (or zero) times, events other than 0/1."""

    def rows(mask: pd.Series) -> str:
        ids = [str(i) for i in mask[mask].index[:10]]
        more = f" and {int(mask.sum()) - 10} more" if mask.sum() > 10 else ""
        return f"{int(mask.sum())} row(s): {', '.join(ids)}{more}"

    for col in (time_column, event_column):
        if col not in clinical.columns:
            raise RxrankInputError(
                f"{source} has no column {col!r} (columns {list(clinical.columns)[:12]}); set "
                "`cohort.time_column` / `cohort.event_column` in the config."
            )
    time = pd.to_numeric(clinical[time_column], errors="coerce")
    event = pd.to_numeric(clinical[event_column], errors="coerce")
    raw_event = clinical[event_column]
    words = raw_event.notna() & event.isna()
    if words.any():
        values = sorted({str(v) for v in raw_event[words]})[:5]
        raise RxrankInputError(
            f"{source}: event column {event_column!r} holds text {values} in {rows(words)}; it "
            "must be 1 (event) or 0 (censored). Recode it, e.g. yes/dead/relapse -> 1 and "
            "no/alive/censored -> 0."
        )
    infinite = np.isinf(time)
    if infinite.any():
        raise RxrankInputError(
            f"{source}: survival time {time_column!r} is infinite in {rows(infinite)}. Use the "
            "last follow-up time of these patients, with event 0 (censored)."
        )
    missing = time.isna() | event.isna()
    if missing.any():
        raise RxrankInputError(
            f"{source}: survival time {time_column!r} or event {event_column!r} is missing or "
            f"not a number in {rows(missing)}. Fill them in from the source records, or remove "
            "these patients from the clinical table (they cannot enter a survival model)."
        )
    negative = time < 0
    if negative.any():
        raise RxrankInputError(
            f"{source}: negative survival time in column {time_column!r} in {rows(negative)}. "
            "Times run from diagnosis (or study entry) to event or last follow-up; check for a "
            "date subtraction in the wrong order and correct these rows."
        )
    zero = time == 0
    if zero.any():
        raise RxrankInputError(
            f"{source}: survival time 0 in column {time_column!r} in {rows(zero)}. Cox models "
            "need positive times: use the true follow-up (e.g. 0.5 days in your unit) or remove "
            "these rows."
        )
    bad = ~event.isin([0, 1])
    if bad.any():
        values = sorted({str(v) for v in clinical.loc[bad, event_column]})[:5]
        raise RxrankInputError(
            f"{source}: event column {event_column!r} must be 0 (censored) or 1 (event), but has "
            f"{values} in {rows(bad)}. Recode these rows (e.g. 1/2 coding: 2 -> 1 event, "
            "1 -> 0 censored)."
        )


def _check_collinear(X: pd.DataFrame, *, tol: float = 1e-8) -> None:
    """Raise when a design column is (almost exactly) a linear combination of the others."""
    Z = X.to_numpy(dtype=float)
    Z = (Z - Z.mean(0)) / Z.std(0)
    kept: list[int] = []
    for k in range(Z.shape[1]):
        if kept:
            A = Z[:, kept]
            coef, *_ = np.linalg.lstsq(A, Z[:, k], rcond=None)
            resid = Z[:, k] - A @ coef
            if resid.var() < tol:
                partners = [X.columns[kept[i]] for i in np.flatnonzero(np.abs(coef) > 1e-6)]
                raise RxrankInputError(
                    f"survival covariate {X.columns[k]!r} is collinear with {partners} in the "
                    f"{len(X)} patients analysed (it is a linear combination of them), so their "
                    "effects cannot be separated. Drop one of them from `cohort.covariates` / "
                    "`survival.features`, or merge the categories that coincide."
                )
        kept.append(k)
