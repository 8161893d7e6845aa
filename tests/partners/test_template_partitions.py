"""partners/templates is partitioned by term: the calendar's terms are the partitions, a
partition run writes that term's templates only, and a backfill over terms is one run per
term through the job wlz_templates (one process, one writer at a time)."""

from __future__ import annotations

import csv
from pathlib import Path

import dagster as dg
import pytest
import yaml

from assets.partners import (
    TEMPLATES_JOB,
    TEMPLATES_KEY,
    TERM_PARTITIONS,
    TERMS_KEY,
    partner_templates,
    template_terms,
)
from assets.resources import WarehouseResource, in_process_executor
from wlz_pipeline.definitions import ALL_ASSETS, PARTITIONED_ASSETS, defs

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = [
    a
    for a in ALL_ASSETS
    if any(k.path[0] in ("raw", "staging") for k in a.keys) or TERMS_KEY in a.keys
]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _calendar_terms(landing: Path) -> list[str]:
    with (landing / "reference" / "calendar.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return list(dict.fromkeys(f"{r['academic_year']}-{r['term']}" for r in rows))


def _resource(landing: Path, tmp_path: Path) -> WarehouseResource:
    return WarehouseResource(data_dir=str(landing), warehouse=str(tmp_path / "wh" / "wlz.duckdb"))


def _with_autumn_allocation(landing: Path) -> None:
    """The fixture allocates one child in spring 2017/18; add the autumn term too."""
    path = landing / "reference" / "allocations.csv"
    text = path.read_text(encoding="utf-8").rstrip("\n")
    path.write_text(text + "\nWLZ000000001,P01,P01-reading-club,2017/18,autumn\n", "utf-8")


def _build_upstream(instance, resource) -> None:
    """Ingest and staging, then partners/template_terms registers the calendar's terms."""
    result = dg.materialize(
        UPSTREAM, resources={"wlz": resource}, instance=instance, run_config=QUIET
    )
    assert result.success


def _templates(resource: WarehouseResource) -> dict[str, bytes]:
    out = resource.warehouse_path.parent / "templates"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.xlsx"))}


def _metadata(result) -> dict:
    (event,) = result.get_asset_materialization_events()
    return event.materialization.metadata


def test_definitions_load_and_templates_are_partitioned_by_term():
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert graph.get(TEMPLATES_KEY).partitions_def == TERM_PARTITIONS
    assert isinstance(TERM_PARTITIONS, dg.DynamicPartitionsDefinition)
    assert TERM_PARTITIONS.name == "term"
    assert [a.key for a in PARTITIONED_ASSETS] == [TEMPLATES_KEY]
    # the nightly job and `wlz run` build everything unpartitioned, the terms included
    everything = defs.resolve_job_def("wlz_everything")
    keys = everything.asset_layer.selected_asset_keys
    assert TEMPLATES_KEY not in keys and TERMS_KEY in keys
    assert all(a.partitions_def is None for a in ALL_ASSETS)
    job = defs.resolve_job_def(TEMPLATES_JOB)
    assert job.partitions_def == TERM_PARTITIONS
    assert job.asset_layer.selected_asset_keys == {TEMPLATES_KEY}
    assert job.executor_def is in_process_executor  # one process per run
    dagster_yaml = yaml.safe_load((ROOT / "config" / "dagster.yaml").read_text())
    assert dagster_yaml["concurrency"]["runs"]["max_concurrent_runs"] == 1


def test_no_calendar_yet_means_no_terms_and_a_run_without_a_term_writes_nothing(tmp_path):
    resource = _resource(tmp_path / "empty_landing", tmp_path)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [template_terms], resources={"wlz": resource}, instance=instance, run_config=QUIET
        )
        assert result.success
        assert _metadata(result)["terms"].value == 0
        assert instance.get_dynamic_partitions(TERM_PARTITIONS.name) == []
        # an unpartitioned run reaching the templates (e.g. everything downstream of a
        # landing folder) succeeds and writes nothing
        result = dg.materialize(
            [partner_templates],
            resources={"wlz": resource},
            instance=instance,
            run_config=QUIET,
        )
        assert result.success
        assert result.get_asset_materialization_events() == []
    assert not (tmp_path / "wh" / "templates").exists()


def test_a_partition_run_writes_its_terms_templates_only(landing, tmp_path):
    _with_autumn_allocation(landing)
    resource = _resource(landing, tmp_path)
    with dg.DagsterInstance.ephemeral() as instance:
        _build_upstream(instance, resource)
        terms = instance.get_dynamic_partitions(TERM_PARTITIONS.name)
        assert (
            terms
            == _calendar_terms(landing)
            == [
                "2017/18-autumn",
                "2017/18-spring",
                "2017/18-summer",
            ]
        )

        spring = dg.materialize(
            [partner_templates],
            resources={"wlz": resource},
            instance=instance,
            partition_key="2017/18-spring",
            run_config=QUIET,
        )
        assert spring.success
        assert _templates(resource).keys() == {"P01/P01_p01_reading_club_2017-18_spring.xlsx"}
        meta = _metadata(spring)
        assert meta["term"].value == "2017/18-spring"
        assert meta["templates_written"].value == 1
        assert meta["partners"].value == ["P01"]
        assert "P01/P01_p01_reading_club_2017-18_spring.xlsx" in meta["files"].value
        # counts, ids and paths only: no child's name in the metadata
        text = repr({k: v.value for k, v in meta.items()})
        assert "Chloé" not in text and "Okafor" not in text
        before = _templates(resource)

        autumn = dg.materialize(
            [partner_templates],
            resources={"wlz": resource},
            instance=instance,
            partition_key="2017/18-autumn",
            run_config=QUIET,
        )
        assert autumn.success
        after = _templates(resource)
        assert after.keys() == {
            "P01/P01_p01_reading_club_2017-18_spring.xlsx",
            "P01/P01_p01_reading_club_2017-18_autumn.xlsx",
        }
        # the spring workbook was not touched by the autumn run
        spring_file = "P01/P01_p01_reading_club_2017-18_spring.xlsx"
        assert after[spring_file] == before[spring_file]

        # a term without allocations writes nothing, and says so
        summer = dg.materialize(
            [partner_templates],
            resources={"wlz": resource},
            instance=instance,
            partition_key="2017/18-summer",
            run_config=QUIET,
        )
        assert summer.success and _metadata(summer)["templates_written"].value == 0
        assert _templates(resource).keys() == after.keys()
        assert instance.get_materialized_partitions(TEMPLATES_KEY) == set(terms)

        # a key that is not a calendar term is not a partition
        with pytest.raises(Exception, match="2019/20-autumn"):
            dg.materialize(
                [partner_templates],
                resources={"wlz": resource},
                instance=instance,
                partition_key="2019/20-autumn",
                run_config=QUIET,
            )


def test_a_backfill_over_two_terms_is_one_run_per_term_through_the_job(landing, tmp_path):
    _with_autumn_allocation(landing)
    resource = _resource(landing, tmp_path)
    job = defs.resolve_job_def(TEMPLATES_JOB)
    # what the UI's launchpad sends: the resource's config for this zone
    run_config = {
        **QUIET,
        "resources": {
            "wlz": {"config": {"data_dir": resource.data_dir, "warehouse": resource.warehouse}}
        },
    }
    with dg.DagsterInstance.ephemeral() as instance:
        _build_upstream(instance, resource)
        runs = [
            job.execute_in_process(run_config=run_config, instance=instance, partition_key=key)
            for key in ("2017/18-autumn", "2017/18-spring")
        ]
        assert all(r.success for r in runs)
        for run, key in zip(runs, ("2017/18-autumn", "2017/18-spring"), strict=True):
            assert run.dagster_run.tags["dagster/partition"] == key
            (event,) = run.get_asset_materialization_events()
            assert event.materialization.partition == key
            # the run's steps executed in one process: one writer on the DuckDB file
            pids = {e.pid for e in run.all_events if e.pid is not None}
            assert len(pids) == 1
        assert instance.get_materialized_partitions(TEMPLATES_KEY) == {
            "2017/18-autumn",
            "2017/18-spring",
        }
    assert set(_templates(resource)) == {
        "P01/P01_p01_reading_club_2017-18_autumn.xlsx",
        "P01/P01_p01_reading_club_2017-18_spring.xlsx",
    }
