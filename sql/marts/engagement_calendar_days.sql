-- Every day of the academic years in the school calendar (1 September - 31 August), with
-- the half-term it belongs to and whether it is term time (rules.md §1). Term time is
-- every day from a half-term's first to its last day; a term day is a term-time weekday.
-- Holiday days belong to the half-term before them (days before a year's first
-- half-term to the first), so an interaction in the holidays still counts in one term.
-- term_time_days_through counts term-time days up to this day over the whole calendar:
-- the number of term-time days between two dates is a subtraction (the 14-day rule).
with

half_terms as (
    select academic_year, term, half_term, start_date, end_date
    from staging.calendar
    where start_date is not null and end_date is not null and start_date <= end_date
),

years as (
    select distinct
        academic_year,
        make_date(cast(left(academic_year, 4) as integer), 9, 1) as year_start,
        make_date(cast(left(academic_year, 4) as integer) + 1, 8, 31) as year_end
    from half_terms
),

days as (
    select
        academic_year,
        cast(unnest(generate_series(year_start, year_end, interval 1 day)) as date) as day
    from years
),

assigned as (
    select
        d.day,
        d.academic_year,
        -- the latest half-term of the year started on or before the day, else the first
        coalesce(
            max_by(h.half_term, h.start_date) filter (where h.start_date <= d.day),
            min_by(h.half_term, h.start_date)
        ) as half_term,
        bool_or(d.day between h.start_date and h.end_date) as is_term_time
    from days as d
    join half_terms as h on h.academic_year = d.academic_year
    group by d.day, d.academic_year
)

select
    a.day,
    a.academic_year,
    h.term,
    a.half_term,
    h.start_date as half_term_start,
    h.end_date as half_term_end,
    a.is_term_time,
    a.is_term_time and isodow(a.day) <= 5 as is_term_day,
    cast(date_trunc('week', a.day) as date) as week_start,
    cast(sum(case when a.is_term_time then 1 else 0 end) over (order by a.day) as integer)
        as term_time_days_through
from assigned as a
join half_terms as h on h.academic_year = a.academic_year and h.half_term = a.half_term
order by a.day
