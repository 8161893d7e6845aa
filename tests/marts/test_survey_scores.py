"""marts.survey_scores on the sample: each response scored on its own, as rules.md §5 says.

The mart scores every distinct answer pattern once and assembles the table in DuckDB;
this recomputes it the plain way (every response through ``score_response``, from its
answers as staged, and the counting response chosen child by child) and compares.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from wlz_pipeline.marts.survey import READ_SQL, Scorer, group_items, score_response
from wlz_pipeline.scoring.sdq import INFORMANTS, choose_informant, subscale_items

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


@st.composite
def _scale_codes(draw):  # noqa: ANN202
    """A subscale's five codes: 0-2 or missing, now and then (one in twenty) with a code
    the scoring package refuses (3), which makes the whole response an error."""
    codes = draw(st.lists(st.sampled_from([None, 0, 1, 2]), min_size=5, max_size=5))
    if draw(st.integers(0, 19)) == 0:
        codes[draw(st.integers(0, 4))] = 3
    return codes


@st.composite
def _responses(draw):  # noqa: ANN202
    """Responses built from a few codes per subscale, so that subscales and totals recur
    between responses, as they do in a survey (what the Scorer's memos are for)."""
    scales = subscale_items()
    pool = {s: draw(st.lists(_scale_codes(), min_size=1, max_size=3)) for s in scales}
    out = []
    for _ in range(draw(st.integers(1, 30))):
        codes: dict[int, int | None] = {}
        for scale, items in scales.items():
            codes.update(zip(items, draw(st.sampled_from(pool[scale])), strict=True))
        informant = draw(st.sampled_from([*INFORMANTS, "sibling", None]))
        out.append(({f"sdq_{n}": c for n, c in codes.items() if c is not None}, informant))
    return out


@settings(max_examples=300, deadline=None)
@given(_responses())
def test_the_scorers_sdq_measures_equal_each_response_scored_whole(responses):
    """The mart's Scorer scores each SDQ subscale from its own items and reuses the
    totals of a recurring set of subscale scores; each response's measures are still
    exactly those of the response scored whole (score_response), errors included."""
    scorer = Scorer()  # one for all the responses: its memos carry over between them
    assert scorer.items["sdq"] == [f"sdq_{n}" for n in range(1, 26)]
    for answers, informant in responses:
        whole = [m for m in score_response(answers, informant) if m.group == "sdq"]
        assert scorer.sdq(scorer.codes(answers), informant) == whole
