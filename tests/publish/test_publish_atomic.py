"""The publication is swapped in atomically: a reader holding the file is never blocked and
keeps its data until it reconnects; a blocked or failed run leaves the last publication
byte-identical; no key, no publication."""

from __future__ import annotations

import fcntl
import os

import dagster as dg
import duckdb
import pytest

from assets.publish import PUBLICATION_KEY
from assets.resources import WarehouseResource
from wlz_pipeline import publish as publish_module
from wlz_pipeline.definitions import ALL_ASSETS, ALL_CHECKS
from wlz_pipeline.pseudonym import PseudonymKeyMissing
from wlz_pipeline.publish import PublicationError, parquet_link, parquet_versions, publish
from wlz_pipeline.settings import DEFAULT_DATA_DIR

TEST_KEY = "test-only-pseudonym-key-0123456789"


def materialize_graph(landing, warehouse, instance, selection=None):
    return dg.materialize(
        [*ALL_ASSETS, *ALL_CHECKS],
        resources={"wlz": WarehouseResource(data_dir=str(landing), warehouse=str(warehouse))},
        instance=instance,
        selection=selection,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )


def test_a_reader_holding_the_file_never_blocks_a_publication(fresh, open_reader):
    """The quick version (the publisher alone); test_publish_e2e.py does the same around a
    whole run launched through the Dagster webserver."""
    reader = open_reader(fresh.report.path)
    assert reader.opened[:2] == ["open", "first-run"]
    report = publish(fresh.warehouse, data_dir=fresh.landing, demo_key=True, run_id="second")
    assert reader.ask("read") == ["read", *reader.opened[1:]]  # still the old publication
    assert reader.ask("reconnect")[1] == report.run_id == "second"
    assert reader.alive


@pytest.mark.slow
def test_a_failing_blocking_check_publishes_nothing(fresh, monkeypatch, fingerprint):
    monkeypatch.setenv("WLZ_PSEUDONYM_KEY", TEST_KEY)
    before = fingerprint(fresh.report.path)
    enrolments = fresh.landing / "reference" / "enrolments.csv"
    lines = enrolments.read_text(encoding="utf-8").splitlines()
    # WLZ000000001 consented on 2017-11-10; now also "declined": the register is wrong
    lines[1] = lines[1].replace("2017-11-10,,LW01", "2017-11-10,2017-11-15,LW01")
    assert "2017-11-15,LW01" in lines[1]
    enrolments.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # the register's chain and the publication (the whole graph takes over a minute; the
    # publication depends on staging/enrolments the same way in a full run)
    chain = [
        dg.AssetKey(["raw", "reference"]),
        dg.AssetKey(["staging", "anchors"]),
        dg.AssetKey(["staging", "link_workers"]),
        dg.AssetKey(["staging", "enrolments"]),
        PUBLICATION_KEY,
    ]
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_graph(fresh.landing, fresh.warehouse, instance, chain)
        assert not result.success
        evaluations = {
            (e.asset_key.to_user_string(), e.check_name): e.passed
            for e in result.get_asset_check_evaluations()
        }
        assert evaluations[("staging/enrolments", "suite_errors")] is False
        failures = [e.step_key for e in result.all_events if e.is_step_failure]
        assert "staging_enrolments_suite" in failures
        assert not result.asset_materializations_for_node("bi__publication")
        assert fingerprint(fresh.report.path) == before
        # a later run that selects only the publication does not slip past the failed check
        again = materialize_graph(
            fresh.landing, fresh.warehouse, instance, selection=[PUBLICATION_KEY]
        )
        assert not again.success
        failure = next(e for e in again.all_events if e.is_step_failure)
        assert "staging/enrolments: suite_errors" in str(failure.event_specific_data)
    assert fingerprint(fresh.report.path) == before
    assert not [p.name for p in fresh.report.path.parent.iterdir() if p.name.endswith(".tmp")]


def test_no_key_no_publication(fresh, monkeypatch, fingerprint):
    before = fingerprint(fresh.report.path)
    monkeypatch.delenv("WLZ_PSEUDONYM_KEY", raising=False)
    with pytest.raises(PseudonymKeyMissing, match="WLZ_PSEUDONYM_KEY is not set"):
        publish(fresh.warehouse, data_dir=fresh.landing)
    monkeypatch.setenv("WLZ_PSEUDONYM_KEY", "short")
    with pytest.raises(PseudonymKeyMissing, match="too short"):
        publish(fresh.warehouse, data_dir=fresh.landing)
    assert fingerprint(fresh.report.path) == before
    # the committed synthetic sample may use the documented demo key
    monkeypatch.delenv("WLZ_PSEUDONYM_KEY")
    report = publish(fresh.warehouse, data_dir=DEFAULT_DATA_DIR)
    assert report.key_source == "demo"


def test_a_failure_half_way_leaves_the_last_publication(fresh, monkeypatch, fingerprint):
    before = fingerprint(fresh.report.path)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(publish_module, "_build_dictionary", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        publish(fresh.warehouse, data_dir=fresh.landing, demo_key=True)
    assert fingerprint(fresh.report.path) == before
    leftovers = [p.name for p in fresh.report.path.parent.iterdir() if ".tmp" in p.name]
    assert leftovers == []
    versions = parquet_versions(fresh.report.path)
    current = os.readlink(parquet_link(fresh.report.path)).split("/")[-1]
    assert [p.name for p in versions.iterdir()] == [current]


def test_one_publisher_at_a_time_and_old_parquet_versions_are_pruned(fresh, fingerprint):
    path = fresh.report.path
    with open(path.parent / f".{path.name}.lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        with pytest.raises(PublicationError, match="another publication"):
            publish(fresh.warehouse, data_dir=fresh.landing, demo_key=True)
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    for i in range(3):
        report = publish(fresh.warehouse, data_dir=fresh.landing, demo_key=True, run_id=f"r{i}")
    versions = sorted(p.name for p in parquet_versions(path).iterdir())
    assert len(versions) == 3 and "-r2-" in versions[-1]
    link = parquet_link(path)
    assert link.is_symlink() and os.readlink(link).endswith(versions[-1])
    con = duckdb.connect()
    assert con.execute(
        "SELECT run_id FROM read_parquet(?)", [str(link / "publication.parquet")]
    ).fetchall() == [(report.run_id,)]
    con.close()
