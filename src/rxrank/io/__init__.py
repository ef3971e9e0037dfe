"""Readers and validation of every input table, and atomic writers for every output.

Every reader either returns a clean object or raises :class:`RxrankInputError` whose message names the
file, the row or column at fault and what to do about it. Tables are checked before they are parsed
(memory budget, field counts), so a damaged or hostile file is refused early.
"""

from ..errors import RxrankInputError
from ._expression import EXPRESSION_TYPES, expression_sample_ids, read_expression
from ._read import (
    MEMORY_ENV,
    REBUILD_FIX,
    check_fields,
    check_input_size,
    input_memory_gb,
    read_output_h5ad,
    read_output_table,
    read_output_tsv,
    read_table,
    reading,
    set_input_memory_gb,
)
from ._tables import read_binary_features, read_clinical, read_drugs, read_response, target_genes
from ._write import (
    atomic_path,
    file_sha256,
    write_outputs,
    write_parquet,
    write_table,
    write_tsv,
)

__all__ = [
    "EXPRESSION_TYPES",
    "MEMORY_ENV",
    "REBUILD_FIX",
    "RxrankInputError",
    "atomic_path",
    "check_fields",
    "check_input_size",
    "expression_sample_ids",
    "file_sha256",
    "input_memory_gb",
    "read_binary_features",
    "read_clinical",
    "read_drugs",
    "read_expression",
    "read_output_h5ad",
    "read_output_table",
    "read_output_tsv",
    "read_response",
    "read_table",
    "reading",
    "set_input_memory_gb",
    "target_genes",
    "write_outputs",
    "write_parquet",
    "write_table",
    "write_tsv",
]
