"""The marts' Dagster previews (dictionary.cached_preview): a table that holds what it
held when it was last previewed is not scanned for its preview again; one whose rows
changed is."""

from __future__ import annotations

import duckdb
import pytest

from wlz_pipeline import dictionary, versions, warehouse


@pytest.fixture
def con(tmp_path):
    con = duckdb.connect(str(tmp_path / "wlz.duckdb"))
    warehouse.bootstrap(con)
    con.execute("CREATE TABLE marts.t (band VARCHAR, score INTEGER)")
    con.execute("INSERT INTO marts.t VALUES ('low', 1), ('low', 2), ('high', 9)")
    yield con
    con.close()


@pytest.fixture
def previews(monkeypatch):
    """The tables ``markdown_preview`` scanned, in order."""
    scanned: list[str] = []
    real = dictionary.markdown_preview

    def counting(con, table, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        scanned.append(table)
        return real(con, table, *args, **kwargs)

    monkeypatch.setattr(dictionary, "markdown_preview", counting)
    return scanned


def test_an_unchanged_table_keeps_its_preview_without_a_scan(con, previews):
    versions.record(con, "marts.t", "v1")
    first = dictionary.cached_preview(con, "marts.t")
    # 3 rows; band low: 2, high: 1; score min 1, mean (1 + 2 + 9) / 3 = 4, max 9
    assert first.startswith("**3 rows**, 2 columns")
    assert "low: 2, high: 1" in first and "min 1 · mean 4 · max 9" in first
    # built again from other inputs, the same rows: the same content version
    versions.record(con, "marts.t", "v2")
    assert dictionary.cached_preview(con, "marts.t") == first
    assert previews == ["marts.t"]


def test_a_changed_table_is_previewed_again(con, previews):
    versions.record(con, "marts.t", "v1")
    dictionary.cached_preview(con, "marts.t")
    con.execute("INSERT INTO marts.t VALUES ('high', 4)")
    versions.record(con, "marts.t", "v2")
    again = dictionary.cached_preview(con, "marts.t")
    # 4 rows; mean (1 + 2 + 9 + 4) / 4 = 4; high: 2, low: 2 (a tie: by value)
    assert again.startswith("**4 rows**") and "high: 2, low: 2" in again
    assert previews == ["marts.t", "marts.t"]


def test_a_table_without_a_version_is_previewed_every_time(con, previews):
    dictionary.cached_preview(con, "marts.t")
    dictionary.cached_preview(con, "marts.t")
    assert previews == ["marts.t", "marts.t"]
    assert con.execute("SELECT count(*) FROM meta.table_previews").fetchall() == [(0,)]
