# R side of the WGCNA parity benchmark (bench/wgcna.py): run by Rscript, never by the tests.
#
# Usage: Rscript wgcna_parity.R MATRIX N_SAMPLES N_GENES OUTDIR POWER MAX_BLOCK MIN_MODULE
#                               MERGE_CUT DEEP_SPLIT MIN_KME THREADS MODE
# MATRIX: little-endian float64, gene-major (all samples of gene 1, then gene 2, ...).
# POWER: a number, or NA to use pickSoftThreshold's estimate. MODE: pick (soft threshold only),
# modules (blockwiseModules only, POWER required) or both.
# Writes into OUTDIR: result.tsv (key, value), and with pick fit.tsv, with modules labels.txt
# (numeric module label per gene, 0 = grey) and eigengenes.tsv (samples x modules).
# Times are R's own elapsed seconds of each WGCNA call (R start-up and reading excluded); peak
# memory is the increase of the process's kernel high-water mark (VmHWM, reset before the call)
# over its resident size just before it, as bench/measure.py does for Python peers.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 12) stop("expected 12 arguments, got ", length(args))
in_file <- args[1]
n <- as.integer(args[2])
g <- as.integer(args[3])
out_dir <- args[4]
power <- suppressWarnings(as.numeric(args[5]))
max_block <- as.integer(args[6])
min_module <- as.integer(args[7])
merge_cut <- as.numeric(args[8])
deep_split <- as.integer(args[9])
min_kme <- as.numeric(args[10])
threads <- as.integer(args[11])
mode <- args[12]

suppressPackageStartupMessages(library(WGCNA))
if (nzchar(Sys.getenv("RXRANK_WGCNA_NO_GC"))) {
  # quick mode of the benchmark: WGCNA's collectGarbage() (gc() until the heap stops changing,
  # called over and over; about 15 s per run here whatever the size) does nothing
  assignInNamespace("collectGarbage", function() invisible(NULL), ns = "WGCNA")
}
if (threads >= 2) {
  gc.time(TRUE)
invisible(capture.output(enableWGCNAThreads(nThreads = threads)))
} else {
  disableWGCNAThreads()
}
options(stringsAsFactors = FALSE)

x <- matrix(readBin(in_file, "double", n * g, endian = "little"), nrow = n, ncol = g)
colnames(x) <- sprintf("g%d", seq_len(g))
rownames(x) <- sprintf("s%d", seq_len(n))

status_bytes <- function(field) {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  if (length(line) == 0) return(NA_real_)
  as.numeric(strsplit(trimws(sub(paste0(field, ":"), "", line)), " +")[[1]][1]) * 1024
}
measure <- function(expr) {
  invisible(gc())
  before <- status_bytes("VmRSS")
  reset <- tryCatch({ cat("5", file = "/proc/self/clear_refs"); TRUE }, error = function(e) FALSE)
  gc0 <- gc.time()[3]
  t <- system.time(value <- force(expr), gcFirst = FALSE)[["elapsed"]]
  peak <- if (reset) status_bytes("VmHWM") - before else NA_real_
  # WGCNA calls gc() repeatedly (collectGarbage); the share of the time spent there is reported
  list(value = value, seconds = t, peak = peak, gc = gc.time()[3] - gc0)
}

result <- list(wgcna_version = as.character(packageVersion("WGCNA")),
               r_version = paste(R.version$major, R.version$minor, sep = "."))
if (mode %in% c("pick", "both")) {
  m <- measure(pickSoftThreshold(x, powerVector = 1:20, RsquaredCut = 0.8,
                                 networkType = "signed", verbose = 0))
  sft <- m$value
  fit <- sft$fitIndices
  write.table(data.frame(power = fit$Power, sft_r2 = fit$SFT.R.sq, slope = fit$slope,
                         mean_k = fit$mean.k.),
              file.path(out_dir, "fit.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
  result$power_estimate <- sft$powerEstimate
  result$pick_seconds <- m$seconds
  if (is.na(power)) power <- sft$powerEstimate
}
if (mode %in% c("modules", "both")) {
  if (is.na(power)) stop("no power: give one, or use MODE both with a power estimate")
  m <- measure(blockwiseModules(
    x, power = power, networkType = "signed", TOMType = "unsigned", maxBlockSize = max_block,
    minModuleSize = min_module, deepSplit = deep_split, mergeCutHeight = merge_cut,
    minKMEtoStay = min_kme, numericLabels = TRUE, saveTOMs = FALSE, nThreads = threads,
    verbose = 0
  ))
  net <- m$value
  writeLines(as.character(net$colors), file.path(out_dir, "labels.txt"))
  write.table(net$MEs, file.path(out_dir, "eigengenes.tsv"), sep = "\t", quote = FALSE,
              row.names = FALSE)
  result$power_used <- power
  result$modules_seconds <- m$seconds
  result$modules_peak_bytes <- m$peak
  result$modules_gc_seconds <- m$gc
  result$n_blocks <- length(net$blockGenes)
}
write.table(data.frame(key = names(result), value = unlist(lapply(result, as.character))),
            file.path(out_dir, "result.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
