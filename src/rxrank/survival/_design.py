"""Cox design matrix: :class:`Design` learns the covariate encoding on the cohort and applies it
unchanged to new patients."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import pandas as pd

from rxrank.io import RxrankInputError

from ._checks import _check_collinear

log = logging.getLogger(__name__)


class Design:
    """Covariate encoding learned on a cohort (one-hot categoricals, standardised numerics);
    ``fit`` learns levels, references, means and SDs; ``transform`` applies them to any patients."""

    def __init__(
        self,
        *,
        covariates: Sequence[str],
        categorical: Sequence[str] | None = None,
        references: Mapping[str, str] | None = None,
    ) -> None:
        self.covariates = list(covariates)
        self.categorical = list(categorical or [])
        self.references = dict(references or {})

    @staticmethod
    def _joined(clinical: pd.DataFrame, features: pd.DataFrame | None, covariates: list[str]):
        missing = [c for c in covariates if c not in clinical.columns]
        if missing:
            raise RxrankInputError(
                f"survival covariate(s) {missing} are not columns of the clinical table "
                f"(it has {list(clinical.columns)[:12]}). Fix `covariates` in the config."
            )
        frame = clinical[covariates].copy()
        frame.index = frame.index.astype(str)
        if features is not None and features.shape[1]:
            clash = [c for c in features.columns if c in frame.columns]
            if clash:
                raise RxrankInputError(
                    f"feature column(s) {clash} have the same name as clinical covariates; rename "
                    "one of them."
                )
            feats = features.copy()
            feats.index = feats.index.astype(str)
            lost = frame.index.difference(feats.index)
            if len(lost):
                log.warning(
                    "%d patient(s) have clinical data but no features and are left out, e.g. %s",
                    len(lost),
                    list(lost[:3]),
                )
            frame = frame.join(feats, how="inner")
        return frame

    def fit(self, clinical: pd.DataFrame, features: pd.DataFrame | None = None) -> Design:
        """Learn levels and standardisation from the cohort; returns ``self``."""
        frame = self._joined(clinical, features, self.covariates)
        frame = self._complete(frame)
        frame = _numbers_as_numbers(frame, self.categorical)
        self.columns_in_ = list(frame.columns)
        self.categorical_ = [
            c
            for c in frame.columns
            if c in self.categorical
            or not pd.api.types.is_numeric_dtype(frame[c])
            or pd.api.types.is_bool_dtype(frame[c])
        ]
        self.levels_: dict[str, list[str]] = {}
        self.reference_: dict[str, str] = {}
        self.means_: dict[str, float] = {}
        self.sds_: dict[str, float] = {}
        for col in frame.columns:
            if col in self.categorical_:
                values = frame[col].astype(str)
                levels = sorted(values.unique())
                if len(levels) < 2:
                    raise RxrankInputError(
                        f"survival covariate {col!r} has a single level ({levels[0]!r}) in the "
                        f"{len(values)} patients analysed; it cannot be estimated. Drop it from "
                        "`cohort.covariates` / `survival.features`."
                    )
                ref = str(self.references.get(col, levels[0]))
                if ref not in levels:
                    raise RxrankInputError(
                        f"reference level {ref!r} of covariate {col!r} is not among its levels "
                        f"{levels}."
                    )
                self.levels_[col] = levels
                self.reference_[col] = ref
            else:
                values = pd.to_numeric(frame[col]).astype(float)
                sd = float(values.std(ddof=0))
                if not sd > 0:
                    raise RxrankInputError(
                        f"survival covariate {col!r} takes a single value ({values.iloc[0]!r}) in "
                        f"the {len(values)} patients analysed; it cannot be estimated. Drop it from "
                        "`cohort.covariates` / `survival.features`."
                    )
                self.means_[col] = float(values.mean())
                self.sds_[col] = sd
        self.columns_ = [
            name
            for col in self.columns_in_
            for name in (
                [f"{col}={lv}" for lv in self.levels_[col] if lv != self.reference_[col]]
                if col in self.levels_
                else [col]
            )
        ]
        _check_collinear(self.transform(clinical, features))
        return self

    def _complete(self, frame: pd.DataFrame) -> pd.DataFrame:
        incomplete = frame.isna().any(axis=1)
        if incomplete.any():
            log.warning(
                "%d patient(s) with missing covariate values are left out, e.g. %s",
                int(incomplete.sum()),
                list(frame.index[incomplete][:3]),
            )
            frame = frame.loc[~incomplete]
        if frame.empty:
            raise RxrankInputError(
                "no patient has every survival covariate and feature; check that patient IDs of "
                "the clinical table and the features match."
            )
        return frame

    def transform(
        self, clinical: pd.DataFrame, features: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Encode patients with learned levels and scaling (rows with missing values dropped)."""
        if not hasattr(self, "levels_"):
            raise RuntimeError("Design.transform called before fit")
        feats = None
        if features is not None:
            feats = features[[c for c in self.columns_in_ if c in features.columns]]
        frame = self._complete(self._joined(clinical, feats, self.covariates))
        parts: list[pd.Series] = []
        for col in self.columns_in_:
            if col not in frame.columns:
                raise RxrankInputError(
                    f"column {col!r} used to fit the survival design is missing."
                )
            if col in self.levels_:
                values = frame[col].astype(str)
                unseen = sorted(set(values) - set(self.levels_[col]))
                if unseen:
                    raise RxrankInputError(
                        f"covariate {col!r} has level(s) {unseen} not seen when the survival model "
                        f"was fitted (levels {self.levels_[col]})."
                    )
                for level in self.levels_[col]:
                    if level != self.reference_[col]:
                        parts.append((values == level).astype(float).rename(f"{col}={level}"))
            else:
                values = pd.to_numeric(frame[col]).astype(float)
                parts.append(((values - self.means_[col]) / self.sds_[col]).rename(col))
        out = pd.concat(parts, axis=1)
        out.index.name = "patient_id"
        return out

    def fit_transform(
        self, clinical: pd.DataFrame, features: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Fit on the cohort and return its encoded design matrix."""
        return self.fit(clinical, features).transform(clinical, features)

    def to_dict(self) -> dict:
        """JSON-ready record of the learned encoding (for provenance)."""
        return {
            "levels": self.levels_,
            "reference": self.reference_,
            "means": self.means_,
            "sds": self.sds_,
        }


def design_matrix(
    clinical: pd.DataFrame,
    features: pd.DataFrame | None,
    *,
    covariates: list[str],
    categorical: list[str] | None = None,
) -> pd.DataFrame:
    """Numeric Cox design of the cohort: one-hot categoricals (first sorted level dropped), z-scored
    numerics. Non-numeric columns are categorical; :class:`Design` keeps the transform for reuse."""
    return Design(covariates=covariates, categorical=categorical).fit_transform(clinical, features)


def _numbers_as_numbers(frame: pd.DataFrame, categorical) -> pd.DataFrame:
    """Columns of numbers written as text are numbers; a column of numbers with a few words
    ('n/a', 'unknown') would silently become a category with one level per number: refused,
    naming the column and the words."""
    frame = frame.copy()
    for col in frame.columns:
        if col in categorical or pd.api.types.is_numeric_dtype(frame[col]):
            continue
        if pd.api.types.is_bool_dtype(frame[col]):
            continue
        text = frame[col].astype(str).str.strip()
        numbers = pd.to_numeric(text, errors="coerce")
        words = sorted(set(text[numbers.isna()]))
        if not words:
            frame[col] = numbers
        elif numbers.notna().mean() >= 0.8:
            raise RxrankInputError(
                f"survival covariate {col!r} holds numbers except {int(numbers.isna().sum())} "
                f"value(s) {words[:5]}: write a missing value as an empty cell or NA (those "
                "patients are then left out, as the check reports)."
            )
    return frame
