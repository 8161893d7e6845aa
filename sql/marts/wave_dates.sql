-- The two data waves of each academic year (rules.md §1) with their cut-off dates, the
-- behaviour windows (rules.md §4) and the survey windows, derived from the school
-- calendar and config/risk.yaml.
with

half_terms as (
    select academic_year, term, half_term, start_date, end_date
    from staging.calendar
    where start_date is not null and end_date is not null
),

parameters as (
    select parameter, key, number, text
    from marts.risk_parameters
),

window_days as (
    select cast(number as integer) as days
    from parameters
    where parameter = 'behaviour_window_days'
),

years as (
    select
        academic_year,
        min(start_date) filter (where term = 'autumn') as autumn_start,
        -- the end of the first half-term: the autumn half-term that starts first
        arg_min(end_date, start_date) filter (where term = 'autumn') as first_half_term_end,
        max(end_date) filter (where term = 'summer') as summer_end
    from half_terms
    group by academic_year
),

term_spans as (
    select academic_year, term, min(start_date) as term_start, max(end_date) as term_end
    from half_terms
    group by academic_year, term
),

survey_windows as (
    -- a survey return belongs to the wave whose terms (config) contain its date
    select
        t.academic_year,
        p.text as wave,
        min(t.term_start) as survey_start,
        max(t.term_end) as survey_end
    from term_spans as t
    join parameters as p on p.parameter = 'survey_term' and p.key = t.term
    group by t.academic_year, p.text
),

waves as (
    select
        y.academic_year,
        'autumn' as wave,
        y.first_half_term_end as cut_off,
        -- 31 calendar days counted from (and including) the first day of the autumn term
        y.autumn_start as behaviour_start,
        y.autumn_start + (w.days - 1) as behaviour_end
    from years as y
    cross join window_days as w
    union all
    select
        y.academic_year,
        'summer' as wave,
        y.summer_end as cut_off,
        -- 31 calendar days ending on (and including) the last day of the summer term
        y.summer_end - (w.days - 1) as behaviour_start,
        y.summer_end as behaviour_end
    from years as y
    cross join window_days as w
)

select
    w.academic_year,
    w.wave,
    w.cut_off,
    -- autumn uses the previous academic year's attendance (rules.md §1)
    case
        when w.wave = 'autumn'
            then (cast(left(w.academic_year, 4) as integer) - 1)::varchar || '/'
                 || right(left(w.academic_year, 4), 2)
        else w.academic_year
    end as attendance_year,
    w.behaviour_start,
    w.behaviour_end,
    s.survey_start,
    s.survey_end
from waves as w
left join survey_windows as s on s.academic_year = w.academic_year and s.wave = w.wave
where w.cut_off is not null and w.behaviour_start is not null
order by w.academic_year, w.wave
