"""Where the analyses' files land: the output patterns of the rules in workflow/rules/analysis.smk and
interpret.smk (and so the files the report reads). Plain strings: the workflow reads them at parse time."""

# per study
STUDY_SUMMARY = "results/studies/{study}/summary.csv"
STUDY_CURVES = "results/studies/{study}/curves.png"
ENVELOPE_TABLE = "results/analysis/{study}/{probe}.csv"
ENVELOPE_FIGURE = "results/analysis/{study}/{probe}.png"
# tables
HYPERPARAMETERS = "results/tables/hyperparameters.csv"
PUBLISHED = "results/tables/published.csv"  # published vs reproduced (ablate.analysis.published)
ARCHITECTURE = "results/tables/architecture.csv"
# section 1.9
FILTERS = "results/interpret/filters.png"
FEATURE_MAPS = "results/interpret/feature_maps.png"
