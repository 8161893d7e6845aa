"""Partner templates from the warehouse: which programmes run in which term, with which
children (``staging.allocations``), on which dates (``staging.calendar`` and the
programme's delivery pattern in ``config/partner_programmes.yaml``).

Used by ``wlz template`` and the ``partners/templates`` asset; the workbook itself is
written by :mod:`wlz_pipeline.sources.partner_template`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from wlz_pipeline.sources.partner_template import (
    Child,
    TemplateSpec,
    plan_sessions,
    programme_settings,
    write_template,
)


def parse_term(value: str) -> tuple[str, str]:
    """``2017/18-autumn`` -> (``2017/18``, ``autumn``)."""
    year, _, term = value.partition("-")
    if len(year) != 7 or year[4] != "/" or term not in ("autumn", "spring", "summer"):
        raise ValueError(f"term {value!r}: expected e.g. 2017/18-autumn")
    return year, term


def term_key(academic_year: str, term: str) -> str:
    """(``2017/18``, ``autumn``) -> ``2017/18-autumn`` (the inverse of :func:`parse_term`)."""
    return f"{academic_year}-{term}"


def calendar_terms(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The template terms of ``staging.calendar`` (``2017/18-autumn``...), in date order.

    Empty when the calendar has not been built yet; rows whose year or term is not a
    template term (e.g. a typo the staging rules let through) are left out.
    """
    exists = con.execute(
        """SELECT count(*) FROM duckdb_tables()
           WHERE schema_name = 'staging' AND table_name = 'calendar'"""
    ).fetchone()[0]
    if not exists:
        return []
    rows = con.execute(
        """SELECT academic_year, term FROM staging.calendar
           WHERE academic_year IS NOT NULL AND term IS NOT NULL
           GROUP BY ALL ORDER BY min(start_date) NULLS LAST, academic_year, term"""
    ).fetchall()
    keys = []
    for year, trm in rows:
        key = term_key(year, trm)
        try:
            parse_term(key)
        except ValueError:
            continue
        keys.append(key)
    return keys


def template_specs(
    con: duckdb.DuckDBPyConnection,
    partner: str | None = None,
    programme: str | None = None,
    term: str | None = None,
) -> list[TemplateSpec]:
    """One spec per partner programme and term with allocated children, filtered."""
    year, trm = parse_term(term) if term else (None, None)
    groups = con.execute(
        """SELECT a.partner_id, p.name, array_to_string(p.outcome_areas, ', '),
                  a.programme, a.academic_year, a.term,
                  list(DISTINCT a.wlz_id ORDER BY a.wlz_id) AS children
           FROM staging.allocations a
           JOIN staging.partners p USING (partner_id)
           WHERE (? IS NULL OR a.partner_id = upper(?))
             AND (? IS NULL OR a.programme = ?)
             AND (? IS NULL OR a.academic_year = ?)
             AND (? IS NULL OR a.term = ?)
           GROUP BY ALL ORDER BY ALL""",
        [partner, partner, programme, programme, year, year, trm, trm],
    ).fetchall()
    names = dict(
        con.execute(
            """SELECT e.wlz_id, arg_max(p.forename || ' ' || p.surname, p.extract_date)
               FROM staging.enrolments e
               LEFT JOIN staging.pupils p ON p.upn = e.upn AND p.anchor_urn = e.anchor_urn
               GROUP BY e.wlz_id"""
        ).fetchall()
    )
    specs = []
    for partner_id, partner_name, areas, prog, year, trm, children in groups:
        half_terms = con.execute(
            """SELECT start_date, end_date FROM staging.calendar
               WHERE academic_year = ? AND term = ? ORDER BY start_date""",
            [year, trm],
        ).fetchall()
        settings = programme_settings(prog)
        specs.append(
            TemplateSpec(
                partner_id=partner_id,
                partner_name=partner_name,
                programme=prog,
                academic_year=year,
                term=trm,
                session_leader="",
                outcome_area=areas,
                measure=settings.measure,
                sessions=plan_sessions(half_terms, settings.weekday, settings.minutes),
                children=[Child(c, names.get(c) or "") for c in children],
            )
        )
    return specs


def write_templates(specs: list[TemplateSpec], out_dir: Path) -> list[Path]:
    """Write each spec under ``out_dir/<partner_id>/`` (file name from the spec)."""
    paths = []
    for spec in specs:
        folder = out_dir / spec.partner_id
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(write_template(spec, folder))
    return paths
