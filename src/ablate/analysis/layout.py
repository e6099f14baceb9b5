"""Where the analyses' files land: the output patterns of the rules in workflow/rules/analysis.smk and
interpret.smk (and so the files the report reads). Plain strings: the workflow reads them at parse time. Those the
report shows are its exhibits' files, declared in ablate/exhibits.yaml; the rest are their rules' other outputs."""

from ablate.exhibits import EXHIBITS

# per study
STUDY_SUMMARY = EXHIBITS["summary"].file
STUDY_CURVES = EXHIBITS["curves"].file
ENVELOPE_TABLE = "results/analysis/{study}/{probe}.csv"
ENVELOPE_FIGURE = EXHIBITS["envelope"].file
# section 2.6: effective beta beside lambda_max, the Hessian's density, the surface
BETA_CURVATURE_TABLE = "results/analysis/{study}/beta-vs-curvature.csv"
BETA_CURVATURE_FIGURE = EXHIBITS["beta_vs_curvature"].file
CURVATURE_SUMMARY = EXHIBITS["curvature_summary"].file
DENSITY_FIGURE = EXHIBITS["density"].file  # the runs' eigenvalue densities
DENSITY_SUMMARY = EXHIBITS["density_summary"].file
SURFACE_GRID = "results/analysis/{study}/surface/{run}/epoch{epochs}/grid.csv"  # a member's: its run, its epochs
SURFACE_PATH = "results/analysis/{study}/surface/{run}/epoch{epochs}/interpolation.csv"
SURFACE_FIGURE = EXHIBITS["surface"].file
SURFACE_SUMMARY = EXHIBITS["surface_summary"].file
# the report's "What the runs show": every claim with our numbers and its verdict (ablate.analysis.claims)
FINDINGS = EXHIBITS["findings"].file
# tables
HYPERPARAMETERS = EXHIBITS["hyperparameters"].file
PUBLISHED = EXHIBITS["published"].file  # published vs reproduced (ablate.analysis.published)
ARCHITECTURE = EXHIBITS["architecture"].file
# section 1.9
FILTERS = EXHIBITS["filters"].file
FEATURE_MAPS = EXHIBITS["feature_maps"].file
