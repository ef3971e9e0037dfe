"""A fitted reference model that applies to any cohort, saved as arrays and loaded with checks.

The model folder holds ``model.npz`` (harmoniser, model arrays, the reference lines' measured
responses for percentiles, the conformal half-widths, the settings as JSON), ``metrics.tsv`` (the
cross-validation against the baselines that the ranking and the reports cite) and ``metadata.json``
(provenance, and the SHA-256 of both files). No pickles: loading never runs code. A file whose
checksum differs from the one recorded is refused, and so is a reference that is not the one the
model was trained on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..harmonise import Harmoniser
from ..io import RxrankInputError, atomic_path, file_sha256, read_output_tsv, write_tsv
from ._models import model_kind
from ._predict import predict_patients

log = logging.getLogger(__name__)

FORMAT = 2  # the layout of model.npz; bump when it changes
FILES = ("model.npz", "metrics.tsv")
#: a cohort may lack at most this share of the model's genes (standardise; they map to z = 0)
MAX_MISSING_GENES = 0.2


def training_checksum(X: np.ndarray, Y: np.ndarray) -> str:
    """SHA-256 of the training matrices (lines x genes expression, lines x drugs responses)."""
    h = hashlib.sha256()
    for a in (X, np.nan_to_num(Y, nan=-1e300)):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()


@dataclass
class FittedModel:
    """Everything needed to predict a new cohort without retraining (see the module docstring).

    ``genes`` are the harmoniser's input genes; ``reference_response`` the lines x drugs measured
    responses (NaN = not measured) that percentiles and z-scores are taken against.
    """

    name: str
    genes: list[str]
    harmoniser: Harmoniser
    arrays: dict[str, np.ndarray]
    reference_response: pd.DataFrame
    halfwidth: pd.Series
    metrics: pd.DataFrame
    metadata: dict = field(default_factory=dict)
    tissues: pd.Series | None = None
    reference_tissue: str | None = None

    @property
    def drugs(self) -> list[str]:
        return list(self.reference_response.columns)

    @property
    def predictor(self):
        """The restored predictor (``predict(X)`` over all drugs)."""
        if not hasattr(self, "_predictor"):
            self._predictor = model_kind(self.name).from_arrays(self.arrays)
        return self._predictor

    def _cohort_matrix(self, patients: pd.DataFrame, source: str) -> np.ndarray:
        kept = np.asarray(self.genes)[self.harmoniser.keep_]
        missing = pd.Index(kept).difference(patients.columns)
        allowed = (
            int(MAX_MISSING_GENES * len(kept)) if self.harmoniser.method == "standardise" else 0
        )
        if len(missing) > allowed:
            raise RxrankInputError(
                f"{source} lacks {len(missing)} of the model's {len(kept)} genes (e.g. "
                f"{list(missing[:3])}); this {self.harmoniser.method} model can do without at most "
                f"{allowed}. Check the gene identifiers, or rerun the sensitivity stage with this "
                "cohort."
            )
        if len(missing):
            log.warning(
                "%s lacks %d of the model's %d genes; they are set to the reference mean (z = 0)",
                source,
                len(missing),
                len(kept),
            )
        # float32, as the sensitivity stage reads the profiled cohort: the same numbers either way
        if list(patients.columns) == list(self.genes):
            return patients.to_numpy(np.float32, copy=False)
        return patients.reindex(columns=self.genes, fill_value=0.0).to_numpy(np.float32)

    def predict(self, patients: pd.DataFrame, *, source: str = "the cohort") -> pd.DataFrame:
        """Every patient x drug of a samples x genes log-expression frame (a new cohort)."""
        Z = self._cohort_matrix(patients, source)
        return predict_patients(
            self.predictor,
            self.harmoniser.for_target(Z),
            Z,
            patient_ids=patients.index,
            Y=self.reference_response,
            halfwidth=self.halfwidth,
            tissues=self.tissues,
            reference_tissue=self.reference_tissue,
        )

    def check_reference(self, lines: pd.DataFrame, response: pd.DataFrame) -> None:
        """Refuse unless ``lines`` (lines x genes) and the long ``response`` table are the data
        the model was trained on (the checksum recorded when it was fitted)."""
        missing = pd.Index(self.genes).difference(lines.columns)
        X = lines.reindex(columns=self.genes).to_numpy(np.float64)
        wide = response.pivot_table(index="cell_line", columns="drug", values="value")
        Y = wide.reindex(index=lines.index, columns=self.drugs).to_numpy(np.float64)
        if len(missing) or training_checksum(X, Y) != self.metadata.get("training_data_sha256"):
            raise RxrankInputError(
                "the saved model was not trained on the reference given here (training data "
                "checksum differs); use the model fitted on this reference, or refit it."
            )

    # ----------------------------------------------------------------------------- storage
    def save(self, outdir: str | Path) -> None:
        """Write the model folder; ``metadata.json`` last, with the checksums of the others."""
        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        h = self.harmoniser
        settings = {
            "format": FORMAT,
            "model": self.name,
            "harmoniser": h.to_dict(),
            "reference_tissue": self.reference_tissue,
        }
        ref = self.reference_response
        arrays = {
            "settings": np.array(json.dumps(settings, sort_keys=True)),
            "input_genes": np.asarray(self.genes, dtype=str),
            "genes": np.asarray(self.genes, dtype=str)[h.keep_],
            "drugs": np.asarray(ref.columns, dtype=str),
            "lines": np.asarray(ref.index, dtype=str),
            "reference_response": ref.to_numpy(np.float64),
            "halfwidth": self.halfwidth.reindex(ref.columns).to_numpy(np.float64),
            **{f"harmoniser/{k}": v for k, v in h.parameters().items()},
            **{f"model/{k}": v for k, v in self.arrays.items()},
        }
        if self.tissues is not None:
            arrays["line_tissues"] = self.tissues.reindex(ref.index).fillna("").to_numpy(str)
        with atomic_path(outdir / "model.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        write_tsv(self.metrics, outdir / "metrics.tsv")
        meta = {**self.metadata, "files": {f: file_sha256(outdir / f) for f in FILES}}
        with atomic_path(outdir / "metadata.json") as tmp:
            tmp.write_text(json.dumps(meta, indent=2, default=str))


def load_model(
    model_dir: str | Path, *, reference: tuple[pd.DataFrame, pd.DataFrame] | None = None
) -> FittedModel:
    """The model saved in ``model_dir``, after checking every file against its recorded SHA-256.

    With ``reference`` (lines x genes expression, long response table) the model is also refused
    unless it was trained on exactly those data (:meth:`FittedModel.check_reference`).
    """
    model_dir = Path(model_dir)
    meta_path = model_dir / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text())
        recorded = meta["files"]
    except FileNotFoundError:
        raise RxrankInputError(
            f"{model_dir} holds no metadata.json, so it is not a saved rxrank model; point "
            "--model at the sensitivity stage's model folder (results/sensitivity/model)."
        ) from None
    except (ValueError, KeyError, TypeError):
        raise RxrankInputError(
            f"{meta_path} is not the metadata of an rxrank model (unreadable, or no 'files' "
            "checksums: a model saved before rxrank 0.6); rerun the sensitivity stage to save it."
        ) from None
    for name in FILES:
        path = model_dir / name
        if not path.is_file():
            raise RxrankInputError(f"{path} is missing; the model folder is incomplete.")
        if file_sha256(path) != recorded.get(name):
            raise RxrankInputError(
                f"{path} differs from the file the model was saved with (SHA-256 mismatch): it was "
                "modified or damaged. Refit the model with the sensitivity stage; do not edit it."
            )
    with np.load(model_dir / "model.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    settings = json.loads(str(arrays.pop("settings")))
    if settings.get("format") != FORMAT:
        raise RxrankInputError(
            f"{model_dir} was saved in model format {settings.get('format')}; this rxrank reads "
            f"format {FORMAT}. Refit the model with this version's sensitivity stage."
        )
    drugs, lines = list(arrays.pop("drugs")), list(arrays.pop("lines"))
    harmoniser = Harmoniser.from_saved(
        settings["harmoniser"],
        {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("harmoniser/")},
    )
    tissues = arrays.get("line_tissues")
    model = FittedModel(
        name=settings["model"],
        genes=[str(g) for g in arrays["input_genes"]],
        harmoniser=harmoniser,
        arrays={k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("model/")},
        reference_response=pd.DataFrame(arrays["reference_response"], index=lines, columns=drugs),
        halfwidth=pd.Series(arrays["halfwidth"], index=drugs, name="halfwidth"),
        metrics=read_output_tsv(model_dir / "metrics.tsv"),
        metadata=meta,
        tissues=None if tissues is None else pd.Series(tissues, index=lines).replace("", np.nan),
        reference_tissue=settings.get("reference_tissue"),
    )
    if reference is not None:
        model.check_reference(*reference)
    return model
