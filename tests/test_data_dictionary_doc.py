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
        columns = con.execute(
            "SELECT table_name, column_name, type, description FROM bi.data_dictionary"
        ).fetchall()
        # what the published tables really have, not what the dictionary says they have
        actual = {
            (t, c)
            for (t,) in con.execute("SELECT DISTINCT table_name FROM bi.data_dictionary").fetchall()
            for c, *_ in con.execute(f'DESCRIBE bi."{t}"').fetchall()
        }
        expected = dictionary_markdown(con)
    finally:
        con.close()
    assert {(t, c) for t, c, _, _ in columns} == actual
    assert {"payment_ledger", "risk_profile", "dim_child"} <= {t for t, *_ in columns}
    text = DOC.read_text(encoding="utf-8")
    sections = {
        part.split("\n", 1)[0]: part for part in text.split("\n## ")[1:]
    }  # table name -> its section
    for table, column, dtype, description in columns:
        assert table in sections, f"{table} is missing: run `make docs`"
        row = f"| `{column}` | {dtype} | "
        assert row in sections[table], f"{table}.{column} is missing: run `make docs`"
        line = next(x for x in sections[table].splitlines() if x.startswith(row))
        first_words = (description or "").replace("|", "\\|").split(" ")[:6]
        assert " ".join(first_words) in line, f"{table}.{column}: description differs"
    assert text == expected, "docs/data_dictionary.md is out of date: run `make docs`"
