"""marts.survey_scores on the sample: each response scored on its own, as rules.md §5 says.

The mart scores every distinct answer pattern once and assembles the table in DuckDB;
this recomputes it the plain way (every response through ``score_response``, from its
answers as staged, and the counting response chosen child by child) and compares.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import duckdb

from wlz_pipeline.marts.survey import READ_SQL, group_items, score_response
from wlz_pipeline.scoring.sdq import INFORMANTS, choose_informant

COLUMNS = (
    "response_id, upn, wlz_id, anchor_urn, academic_year, wave, submitted_at, informant, "
    "age, measure_group, measure, score, band, at_risk, op, threshold, n_answered, note, "
    "counts"
)


def _expected(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    responses = con.execute(READ_SQL).fetchall()
    answers: dict[str, dict[str, float]] = defaultdict(dict)
    for response_id, item, code in con.execute(
        "select response_id, item, code from staging.survey_answers where code is not null"
    ).fetchall():
        answers[response_id][item] = code
    items = group_items()
    by_child = defaultdict(list)
    for r in responses:
        if r[1] and r[4] and r[5]:
            by_child[(r[1], r[4], r[5])].append(r)
    chosen = set()
    for rs in by_child.values():
        age = next((r[8] for r in rs if r[8] is not None), None)
        for group, group_items_ in items.items():
            have = [
                r
                for r in rs
                if r[7] in INFORMANTS
                and any(answers[r[0]].get(i) is not None for i in group_items_)
            ]
            informant = choose_informant({r[7] for r in have}, age) if have else None
            if informant is not None:
                latest = max(
                    (r for r in have if r[7] == informant),
                    key=lambda r: (r[6] or datetime.min, r[0]),
                )
                chosen.add((latest[0], group))
    rows = []
    for r in responses:
        for m in score_response(answers[r[0]], r[7]):
            group = m.group if m.group in ("sdq", "wemwbs") else "construct"
            score = None if m.score is None else float(m.score)
            threshold = None if m.threshold is None else float(m.threshold)
            rows.append(
                (
                    *r,
                    group,
                    m.measure,
                    score,
                    m.band,
                    m.at_risk,
                    m.op,
                    threshold,
                    m.n_answered,
                    m.note,
                    (r[0], m.group) in chosen,
                )
            )
    return rows


def test_survey_scores_equal_each_response_scored_on_its_own(sample_run):
    con = duckdb.connect(str(sample_run.warehouse), read_only=True)
    try:
        table = con.execute(f"select {COLUMNS} from marts.survey_scores").fetchall()
        expected = _expected(con)
    finally:
        con.close()
    assert len(table) == len(expected) > 1000
    assert sorted(table, key=repr) == sorted(expected, key=repr)
    # the sample has children with more than one informant: the choice was exercised
    assert 0 < sum(1 for r in table if r[-1]) < len(table)
