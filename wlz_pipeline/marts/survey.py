"""Survey scores per response, and which response counts for each child and wave.

Scoring is the scoring package's (SDQ, WEMWBS, constructs); this module only applies it
to the staged answers and chooses, per child, wave and measure group, the response that
counts (rules.md §5: self-report from age 11, otherwise parent, otherwise teacher; the
order and the age come from ``config/sdq_bands.yaml`` through ``choose_informant``).

Measure groups: ``sdq`` (all SDQ scales of one response together), ``wemwbs``, and each
construct on its own. A response is *available* for a group when it answers at least one
of the group's items. Among the available informants the preferred one is chosen
(``choose_informant``, with the child's age on 31 August before the academic year: the
school-year age that decides which SDQ version a child is given); that informant's latest
response in the wave counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter

import duckdb

from wlz_pipeline.scoring._config import pinned
from wlz_pipeline.scoring.constructs import _config as _survey_config
from wlz_pipeline.scoring.constructs import numbered_answers, score_construct
from wlz_pipeline.scoring.sdq import (
    DIFFICULTY_SCALES,
    INFORMANTS,
    SUBSCALES,
    choose_informant,
    score_sdq,
    subscale_items,
)
from wlz_pipeline.scoring.wemwbs import score_wemwbs

TABLE = "marts.survey_scores"
COLUMNS = (
    ("response_id", "VARCHAR"),
    ("upn", "VARCHAR"),
    ("wlz_id", "VARCHAR"),
    ("anchor_urn", "VARCHAR"),
    ("academic_year", "VARCHAR"),
    ("wave", "VARCHAR"),
    ("submitted_at", "TIMESTAMP"),
    ("informant", "VARCHAR"),
    ("age", "INTEGER"),
    ("measure_group", "VARCHAR"),
    ("measure", "VARCHAR"),
    ("score", "DOUBLE"),
    ("band", "VARCHAR"),
    ("at_risk", "BOOLEAN"),
    ("op", "VARCHAR"),
    ("threshold", "DOUBLE"),
    ("n_answered", "INTEGER"),
    ("note", "VARCHAR"),
    ("counts", "BOOLEAN"),
)
ORDER = ("response_id", "measure")


@dataclass
class Response:
    response_id: str
    upn: str | None
    wlz_id: str | None
    anchor_urn: str | None
    academic_year: str | None
    wave: str | None
    submitted_at: datetime | None
    informant: str | None
    age: int | None
    codes: Sequence[float | None]  # one per item of ``item_order()``; None = not answered


@dataclass(frozen=True)
class Measure:
    group: str  # sdq | wemwbs | <construct name>
    measure: str
    score: float | None
    band: str | None
    at_risk: bool | None
    op: str | None
    threshold: float | None
    n_answered: int
    note: str | None = None


def group_items() -> dict[str, list[str]]:
    """Items of each measure group (``sdq``, ``wemwbs``, each construct)."""
    cfg = _survey_config()
    out: dict[str, list[str]] = {}
    for name in ("sdq", "wemwbs"):
        spec = cfg.items[name]
        out[name] = [f"{spec.prefix}{i}" for i in range(1, (spec.count or 0) + 1)]
    for name, construct in cfg.constructs.items():
        out[name] = list(construct.items)
    return out


def item_order(items: Mapping[str, list[str]] | None = None) -> list[str]:
    """Every item a measure group reads, once, in a fixed order: a response's codes are
    a sequence in this order (``Response.codes``)."""
    items = items or group_items()
    return list(dict.fromkeys(i for group in items.values() for i in group))


def _picker(positions: list[int]) -> Callable[[Sequence], tuple]:
    """The codes at ``positions`` of a response's codes, as a tuple."""
    if len(positions) == 1:
        (only,) = positions
        return lambda codes: (codes[only],)
    if not positions:
        return lambda codes: ()
    return itemgetter(*positions)


class Scorer:
    """Scores responses; results are memoised per build by the answers each measure
    reads (a construct has a handful of items with a few codes each, so most responses
    repeat a pattern already scored), and the config is read once.

    An SDQ response's answers are nearly unique (54,000 patterns in the zone's 60,000
    responses), its scales' answers are not: each of the five subscales is scored by the
    scoring package from its own five items alone (``score_sdq`` scores every subscale
    from its items only), and the total, externalising and internalising scores, which
    follow from the four difficulty subscales' scores and items answered and the items
    answered in all, from the whole response the first time those recur.
    ``score_response`` scores without any of this; tests compare the two."""

    def __init__(self) -> None:
        self.items = group_items()
        self.constructs = list(_survey_config().constructs)
        self.columns = item_order(self.items)
        position = {item: n for n, item in enumerate(self.columns)}
        #: group -> the group's codes (in ``items`` order) from a response's codes
        self.pick = {g: _picker([position[i] for i in its]) for g, its in self.items.items()}
        # group_items names the SDQ items 1-25 in order: item n is at n - 1 of its codes
        sdq_items = self.items["sdq"]
        self._subscales = [
            (scale, [sdq_items[n - 1] for n in numbers], _picker([n - 1 for n in numbers]))
            for scale, numbers in subscale_items().items()
        ]
        self._sdq_scale: dict[tuple, Measure | None] = {}
        self._sdq_totals: dict[tuple, list[Measure]] = {}
        self._wemwbs: dict[tuple, Measure] = {}
        self._construct: dict[tuple, Measure] = {}
        #: one instance per distinct Measure: SDQ answers are nearly unique per response,
        #: their scales' results are not (at zone scale 54,000 SDQ answer patterns, and
        #: under 900 distinct measures in all)
        self._measures: dict[Measure, Measure] = {}

    def codes(self, answers: Mapping[str, float | None]) -> list[float | None]:
        """A response's codes (``Response.codes``) from its answers by item."""
        return [answers.get(c) for c in self.columns]

    def _answers(self, group: str, key: tuple) -> dict[str, float]:
        """The group's answered items, by item (what the scoring functions read)."""
        return {i: v for i, v in zip(self.items[group], key, strict=True) if v is not None}

    def _sdq_whole(self, informant: str | None, codes: tuple) -> list[Measure]:
        """The SDQ measures of one response, scored from all its answers."""
        scored = _score_sdq(self._answers("sdq", codes), informant, self.items["sdq"])
        return [self._measures.setdefault(m, m) for m in scored]

    def _sdq_subscale(self, informant: str, scale: str, names: list[str], codes: tuple):  # noqa: ANN202
        """A subscale's measure from its own items' ``codes`` (None: a code the scoring
        package refuses, which makes the whole response a single error measure)."""
        key = (informant, scale, codes)
        if key not in self._sdq_scale:
            answers = {n: c for n, c in zip(names, codes, strict=True) if c is not None}
            scored = _score_sdq(answers, informant, self.items["sdq"])
            found = [m for m in scored if m.measure == f"sdq_{scale}"]
            self._sdq_scale[key] = self._measures.setdefault(found[0], found[0]) if found else None
        return self._sdq_scale[key]

    def sdq(self, codes: Sequence[float | None], informant: str | None) -> list[Measure]:
        answers = self.pick["sdq"](codes)
        if informant not in INFORMANTS:
            return self._sdq_whole(informant, answers)
        scales = {}
        for scale, names, pick in self._subscales:
            m = self._sdq_subscale(informant, scale, names, pick(answers))
            if m is None:
                return self._sdq_whole(informant, answers)
            scales[scale] = m
        key = (
            informant,
            tuple((scales[s].score, scales[s].n_answered) for s in DIFFICULTY_SCALES),
            sum(m.n_answered for m in scales.values()),
        )
        rest = self._sdq_totals.get(key)
        if rest is None:
            whole = self._sdq_whole(informant, answers)
            if [m.measure for m in whole[: len(SUBSCALES)]] != [f"sdq_{s}" for s in SUBSCALES]:
                return whole  # not the subscales then the rest: nothing to reuse
            rest = self._sdq_totals[key] = whole[len(SUBSCALES) :]
        return [*(scales[s] for s in SUBSCALES), *rest]

    def wemwbs(self, codes: Sequence[float | None]) -> Measure:
        key = self.pick["wemwbs"](codes)
        hit = self._wemwbs.get(key)
        if hit is None:
            hit = self._wemwbs[key] = _score_wemwbs(self._answers("wemwbs", key))
        return hit

    def construct(self, name: str, codes: Sequence[float | None]) -> Measure:
        key = (name, self.pick[name](codes))
        hit = self._construct.get(key)
        if hit is None:
            hit = self._construct[key] = _construct_measure(name, self._answers(name, key[1]))
        return hit

    def response(self, codes: Sequence[float | None], informant: str | None) -> list[Measure]:
        return [
            *self.sdq(codes, informant),
            self.wemwbs(codes),
            *(self.construct(name, codes) for name in self.constructs),
        ]


def _score_sdq(
    answers: Mapping[str, float | None], informant: str | None, items: list[str]
) -> list[Measure]:
    n_sdq = sum(1 for i in items if answers.get(i) is not None)
    if informant not in INFORMANTS:
        return [
            Measure(
                "sdq",
                "sdq_total",
                None,
                None,
                None,
                None,
                None,
                n_sdq,
                f"unknown informant {informant!r}: SDQ bands depend on the informant",
            )
        ]
    try:
        sdq = score_sdq(numbered_answers(answers, "sdq"), informant)
    except ValueError as exc:  # a code outside 0-2 slipped through staging
        return [Measure("sdq", "sdq_total", None, None, None, None, None, n_sdq, str(exc))]
    out = []
    for scale, s in sdq.scales().items():
        note = None if s.score is not None else f"{s.n_answered} of 5 items answered"
        if scale == "total" and s.score is None:
            note = "a difficulty subscale is missing"
        out.append(
            Measure(
                "sdq",
                f"sdq_{scale}",
                s.score,
                s.band,
                s.at_risk,
                s.op,
                s.threshold,
                s.n_answered,
                note,
            )
        )
    for name in ("externalising", "internalising"):
        out.append(Measure("sdq", f"sdq_{name}", getattr(sdq, name), None, None, None, None, n_sdq))
    return out


def _score_wemwbs(answers: Mapping[str, float | None]) -> Measure:
    try:
        wem = score_wemwbs(numbered_answers(answers, "wemwbs"))
    except ValueError as exc:
        return Measure("wemwbs", "wemwbs_low", None, None, None, "<=", None, 0, str(exc))
    note = None if wem.total is not None else f"{wem.n_answered} of 14 items answered"
    return Measure(
        "wemwbs",
        "wemwbs_low",
        wem.total,
        None,
        wem.at_risk,
        wem.op,
        wem.threshold,
        wem.n_answered,
        note,
    )


def _construct_measure(name: str, answers: Mapping[str, float]) -> Measure:
    c = score_construct(name, answers)
    return Measure(
        name,
        name,
        None if c.score is None else float(c.score),
        None,
        c.at_risk,
        c.op,
        c.threshold,
        c.n_answered,
        c.note,
    )


def score_response(answers: Mapping[str, float | None], informant: str | None) -> list[Measure]:
    """Every measure of one response (SDQ scales, WEMWBS, constructs), each group scored
    by the scoring package from the response's answers to its items: the plain
    definition, without the ``Scorer``'s memos."""
    items = group_items()

    def given(group: str) -> dict[str, float]:
        return {i: v for i in items[group] if (v := answers.get(i)) is not None}

    return [
        *_score_sdq(given("sdq"), informant, items["sdq"]),
        _score_wemwbs(given("wemwbs")),
        *(_construct_measure(name, given(name)) for name in _survey_config().constructs),
    ]


def _latest(r: Response) -> tuple:
    return (r.submitted_at or datetime.min, r.response_id)


def counting_responses(
    responses: list[Response], scorer: Scorer | None = None
) -> set[tuple[str, str]]:
    """``(response_id, group)`` pairs that count for their child and wave."""
    scorer = scorer or Scorer()
    by_child: dict[tuple, list[Response]] = defaultdict(list)
    for r in responses:
        if r.upn and r.academic_year and r.wave:
            by_child[(r.upn, r.academic_year, r.wave)].append(r)
    chosen: set[tuple[str, str]] = set()
    informants: dict[tuple, str | None] = {}  # (informants available, age) -> the chosen
    for rs in by_child.values():
        age = next((r.age for r in rs if r.age is not None), None)
        for group, group_items_ in scorer.items.items():
            pick, n_items = scorer.pick[group], len(group_items_)
            # available: at least one of the group's items answered
            have = [
                r for r in rs if r.informant in INFORMANTS and pick(r.codes).count(None) < n_items
            ]
            if not have:
                continue
            available = (frozenset(r.informant for r in have), age)
            if available not in informants:
                informants[available] = choose_informant(*available)  # type: ignore[arg-type]
            informant = informants[available]
            if informant is None:
                continue
            latest = max((r for r in have if r.informant == informant), key=_latest)
            chosen.add((latest.response_id, group))
    return chosen


READ_SQL = """
with

enrolled_ids as (
    -- a survey row may carry only the WLZ ID: the register gives the UPN
    select wlz_id, min(upn) as upn
    from staging.enrolments
    where wlz_id is not null and upn is not null
    group by wlz_id
),

responses as (
    select
        r.response_id,
        coalesce(r.upn, e.upn) as upn,
        r.wlz_id,
        r.anchor_urn,
        r.academic_year,
        r.submitted_at,
        r.informant
    from staging.survey_responses as r
    left join enrolled_ids as e on e.wlz_id = r.wlz_id
    where r.response_id is not null
),

ages as (
    select upn, academic_year, min(wlz_age_on_31_august(date_of_birth, academic_year)) as age
    from staging.pupils
    group by upn, academic_year
)

select
    r.response_id, r.upn, r.wlz_id, r.anchor_urn, r.academic_year, w.wave,
    r.submitted_at, r.informant, a.age
from responses as r
left join marts.wave_dates as w
    on w.academic_year = r.academic_year
   and cast(r.submitted_at as date) between w.survey_start and w.survey_end
left join ages as a on a.upn = r.upn and a.academic_year = r.academic_year
order by r.response_id
"""


def read_responses(
    con: duckdb.DuckDBPyConnection, columns: list[str] | None = None
) -> list[Response]:
    """The responses (``READ_SQL``) with their codes in ``columns`` order (default
    ``item_order()``), set in one array from the long answers table rather than one
    Python object per answer."""
    import numpy as np

    columns = columns or item_order()
    rows = con.execute(READ_SQL).fetchall()
    # row of each response_id in ``rows``, and column of each item; a response_id on
    # two rows gets its answers on both, as the lookup by id did
    found = con.execute(
        """with
           ids as (select unnest(?) as response_id, generate_subscripts(?, 1) - 1 as row),
           items as (select unnest(?) as item, generate_subscripts(?, 1) - 1 as col)
           select i.row, c.col, a.code
           from staging.survey_answers as a
           join ids as i on i.response_id = a.response_id
           join items as c on c.item = a.item
           where a.code is not null""",
        [[r[0] for r in rows]] * 2 + [columns] * 2,
    ).fetchnumpy()
    codes = np.zeros((len(rows), len(columns)), dtype=object)
    codes[:] = None
    codes[found["row"], found["col"]] = found["code"].tolist()
    return [
        Response(*row, codes=row_codes) for row, row_codes in zip(rows, codes.tolist(), strict=True)
    ]


#: The table's columns that belong to the response, and those that belong to the measure
#: (with the Measure's group, from which ``measure_group`` and ``counts`` follow): each
#: kind is handed to DuckDB as an Arrow table, and ``SCORES_SQL`` joins them.
RESPONSE_COLUMNS = COLUMNS[:9]
MEASURE_COLUMNS = (
    ("measure_key", "VARCHAR"),  # the Measure's group (sdq, wemwbs or a construct)
    *COLUMNS[10:18],
)

SCORES_SQL = """
select
    r.response_id, r.upn, r.wlz_id, r.anchor_urn, r.academic_year, r.wave,
    r.submitted_at, r.informant, r.age,
    case when m.measure_key in ('sdq', 'wemwbs') then m.measure_key else 'construct' end
        as measure_group,
    m.measure, m.score, m.band, m.at_risk, m.op, m.threshold, m.n_answered, m.note,
    c.response_id is not null as counts
from scored as s
join responses as r on r.response_row = s.response_row
join measures as m on m.measure_row = s.measure_row
left join chosen as c on c.response_id = r.response_id and c.measure_key = m.measure_key
"""


def score_tables(responses: list[Response]) -> dict[str, object]:
    """The scores as Arrow tables for ``SCORES_SQL``: ``responses`` (one row per
    response), ``measures`` (one row per distinct scored measure: the scorer memoises
    them, so most responses share theirs), ``scored`` (response row -> measure row, one
    per measure of each response) and ``chosen`` (the responses that count per measure
    group, ``counting_responses``)."""
    import pyarrow as pa

    from wlz_pipeline.marts.tables import arrow_table

    with pinned():  # one file check per config file, not one per scoring call
        scorer = Scorer()
        chosen = counting_responses(responses, scorer)
        measure_rows: dict[int, int] = {}  # id() of a memoised Measure -> its row
        measures: list[Measure] = []
        response_rows: list[int] = []
        scored_measures: list[int] = []
        for i, r in enumerate(responses):
            for m in scorer.response(r.codes, r.informant):
                row = measure_rows.get(id(m))
                if row is None:
                    row = measure_rows[id(m)] = len(measures)
                    measures.append(m)
                response_rows.append(i)
                scored_measures.append(row)
    return {
        "responses": arrow_table(
            (("response_row", "BIGINT"), *RESPONSE_COLUMNS),
            [
                (
                    i,
                    r.response_id,
                    r.upn,
                    r.wlz_id,
                    r.anchor_urn,
                    r.academic_year,
                    r.wave,
                    r.submitted_at,
                    r.informant,
                    r.age,
                )
                for i, r in enumerate(responses)
            ],
        ),
        "measures": arrow_table(
            (("measure_row", "BIGINT"), *MEASURE_COLUMNS),
            [
                (
                    j,
                    m.group,
                    m.measure,
                    m.score,
                    m.band,
                    m.at_risk,
                    m.op,
                    m.threshold,
                    m.n_answered,
                    m.note,
                )
                for j, m in enumerate(measures)
            ],
        ),
        "scored": pa.table(
            {
                "response_row": pa.array(response_rows, pa.int64()),
                "measure_row": pa.array(scored_measures, pa.int64()),
            }
        ),
        "chosen": arrow_table(
            (("response_id", "VARCHAR"), ("measure_key", "VARCHAR")), list(chosen)
        ),
    }


def build(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    from wlz_pipeline.marts.tables import write_select

    responses = read_responses(con, item_order())
    n = write_select(con, TABLE, COLUMNS, SCORES_SQL, score_tables(responses), ORDER)
    counting = con.execute(f"select count(*) from {TABLE} where counts").fetchall()[0][0]
    return {
        "rows": n,
        "responses": len(responses),
        "responses_without_child": sum(1 for r in responses if not r.upn),
        "responses_outside_waves": sum(1 for r in responses if r.upn and not r.wave),
        "counting_rows": counting,
    }
