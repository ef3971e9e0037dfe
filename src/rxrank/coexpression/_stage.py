"""The modules stage's entry point: co-expression modules of the profiled cohort, nothing else.

It needs only the cohort, so it runs beside the sensitivity stage; the module-trait tests on its
eigengenes are the associations stage's (:func:`rxrank.associations.run_associations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anndata as ad
import pandas as pd

from ..config import CorrelationParams
from ._kernels import top_neighbours
from ._modules import find_modules, hub_genes

__all__ = ["run_modules"]


def run_modules(
    cohort: ad.AnnData, *, params: CorrelationParams | Mapping[str, Any] | None = None
) -> dict[str, pd.DataFrame]:
    """Find the cohort's co-expression modules; returns frames keyed by output file name.

    ``modules.tsv``, ``hub_genes.tsv``, ``eigengenes.tsv`` (patient_id column first) and
    ``soft_threshold.tsv``; ``neighbours.tsv`` too when ``params.neighbours`` > 0. ``params`` is
    the ``correlation`` section (:class:`rxrank.config.CorrelationParams` or its mapping); the
    parameters used, with those :func:`find_modules` chose, are in each frame's
    ``.attrs["params"]``.
    """
    if not isinstance(params, CorrelationParams):
        params = CorrelationParams.from_config(params)
    result = find_modules(
        cohort,
        n_genes=params.n_genes,
        power=params.power,
        powers=list(params.powers),
        r2_cut=params.r2_cut,
        signed=params.signed,
        min_module_size=params.min_module_size,
        merge_cut_height=params.merge_cut_height,
        deep_split=params.deep_split,
        min_kme=params.min_kme,
        block_size=params.block_size,
        max_block_size=params.max_block_size,
        min_samples=params.min_samples,
        seed=params.seed,
        pam_stage=params.pam_stage,
    )
    out = {
        "modules.tsv": result.modules,
        "hub_genes.tsv": hub_genes(result.modules, params.hub_genes),
        "eigengenes.tsv": result.eigengenes.reset_index(),
        "soft_threshold.tsv": result.soft_threshold,
    }
    if params.neighbours > 0:  # top-k co-expressed genes of each network gene
        genes = result.modules["gene"].tolist()
        x = cohort[:, genes].to_df()
        out["neighbours.tsv"] = top_neighbours(x, params.neighbours, block_size=params.block_size)
    used = {**params.to_dict(), **result.params}
    for frame in out.values():
        frame.attrs["params"] = used
    return out
