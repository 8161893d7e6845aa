"""The publication: the last asset of the graph. It builds the pseudonymised BI database
(``wlz_pipeline/publish.py``) from the restricted warehouse and swaps it in atomically.

It depends on every staging and mart table, so a blocking (ERROR) check that fails on any
of them in the same run stops it: Dagster does not run it, the run fails, and the previous
publication stays as it was. It also refuses to publish when the *latest* evaluation of any
blocking check on its inputs failed in an earlier run (a selection that did not re-check a
table cannot slip bad data through). ``bi.publication`` records the run id and the counts
of checks passed and failed.
"""

from datetime import UTC, datetime

import dagster as dg

from assets.models import LAYERS
from assets.resources import WarehouseResource
from assets.tables import table_keys
from wlz_pipeline.executor import AFTER_CHECKS, EXCLUSIVE
from wlz_pipeline.pseudonym import PseudonymKeyMissing
from wlz_pipeline.publish import CheckResult, PublicationError, publish
from wlz_pipeline.quality.gx_duckdb import build_data_docs_index

PUBLICATION_KEY = dg.AssetKey(["bi", "publication"])


def upstream_keys() -> list[dg.AssetKey]:
    """Every staging and mart table: one asset per ``sql/<layer>/*.sql``, and the assets in
    the ``staging`` and ``marts`` layers that the other modules of ``assets/`` define (the
    Python-computed marts)."""
    return sorted(table_keys().values(), key=lambda k: k.to_user_string())


def _failing_rows(metadata: dict) -> int | None:
    for name in ("failing_rows", "rows_quarantined"):
        value = metadata.get(name)
        if value is not None:
            raw = getattr(value, "value", value)
            if isinstance(raw, int):
                return raw
    return None


def latest_checks(
    instance: dg.DagsterInstance, asset_graph, keys: list[dg.AssetKey]
) -> list[CheckResult]:
    """The latest evaluation of every asset check on ``keys`` (checks never evaluated, or
    still planned, are left out)."""
    from dagster._core.storage.asset_check_execution_record import (
        AssetCheckExecutionRecordStatus,
    )

    present = [k for k in keys if asset_graph.has(k)]
    check_keys = sorted(asset_graph.get_check_keys_for_assets(present), key=str)
    out = []
    for ck in check_keys:
        record = instance.get_latest_asset_check_evaluation_record(ck)
        if record is None or record.status not in (
            AssetCheckExecutionRecordStatus.SUCCEEDED,
            AssetCheckExecutionRecordStatus.FAILED,
        ):
            continue
        ev = record.evaluation
        spec = asset_graph.get_check_spec(ck)
        severity = ev.severity.value if ev is not None else "ERROR"
        out.append(
            CheckResult(
                asset=ck.asset_key.to_user_string(),
                check_name=ck.name,
                severity=severity,
                passed=record.status == AssetCheckExecutionRecordStatus.SUCCEEDED,
                blocking=bool(spec.blocking) and severity == "ERROR",
                failing_rows=_failing_rows(dict(ev.metadata)) if ev is not None else None,
                evaluated_at=datetime.fromtimestamp(record.create_timestamp, UTC).replace(
                    tzinfo=None, microsecond=0
                ),
                run_id=record.run_id,
            )
        )
    return out


def blocking_failures(checks: list[CheckResult]) -> list[CheckResult]:
    return [c for c in checks if c.blocking and not c.passed]


def built_at(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> dict[str, datetime]:
    """When each table was last materialised (``checked_at`` of its row rules)."""
    out = {}
    for key in keys:
        event = instance.get_latest_materialization_event(key)
        if event is not None:
            out[".".join(key.path)] = datetime.fromtimestamp(event.timestamp, UTC).replace(
                tzinfo=None, microsecond=0
            )
    return out


def _full_asset_graph(context: dg.AssetExecutionContext):
    """The code location's whole asset graph (a run of a selection has only part of it in
    its job, and the checks on unselected tables matter too)."""
    try:
        return context.repository_def.asset_graph
    except Exception:  # noqa: BLE001 - no repository in dg.materialize(): use the definitions
        from wlz_pipeline.definitions import defs

        return defs.resolve_asset_graph()


@dg.asset(
    key=PUBLICATION_KEY,
    deps=upstream_keys(),
    group_name="publish",
    # opens the warehouse read-only: runs alone, and reports every check of the run, so
    # starts when none is left (wlz_pipeline/executor.py)
    op_tags={**EXCLUSIVE, **AFTER_CHECKS},
    kinds={"duckdb", "parquet"},
    description="The pseudonymised BI database (schema bi of contract.md) and one Parquet "
    "file per table, built beside the warehouse and swapped in atomically. Not built when a "
    "blocking check on any staging or mart table failed.",
)
def publication(context: dg.AssetExecutionContext, wlz: WarehouseResource) -> dg.MaterializeResult:
    # the Data Docs index, once per run (each passing suite renders only its own pages)
    build_data_docs_index(wlz.warehouse_path)
    graph = _full_asset_graph(context)
    keys = sorted(
        {k for k in graph.get_all_asset_keys() if k.path[0] in LAYERS} | set(upstream_keys()),
        key=lambda k: k.to_user_string(),
    )
    checks = latest_checks(context.instance, graph, keys)
    failed = blocking_failures(checks)
    if failed:
        listing = "\n".join(f"- {c.asset}: {c.check_name} (run {c.run_id})" for c in failed)
        raise dg.Failure(
            description="Not published: the latest evaluation of these blocking checks failed "
            "(the previous publication is unchanged). Fix the data and rerun the checked "
            f"tables:\n{listing}",
            metadata={"blocking_checks_failed": len(failed)},
        )
    try:
        report = publish(
            wlz.warehouse_path,
            data_dir=wlz.data_path,
            run_id=context.run_id,
            checks=checks,
            built_at=built_at(context.instance, keys),
        )
    except (PseudonymKeyMissing, PublicationError) as exc:
        raise dg.Failure(description=str(exc)) from exc
    if report.undescribed:
        context.log.warning(
            f"{len(report.undescribed)} published columns have no description (add them to "
            f"the tables' .yml sidecars): {', '.join(report.undescribed)}"
        )
    rows = "\n".join(f"| {t} | {n:,} |" for t, n in report.tables.items())
    skipped = "\n".join(f"- {t}: {why}" for t, why in report.skipped.items())
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(report.path)),
            "parquet": dg.MetadataValue.path(str(report.parquet_dir or "")),
            "as_of_date": str(report.as_of_date or ""),
            "tables_published": len(report.tables),
            "tables": dg.MetadataValue.md("| table | rows |\n|---|---|\n" + rows),
            "tables_skipped": dg.MetadataValue.md(skipped or "none"),
            "rows_suppressed": dg.MetadataValue.json(report.suppressed_rows),
            "checks_passed": sum(c.passed for c in checks),
            "checks_failed": sum(not c.passed for c in checks),
            "columns_without_description": len(report.undescribed),
            "pseudonym_key": f"{report.key_source} ({report.key_id})",
        }
    )


defs = dg.Definitions(assets=[publication])
