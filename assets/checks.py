"""Asset checks: every suite in ``expectations/`` runs on the asset it guards.

Per suite, a blocking ``ERROR`` check (critical expectations: what depends on the asset
is not built and nothing is published) and a ``WARN`` check (warning expectations:
reported only). Staging tables with row rules also get a ``WARN`` check reporting the
rows quarantined. Metadata identifies failing rows by file and row number only, never by
name, UPN or date of birth.
"""

import dagster as dg

from assets.models import LAYERS
from assets.resources import WarehouseResource
from assets.tables import table_keys
from wlz_pipeline.models import discover
from wlz_pipeline.quality.gx_duckdb import (
    MAX_EXAMPLES,
    SuiteOutcome,
    data_docs_index,
    suite_files,
    suite_tables,
)

SEVERITIES = {"ERROR": ("suite_errors", True), "WARN": ("suite_warnings", False)}


def _severities_in(path) -> set[str]:
    import json

    from wlz_pipeline.quality.gx_duckdb import SEVERITY

    raw = json.loads(path.read_text(encoding="utf-8"))
    return {SEVERITY[e.get("severity", "critical")] for e in raw["expectations"]}


def _file_paths(wlz: WarehouseResource, hashes: set[str]) -> dict[str, str]:
    if not hashes:
        return {}
    with wlz.connect() as con:
        rows = con.execute(
            "SELECT file_hash, min(path) FROM meta.file_registry "
            "WHERE list_contains(?, file_hash) GROUP BY file_hash",
            [sorted(hashes)],
        ).fetchall()
    return dict(rows)


def _results(
    outcome: SuiteOutcome,
    key: dg.AssetKey,
    wlz: WarehouseResource,
    severities: set[str],
    validated_now: bool = True,
):
    hashes = {h for o in outcome.outcomes for h, _ in o.examples}
    paths = _file_paths(wlz, hashes)
    for severity in sorted(severities):
        check_name, _ = SEVERITIES[severity]
        outs = outcome.by_severity(severity)
        failed = [o for o in outs if not o.success]
        lines = [
            "| expectation | column | failing rows | examples (file: row) |",
            "|---|---|---|---|",
        ]
        for o in failed:
            ex = ", ".join(f"{paths.get(h, h[:12])}: {r}" for h, r in o.examples[:MAX_EXAMPLES])
            detail = ex or (f"error: {o.error}" if o.error else "")
            lines.append(f"| {o.expectation} | {o.column or ''} | {o.failing_rows} | {detail} |")
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=check_name,
            passed=not failed,
            severity=dg.AssetCheckSeverity[severity],
            metadata={
                "data_docs": dg.MetadataValue.path(str(data_docs_index(wlz.warehouse_path))),
                "expectations_run": len(outs),
                "expectations_failed": len(failed),
                "failing_rows": sum(o.failing_rows or 0 for o in failed),
                "failures": dg.MetadataValue.md("\n".join(lines) if failed else "none"),
                "validated_now": validated_now,
            },
        )


def _suite_check(
    table: str, path, key: dg.AssetKey, named: list[dg.AssetKey]
) -> dg.AssetChecksDefinition:
    severities = _severities_in(path)
    specs = [
        dg.AssetCheckSpec(
            name=SEVERITIES[s][0],
            asset=key,
            # the other tables its expectations name (``staging.anchors`` in a lookup):
            # the suite runs after them too, whatever order the run's steps take
            additional_deps=[k for k in named if k != key],
            blocking=SEVERITIES[s][1],
            description=f"{'Blocking' if SEVERITIES[s][1] else 'Reported'} expectations of "
            f"expectations/{path.name} ({s})",
        )
        for s in sorted(severities)
    ]

    @dg.multi_asset_check(specs=specs, name=f"{key.path[0]}_{key.path[1]}_suite")
    def _check(wlz: WarehouseResource):
        from wlz_pipeline.quality.gx_duckdb import validate_versioned

        # an unchanged table keeps the outcome it was validated with (same data, code
        # and suites); validated_now tells which
        outcome, validated_now = validate_versioned(
            wlz.warehouse_path, table, path, force=wlz.rebuild_all
        )
        yield from _results(outcome, key, wlz, severities, validated_now)

    return _check


def _quarantine_check(table: str, key: dg.AssetKey) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key,
        name="rows_quarantined",
        blocking=False,
        description=f"Rows of {table} kept out by the row rules in expectations/rules/.",
    )
    def _check(wlz: WarehouseResource) -> dg.AssetCheckResult:
        with wlz.connect() as con:
            by_rule = con.execute(
                """SELECT rule, count(*) FROM meta.quarantine
                   WHERE table_name = ? AND severity = 'error' GROUP BY rule ORDER BY rule""",
                [table],
            ).fetchall()
            examples = con.execute(
                """SELECT f.path, q.row_number, q.column_name, q.rule
                   FROM meta.quarantine q
                   LEFT JOIN (SELECT file_hash, min(path) AS path FROM meta.file_registry
                              GROUP BY file_hash) f USING (file_hash)
                   WHERE q.table_name = ? AND q.severity = 'error'
                   ORDER BY f.path, q.row_number, q.rule LIMIT ?""",
                [table, MAX_EXAMPLES],
            ).fetchall()
        total = sum(n for _, n in by_rule)
        md = ["| file | row | column | rule |", "|---|---|---|---|"] + [
            f"| {p} | {r} | {c or ''} | {rule} |" for p, r, c, rule in examples
        ]
        return dg.AssetCheckResult(
            passed=total == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_quarantined": total,
                "by_rule": dg.MetadataValue.json({r: n for r, n in by_rule}),
                "examples": dg.MetadataValue.md("\n".join(md) if examples else "none"),
            },
        )

    return _check


def build_checks() -> list[dg.AssetChecksDefinition]:
    checks = []
    # every staging and mart table, whether SQL or Python builds it, by its bare name
    keys = table_keys()
    tables = {t.split(".", 1)[1]: (t, key) for t, key in keys.items()}
    for name, path in suite_files().items():
        if name not in tables:
            raise ValueError(
                f"expectations/{path.name} guards no table: no staging or mart table {name}"
            )
        table, key = tables[name]
        named = [keys[t] for t in suite_tables(path) if t in keys]
        checks.append(_suite_check(table, path, key, named))
    for model in (m for layer in LAYERS for m in discover(layer)):
        if model.rules().rules:
            checks.append(_quarantine_check(model.table, dg.AssetKey([model.layer, model.name])))
    return checks


defs = dg.Definitions(asset_checks=build_checks())
