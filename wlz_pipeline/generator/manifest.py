"""MANIFEST.json: what was written, the rows in each file, and every planted defect."""

from __future__ import annotations

from typing import Any

from .output import Output
from .world import World


def build_manifest(
    w: World, out: Output, surveys: dict[str, int], interactions: dict[str, int], version: int
) -> dict[str, Any]:
    files = sorted(out.files, key=lambda f: f["path"])
    planted_rows = sorted(out.planted_rows, key=lambda r: (r["file"], r["line"]))
    planted_by_file: dict[str, int] = {}
    for r in planted_rows:
        planted_by_file[r["file"]] = planted_by_file.get(r["file"], 0) + 1
    for f in files:
        if f["rows"] is not None:
            f["rows_valid"] = f["rows"] - planted_by_file.get(f["path"], 0)
    pupils: dict[str, dict[str, int]] = {}
    pupils_valid: dict[str, dict[str, int]] = {}
    for f in files:
        if f["kind"] != "mis_pupils" or f.get("expected_status") != "ingested":
            continue
        urn, ay = f["anchor_urn"], f["academic_year"]
        pupils.setdefault(urn, {})[ay] = f["rows"]
        pupils_valid.setdefault(urn, {})[ay] = f["rows"] - planted_by_file.get(f["path"], 0)
    regs = w.register.entries
    cohorts = list(w.cal.academic_years)

    def per_cohort(pred) -> dict[str, int]:
        return {c: sum(1 for r in regs if r.cohort == c and pred(r)) for c in cohorts}

    rows_by_kind: dict[str, int] = {}
    for f in files:
        if f.get("expected_status") == "ingested" and f["rows"] is not None:
            rows_by_kind[f["kind"]] = rows_by_kind.get(f["kind"], 0) + f["rows"]
    manifest = {
        "generator": "wlz_pipeline.generator",
        "manifest_version": version,
        "scale": w.scale.name,
        "seed": w.seed,
        "academic_years": cohorts,
        "notes": {
            "rows": "data rows: excluding title, blank, header and trailing blank lines",
            "line": "1-based physical line number in the file (title and blank lines count)",
            "expected_status": "what the file registry should say: ingested, duplicate, "
            "superseded or quarantined",
        },
        "totals": {
            "anchors": len(w.anchors),
            "pupils": pupils,
            "pupils_valid": pupils_valid,
            "pupils_by_year": {
                ay: sum(v.get(ay, 0) for v in pupils_valid.values()) for ay in cohorts
            },
            "register_rows": len(regs),
            "in_register": per_cohort(lambda r: True),
            "enrolled": per_cohort(lambda r: r.enrolled),
            "declined": per_cohort(lambda r: r.declined_on is not None),
            "identified_not_approached": per_cohort(lambda r: r.approached_on is None),
            "exited": per_cohort(lambda r: r.exit_on is not None),
            "enrolled_not_identified": per_cohort(lambda r: r.enrolled and r.not_identified),
            "allocations": len(w.allocations),
            "survey_responses_unique": surveys["unique"],
            "survey_responses_unique_valid": surveys["unique_valid"],
            "interactions_unique": interactions["unique"],
            "interactions_unique_valid": interactions["unique_valid"],
            "interactions_repeated_in_both_exports": interactions["repeated_in_both_exports"],
            "rows_by_kind_ingested_files": dict(sorted(rows_by_kind.items())),
        },
        "cases": {
            "enrolled_not_identified": sorted(
                r.wlz_id for r in regs if r.enrolled and r.not_identified
            ),
            "identified_not_approached": sorted(r.wlz_id for r in regs if r.approached_on is None),
            "exits": [
                {"wlz_id": r.wlz_id, "exit_on": r.exit_on.isoformat(), "reason": r.exit_reason}
                for r in sorted(regs, key=lambda r: (r.exit_on or r.identified_on, r.wlz_id))
                if r.exit_on is not None
            ],
        },
        "files": files,
        "planted_rows": planted_rows,
        "planted_files": sorted(out.planted_files, key=lambda f: f["file"]),
        "planted_cells": sorted(out.planted_cells, key=lambda c: (c["file"], c["defect"])),
        "corrections": out.corrections,
    }
    if out.held_back:  # zone: the templates of the benchmark's incremental night
        manifest["held_back"] = {
            "note": "written outside the landing folders; drop each file at its "
            "landing_path to have it arrive (expected status: ingested)",
            "files": sorted(out.held_back, key=lambda f: f["file"]),
        }
    return manifest
