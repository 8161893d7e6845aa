"""The whole asset graph materialised by Dagster on a real instance and warehouse file."""

from __future__ import annotations

import dagster as dg
import duckdb

from assets.resources import WarehouseResource
from wlz_pipeline.definitions import ALL_ASSETS


def test_materialize_everything_on_the_fixture_landing_folder(landing, tmp_path, monkeypatch):
    # not the sample, so the publication at the end of the graph needs a real key
    monkeypatch.setenv("WLZ_PSEUDONYM_KEY", "test-only-pseudonym-key-0123456789")
    wh = tmp_path / "wh" / "wlz.duckdb"
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            ALL_ASSETS,
            resources={"wlz": WarehouseResource(data_dir=str(landing), warehouse=str(wh))},
            instance=instance,
        )
        assert result.success
        mats = {
            m.asset_key.to_user_string(): m.metadata
            for m in (ev.materialization for ev in result.get_asset_materialization_events())
        }
    assert mats["staging/pupils"]["dagster/row_count"].value == 6
    assert mats["staging/pupils"]["rows_quarantined"].value == 1
    # mis/'s five files: the two register CSVs and the CTF file go to raw/pupils, the
    # marks and the attendance summary to raw/mis; neither sees the other's files
    assert mats["raw/pupils"]["files_ingested"].value == 3
    assert mats["raw/mis"]["files_ingested"].value == 2
    assert mats["raw/pupils"]["files_seen"].value + mats["raw/mis"]["files_seen"].value == 5
    con = duckdb.connect(str(wh), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM staging.enrolments").fetchone()[0] == 3
        identifiers = {
            v
            for (v,) in con.execute(
                "SELECT wlz_id FROM staging.enrolments UNION SELECT upn FROM staging.pupils "
                "UNION SELECT forename FROM staging.pupils UNION SELECT surname FROM "
                "staging.pupils"
            ).fetchall()
            if v
        }
        # what the UI shows on every mart: row count, every column described, a preview
        marts = {k: m for k, m in mats.items() if k.startswith("marts/")}
        assert len(marts) >= 20
        for key, meta in marts.items():
            table = key.replace("/", ".")
            rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            assert meta["dagster/row_count"].value == rows, key
            columns = meta["dagster/column_schema"].schema.columns
            assert [c.name for c in columns] == [
                r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()
            ], key
            assert all((c.description or "").strip() for c in columns), key
            preview = meta["preview"].value
            assert f"**{rows:,} rows**" in preview, key
            assert not [v for v in identifiers if v in preview], key
    finally:
        con.close()
