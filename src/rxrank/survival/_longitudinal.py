"""Cox model with time-varying (longitudinal) covariates on a long table of intervals."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from lifelines.exceptions import ConvergenceError

from rxrank.io import RxrankInputError

from ._checks import _check_collinear
from ._cox import _quiet_lifelines

log = logging.getLogger(__name__)

LONGITUDINAL_COLUMNS = ["covariate", "coef", "hr", "hr_lower", "hr_upper", "p"]


def time_varying_cox(
    long: pd.DataFrame,
    *,
    covariates: Sequence[str],
    id_column: str = "patient_id",
    start_column: str = "start",
    stop_column: str = "stop",
    event_column: str | None = "event",
    events: pd.Series | None = None,
    penalizer: float = 0.0,
    source: str = "longitudinal table",
) -> tuple[pd.DataFrame, dict]:
    """Cox model with time-varying covariates (lifelines ``CoxTimeVaryingFitter``) on a long table
    of (patient, start, stop, covariates...) intervals. Without an ``event_column`` the event of
    each patient (``events``: 0/1 by patient, e.g. the clinical table's) is put on their last
    interval. Coefficients are per unit of each numeric covariate; categoricals as ``name=level``
    against the first sorted level. Returns the summary and a metrics record."""
    from lifelines import CoxTimeVaryingFitter

    need = [id_column, start_column, stop_column, *covariates]
    if event_column and event_column in long.columns:
        need.append(event_column)
    missing = [c for c in need if c not in long.columns]
    if missing:
        raise RxrankInputError(
            f"{source} lacks column(s) {missing} (it has {list(long.columns)[:12]}); fix "
            "`survival.longitudinal` in the config."
        )
    df = long[need].copy()
    df[id_column] = df[id_column].astype(str)
    start = pd.to_numeric(df[start_column], errors="coerce")
    stop = pd.to_numeric(df[stop_column], errors="coerce")
    bad = start.isna() | stop.isna() | (start < 0) | (stop <= start)
    if bad.any():
        rows = [
            f"{df.at[i, id_column]} [{long.at[i, start_column]}, {long.at[i, stop_column]}]"
            for i in bad[bad].index[:10]
        ]
        raise RxrankInputError(
            f"{source}: {int(bad.sum())} interval(s) are missing or do not satisfy "
            f"0 <= {start_column} < {stop_column}: {rows}. Correct or remove these rows."
        )
    df[start_column], df[stop_column] = start.astype(float), stop.astype(float)
    df = df.sort_values([id_column, start_column], kind="stable")
    prev_stop = df.groupby(id_column)[stop_column].shift()
    overlap = prev_stop.notna() & (df[start_column] < prev_stop)
    if overlap.any():
        ids = sorted(set(df.loc[overlap, id_column]))[:10]
        raise RxrankInputError(
            f"{source}: overlapping intervals for patient(s) {ids}; each row must start at or "
            "after the previous row's stop. Merge or correct them."
        )
    if not (event_column and event_column in long.columns):
        if events is None:
            raise RxrankInputError(
                f"{source} has no event column {event_column!r} and no clinical events were "
                "given; add the column (1 on the interval that ends with the event)."
            )
        ev = pd.Series(events)
        ev.index = ev.index.astype(str)
        last = ~df[id_column].duplicated(keep="last")
        df["__event"] = 0
        df.loc[last, "__event"] = df.loc[last, id_column].map(ev).fillna(0).astype(int)
        event_column = "__event"
    df[event_column] = pd.to_numeric(df[event_column], errors="coerce")
    if not df[event_column].isin([0, 1]).all():
        raise RxrankInputError(f"{source}: column {event_column!r} must be 0 or 1.")
    X = []
    for col in covariates:
        values = df[col]
        as_number = pd.to_numeric(values, errors="coerce")
        if not pd.api.types.is_numeric_dtype(values) and as_number.notna().eq(values.notna()).all():
            values = as_number  # tables are read as text first
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            if values.nunique() < 2:
                raise RxrankInputError(
                    f"{source}: covariate {col!r} is constant; drop it from "
                    "`survival.longitudinal.covariates`."
                )
            X.append(values.astype(float).rename(col))
        else:
            levels = sorted(values.astype(str).unique())
            if len(levels) < 2:
                raise RxrankInputError(f"{source}: covariate {col!r} has one level; drop it.")
            X += [
                (values.astype(str) == lv).astype(float).rename(f"{col}={lv}") for lv in levels[1:]
            ]
    design = pd.concat(X, axis=1) if X else pd.DataFrame(index=df.index)
    if design.shape[1] > 1:
        _check_collinear(design)
    frame = pd.concat(
        [df[[id_column, start_column, stop_column, event_column]], design.dropna(axis=0)], axis=1
    ).dropna()
    try:
        with _quiet_lifelines(logging.WARNING):
            ctv = CoxTimeVaryingFitter(penalizer=penalizer).fit(
                frame,
                id_col=id_column,
                event_col=event_column,
                start_col=start_column,
                stop_col=stop_column,
            )
    except (ConvergenceError, np.linalg.LinAlgError, ValueError) as err:
        raise RxrankInputError(
            f"the time-varying Cox model did not converge with penalizer {penalizer:g} "
            f"({str(err).splitlines()[0][:200]}); set `survival.longitudinal.penalizer` to "
            f"{max(penalizer * 10, 0.1):g}."
        ) from None
    sm = ctv.summary
    summary = pd.DataFrame(
        {
            "covariate": list(sm.index),
            "coef": sm["coef"].to_numpy(),
            "hr": sm["exp(coef)"].to_numpy(),
            "hr_lower": sm["exp(coef) lower 95%"].to_numpy(),
            "hr_upper": sm["exp(coef) upper 95%"].to_numpy(),
            "p": sm["p"].to_numpy(),
        }
    )[LONGITUDINAL_COLUMNS]
    metrics = {
        "available": True,
        "n_patients": int(frame[id_column].nunique()),
        "n_intervals": len(frame),
        "events": int(frame[event_column].sum()),
        "covariates": list(design.columns),
        "penalizer": float(penalizer),
        "note": "Cox model with time-varying covariates (lifelines CoxTimeVaryingFitter); hazard "
        "ratios per unit of each numeric covariate, observational.",
    }
    return summary, metrics
