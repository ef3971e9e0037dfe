"""rxrank: per-patient treatment rankings from tumour expression, drug screens and follow-up.

Stages are modules with plain functions over AnnData and pandas objects: ``profiling``,
``coexpression``, ``associations``, ``sensitivity``, ``survival``, ``outcome``, ``ranking``, then
``report``; ``io`` reads every input, ``config`` holds every setting's default, ``cli`` wires them to
files (docs/architecture.md).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rxrank")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = ["__version__"]
