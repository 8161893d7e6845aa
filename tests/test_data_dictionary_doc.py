"""docs/data_dictionary.md (linked from the README's table list) is what the sample's
publication says about itself: regenerate it with `make docs` when a table or a
description changes."""

from __future__ import annotations

from pathlib import Path

import duckdb

from wlz_pipeline.dictionary import dictionary_markdown

DOC = Path(__file__).parent.parent / "docs" / "data_dictionary.md"


def test_the_committed_data_dictionary_is_the_publications(sample_run):
    con = duckdb.connect(str(sample_run.warehouse.parent / "wlz_bi.duckdb"), read_only=True)
    try:
        published = con.execute(
            "SELECT DISTINCT table_name FROM bi.data_dictionary ORDER BY 1"
        ).fetchall()
        expected = dictionary_markdown(con)
    finally:
        con.close()
    # every published table has a section (and the payment tables are among them)
    assert {"payment_ledger", "risk_profile", "dim_child"} <= {t for (t,) in published}
    text = DOC.read_text(encoding="utf-8")
    for (table,) in published:
        assert f"\n## {table}\n" in text, f"{table} is missing: run `make docs`"
    assert text == expected, "docs/data_dictionary.md is out of date: run `make docs`"
