"""What every command shares: the parameters, the profiled cohort as a frame, the reference."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io

log = logging.getLogger("rxrank")


def _params(text: str | None) -> dict:
    return json.loads(text) if text else {}


def _read_json(path: str) -> dict:
    with io.reading(path, "intermediate", io.REBUILD_FIX):
        return json.loads(Path(path).read_text())


def _log_frame(adata) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(adata.X), index=adata.obs_names, columns=adata.var_names)


def _read_reference(args, params: dict):
    """The reference lines x genes (log scale) and responses; a bundle's expression (the reference
    stage writes one) is read as the bundle says, whatever the config says of the downloads."""
    from ..bundle import FILES, bundle_params, is_bundle
    from ..config import ReferenceParams
    from ..profiling import normalise

    params = ReferenceParams.from_config(params)
    folder = Path(args.reference_expression).parent
    if Path(args.reference_expression).name == FILES["expression"] and is_bundle(folder):
        params = bundle_params(folder)
    ref = io.read_expression(args.reference_expression, **params.expression_options())
    normalise(ref, expression_type=params.expression_type)
    response = io.read_response(args.response, value_column="value")
    return _log_frame(ref), response
