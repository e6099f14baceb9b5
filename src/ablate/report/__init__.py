"""Stage 5, the report: one self-contained HTML page from the analyses' files (render, templates/)."""
