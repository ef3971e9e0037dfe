"""What each column of the ranked table means, in one place: the table's legend above it, the
column headers' tooltips and the glossary of the methods section all read from here."""

from __future__ import annotations

__all__ = ["ranking_glossary"]


def ranking_glossary(metric: str) -> list[tuple[str, str, str]]:
    """``(key, term, explanation)`` for every column of the ranked table, in column order."""
    return [
        ("rank", "Rank", "1 = the best-supported option for this patient."),
        ("drug", "Drug", "The drug, with its pathway from the drug annotations."),
        (
            "tier",
            "Tier",
            "A to D, from the kind of evidence (definitions below the table); "
            "D: the drug's model does not beat the naive baselines.",
        ),
        (
            "score",
            "Score",
            "Weighted sum of the standardised evidence components (sensitivity, model reliability, "
            "target expression, survival, module, genomic); higher = stronger support. Only its order "
            "matters; the weights are ranking.weights in the config.",
        ),
        (
            "predicted",
            f"Predicted {metric}",
            f"This patient's {metric} predicted by the drug's model from the tumour's expression, "
            "with its 90% prediction interval (split-conformal, from the cell lines' held-out "
            "errors). Lower = more sensitive.",
        ),
        (
            "percentile",
            "Ref. lines at least as sensitive",
            "Share of the reference cell lines whose measured response is at least as sensitive "
            "as this prediction: lower = this tumour is predicted more sensitive than most lines.",
        ),
        (
            "cv_r",
            "Model CV r",
            "Cross-validated Pearson r between the measured and the predicted response of cell "
            "lines the model did not see (0 = no skill, 1 = perfect).",
        ),
        (
            "beats_baseline",
            "Beats baseline",
            "yes when the model's held-out error is below both naive baselines (each drug's mean "
            "response and its mean per tissue) and its held-out r is positive and significant.",
        ),
        (
            "target_z",
            "Target z",
            "Expression of the drug's target genes in this tumour, in standard deviations from "
            "the cohort mean (the genes are listed below the value).",
        ),
        (
            "hr",
            "Survival HR",
            "Hazard ratio of cohort patients given this drug against the reference arm, from the "
            "survival model, with its 95% interval; below 1 = treated patients did better.",
        ),
        (
            "module",
            "Module evidence",
            "The co-expression module most associated with the drug's predicted sensitivity "
            "across the cohort, e.g. M2 (r=0.20): module M2, Pearson r 0.20 between its eigengene "
            "and the predicted response. The component is this patient's eigengene, signed "
            "towards sensitivity.",
        ),
        (
            "genomic",
            "Genomic evidence",
            "A feature this patient carries (from the mutation or call files) and its "
            "tissue-adjusted effect across the reference cell lines: how much lower (more "
            f"sensitive) or higher the {metric} of lines with it is than of lines without, in the "
            "same tissue. Shown when its Benjamini-Hochberg q is at most ranking.genomic_q.",
        ),
        ("flags", "Flags", "Warnings about this drug's evidence, e.g. no reliable model."),
    ]
