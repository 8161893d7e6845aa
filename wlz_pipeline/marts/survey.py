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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import duckdb

from wlz_pipeline.scoring.constructs import _config as _survey_config
from wlz_pipeline.scoring.constructs import numbered_answers, score_construct
from wlz_pipeline.scoring.sdq import INFORMANTS, choose_informant, score_sdq
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
    answers: dict[str, float]


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


class Scorer:
    """Scores responses; results are memoised per build by the answers each measure
    reads (a construct has a handful of items with a few codes each, so most responses
    repeat a pattern already scored), and the config is read once."""

    def __init__(self) -> None:
        self.items = group_items()
        self.constructs = list(_survey_config().constructs)
        self._sdq: dict[tuple, list[Measure]] = {}
        self._wemwbs: dict[tuple, Measure] = {}
        self._construct: dict[tuple, Measure] = {}

    def _key(self, group: str, answers: Mapping[str, float | None]) -> tuple:
        return tuple(answers.get(i) for i in self.items[group])

    def sdq(self, answers: Mapping[str, float | None], informant: str | None) -> list[Measure]:
        key = (informant, self._key("sdq", answers))
        if key not in self._sdq:
            self._sdq[key] = _score_sdq(answers, informant, self.items["sdq"])
        return self._sdq[key]

    def wemwbs(self, answers: Mapping[str, float | None]) -> Measure:
        key = self._key("wemwbs", answers)
        if key not in self._wemwbs:
            self._wemwbs[key] = _score_wemwbs(answers)
        return self._wemwbs[key]

    def construct(self, name: str, answers: Mapping[str, float | None]) -> Measure:
        key = (name, self._key(name, answers))
        if key not in self._construct:
            c = score_construct(name, answers)
            self._construct[key] = Measure(
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
        return self._construct[key]

    def response(self, answers: Mapping[str, float | None], informant: str | None) -> list[Measure]:
        return [
            *self.sdq(answers, informant),
            self.wemwbs(answers),
            *(self.construct(name, answers) for name in self.constructs),
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


def score_response(answers: Mapping[str, float | None], informant: str | None) -> list[Measure]:
    """Every measure of one response (SDQ scales, WEMWBS, constructs)."""
    return Scorer().response(answers, informant)


def _available(answers: Mapping[str, float | None], items: Iterable[str]) -> bool:
    return any(answers.get(i) is not None for i in items)


def counting_responses(
    responses: list[Response], items: dict[str, list[str]] | None = None
) -> set[tuple[str, str]]:
    """``(response_id, group)`` pairs that count for their child and wave."""
    items = items or group_items()
    by_child: dict[tuple, list[Response]] = defaultdict(list)
    for r in responses:
        if r.upn and r.academic_year and r.wave:
            by_child[(r.upn, r.academic_year, r.wave)].append(r)
    chosen: set[tuple[str, str]] = set()
    for rs in by_child.values():
        age = next((r.age for r in rs if r.age is not None), None)
        for group, group_items_ in items.items():
            have = [
                r for r in rs if r.informant in INFORMANTS and _available(r.answers, group_items_)
            ]
            if not have:
                continue
            informant = choose_informant({r.informant for r in have}, age)  # type: ignore[misc]
            if informant is None:
                continue
            latest = max(
                (r for r in have if r.informant == informant),
                key=lambda r: (r.submitted_at or datetime.min, r.response_id),
            )
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


def read_responses(con: duckdb.DuckDBPyConnection) -> list[Response]:
    rows = con.execute(READ_SQL).fetchall()
    answers: dict[str, dict[str, float]] = defaultdict(dict)
    for response_id, item, code in con.execute(
        "select response_id, item, code from staging.survey_answers where code is not null"
    ).fetchall():
        answers[response_id][item] = code
    return [Response(*row, answers=answers.get(row[0], {})) for row in rows]


def score_rows(responses: list[Response]) -> list[tuple]:
    scorer = Scorer()
    chosen = counting_responses(responses, scorer.items)
    out = []
    for r in responses:
        for m in scorer.response(r.answers, r.informant):
            out.append(
                (
                    r.response_id,
                    r.upn,
                    r.wlz_id,
                    r.anchor_urn,
                    r.academic_year,
                    r.wave,
                    r.submitted_at,
                    r.informant,
                    r.age,
                    m.group if m.group in ("sdq", "wemwbs") else "construct",
                    m.measure,
                    m.score,
                    m.band,
                    m.at_risk,
                    m.op,
                    m.threshold,
                    m.n_answered,
                    m.note,
                    (r.response_id, m.group) in chosen,
                )
            )
    return out


def build(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    from wlz_pipeline.marts.tables import write_table

    responses = read_responses(con)
    rows = score_rows(responses)
    n = write_table(con, TABLE, COLUMNS, rows, ORDER)
    return {
        "rows": n,
        "responses": len(responses),
        "responses_without_child": sum(1 for r in responses if not r.upn),
        "responses_outside_waves": sum(1 for r in responses if r.upn and not r.wave),
        "counting_rows": sum(1 for row in rows if row[-1]),
    }
