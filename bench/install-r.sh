#!/bin/sh
# R and WGCNA from Debian (bookworm: r-cran-wgcna 1.72-1) for the WGCNA parity benchmark
# (`python -m bench --only wgcna`). Not needed by rxrank or its tests. CRAN is not used.
# libopenblas0-pthread: R then multiplies matrices with OpenBLAS (as numpy does), not the
# reference BLAS that r-base-core pulls in alone, so that the timing compares like with like.
set -eu
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends r-base-core r-cran-wgcna libopenblas0-pthread
Rscript -e 'suppressPackageStartupMessages(library(WGCNA)); cat("WGCNA", format(packageVersion("WGCNA")), "\n")'
