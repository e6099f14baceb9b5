"""Stage 4, analysis: what the rules compute from run directories, each into its own file (layout): a study's
members and their declared files (members), its summary table (summary), Table 1 (hyperparameters), the
published numbers beside ours (published), the probes' bands over runs (envelopes), the ResNets' architecture
table (architecture), the interpretation figures (interpret), every figure's drawing (figures), section
2.6's surfaces (surface, run_surface), tables (curvature_tables), figures (curvature_figures) and Hessian
densities (density), and the claims of the original set against the runs (claims, findings)."""
