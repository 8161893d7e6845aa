"""Data quality: Great Expectations suites (``expectations/*.json``) validated where the
data lives (DuckDB, through GX's SQL engine), plus the row rules that quarantine bad
rows (``expectations/rules/``, applied by ``wlz_pipeline.models``)."""
