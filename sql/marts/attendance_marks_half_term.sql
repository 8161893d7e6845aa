-- Session marks counted per child (anchor and UPN) and half-term: the one pass over the
-- register marks (about 23 million at zone scale); every attendance figure downstream
-- reads this small table. Categories come from the DfE code table in config
-- (meta.attendance_codes, joined in staging): attended = present + approved educational
-- activity; possible = every valid mark except not_counted (rules.md §2). A mark whose
-- code is not valid on its date is counted as invalid: neither possible nor attended.
-- partitioned by: upn
with

calendar_half_terms as (
    select academic_year, term, half_term, start_date, end_date
    from staging.calendar
    where start_date is not null and end_date is not null
),

register_marks as (
    select anchor_urn, upn, date, code_category
    from staging.attendance_marks
    where date is not null and session is not null and upn is not null
),

half_term_days as (
    -- each day of the academic year (1 September - 31 August) belongs to one half-term:
    -- holiday days to the half-term before them, days before the first half-term to the
    -- first; so a mark on an INSET or holiday date is still counted once
    select
        academic_year,
        term,
        half_term,
        case when row_number() over year_order = 1
             then make_date(cast(left(academic_year, 4) as integer), 9, 1)
             else start_date end as from_date,
        coalesce(
            lead(start_date) over year_order - 1,
            make_date(cast(left(academic_year, 4) as integer) + 1, 8, 31)
        ) as to_date
    from calendar_half_terms
    window year_order as (partition by academic_year order by start_date)
),

days as (
    select
        academic_year,
        term,
        half_term,
        cast(unnest(generate_series(from_date, to_date, interval 1 day)) as date) as day
    from half_term_days
    where from_date <= to_date
)

select
    m.anchor_urn,
    m.upn,
    d.academic_year,
    d.term,
    d.half_term,
    count(*) filter (where m.code_category in ('present', 'approved_activity', 'authorised', 'unauthorised')) as possible_sessions,
    count(*) filter (where m.code_category in ('present', 'approved_activity')) as attended_sessions,
    count(*) filter (where m.code_category = 'present') as present_sessions,
    count(*) filter (where m.code_category = 'approved_activity') as approved_activity_sessions,
    count(*) filter (where m.code_category = 'authorised') as authorised_absences,
    count(*) filter (where m.code_category = 'unauthorised') as unauthorised_absences,
    count(*) filter (where m.code_category = 'not_counted') as not_counted_sessions,
    count(*) filter (where m.code_category is null) as invalid_marks,
    min(m.date) as first_mark_on,
    max(m.date) as last_mark_on
from register_marks as m
join days as d on d.day = m.date
group by m.anchor_urn, m.upn, d.academic_year, d.term, d.half_term
order by m.anchor_urn, m.upn, d.academic_year, d.term, d.half_term
