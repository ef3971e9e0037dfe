"""WGCNA-style co-expression: correlation kernels, soft threshold, tree cut, modules, eigengenes.

>>> from rxrank.coexpression import find_modules, hub_genes  # doctest: +SKIP
>>> result = find_modules(adata, n_genes=1000)  # doctest: +SKIP
>>> hubs = hub_genes(result.modules, top=10)  # doctest: +SKIP

:func:`run_modules` is the workflow's modules stage (``rxrank modules``): it needs only the cohort.

Module-trait and gene-drug associations live in :mod:`rxrank.associations`, which builds on this
package (never the reverse).
"""

from __future__ import annotations

from ._blocks import gene_blocks
from ._kernels import bh, corr, top_neighbours
from ._modules import ModuleResult, eigengenes, find_modules, hub_genes
from ._network import pick_soft_threshold
from ._stage import run_modules
from ._treecut import dynamic_tree_cut

__all__ = [
    "ModuleResult",
    "bh",
    "corr",
    "dynamic_tree_cut",
    "eigengenes",
    "find_modules",
    "gene_blocks",
    "hub_genes",
    "pick_soft_threshold",
    "run_modules",
    "top_neighbours",
]
