"""Where the analyses' files land: the output patterns of the rules in workflow/rules/analysis.smk and
interpret.smk (and so the files the report reads). Plain strings: the workflow reads them at parse time."""

# per study
STUDY_SUMMARY = "results/studies/{study}/summary.csv"
STUDY_CURVES = "results/studies/{study}/curves.png"
ENVELOPE_TABLE = "results/analysis/{study}/{probe}.csv"
ENVELOPE_FIGURE = "results/analysis/{study}/{probe}.png"
# section 2.6: effective beta beside lambda_max, the Hessian's density (hyphenated: no probe's envelope is named
# so), the surface
BETA_CURVATURE_TABLE = "results/analysis/{study}/beta-vs-curvature.csv"
BETA_CURVATURE_FIGURE = "results/analysis/{study}/beta-vs-curvature.png"
CURVATURE_SUMMARY = "results/analysis/{study}/curvature-summary.csv"
DENSITY_FIGURE = "results/analysis/{study}/hessian-density.png"  # the runs' eigenvalue densities
DENSITY_SUMMARY = "results/analysis/{study}/hessian-density.csv"
SURFACE_GRID = "results/analysis/{study}/surface/{run}/epoch{epochs}/grid.csv"  # a member's: its run, its epochs
SURFACE_PATH = "results/analysis/{study}/surface/{run}/epoch{epochs}/interpolation.csv"
SURFACE_FIGURE = "results/analysis/{study}/surface/figure.png"
SURFACE_SUMMARY = "results/analysis/{study}/surface/summary.csv"
# the report's "What the runs show": every claim with our numbers and its verdict (ablate.analysis.claims)
FINDINGS = "results/analysis/findings.csv"
# tables
HYPERPARAMETERS = "results/tables/hyperparameters.csv"
PUBLISHED = "results/tables/published.csv"  # published vs reproduced (ablate.analysis.published)
ARCHITECTURE = "results/tables/architecture.csv"
# section 1.9
FILTERS = "results/interpret/filters.png"
FEATURE_MAPS = "results/interpret/feature_maps.png"
