"""Stage 4, analysis: per-study tables (tables), the probes' bands over runs (envelopes), the ResNets'
architecture table, the interpretation figures, and every figure's drawing (figures)."""
