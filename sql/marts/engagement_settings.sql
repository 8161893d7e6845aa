-- The engagement rules in force (config/engagement.yaml, rules.md §9-12) and the date
-- the engagement marts are evaluated at: one row, read by every engagement mart so that
-- no threshold is a literal in their SQL and each figure can show what produced it.
-- as_of_date: a fixed date, today, or (the default) the newest date of the evidence -
-- LW interactions, partner sessions, school attendance marks - never after today.
{%- set e = engagement() %}
with

interaction_dates as (
    select max(cast(started_at as date)) as latest_on
    from staging.interactions
),

session_dates as (
    select max(session_date) as latest_on
    from staging.partner_marks
),

attendance_dates as (
    select max(date) as latest_on
    from staging.attendance_marks
),

latest_data as (
    select
        -- greatest/least ignore NULLs: one empty source does not hide the others
        least(greatest(i.latest_on, s.latest_on, a.latest_on), current_date) as latest_data_on
    from interaction_dates as i
    cross join session_dates as s
    cross join attendance_dates as a
)

select
    {{ e.rule_version }} as rule_version,
    {{ e.as_of_mode }} as as_of_mode,
    case {{ e.as_of_mode }}
        when 'fixed' then {{ e.as_of_fixed }}
        when 'today' then current_date
        else coalesce(latest_data_on, current_date)
    end as as_of_date,
    latest_data_on,
    {{ e.checkin_kinds }} as checkin_kinds,
    {{ e.checkin_with_whom }} as checkin_with_whom,
    {{ e.review_kinds }} as review_kinds,
    {{ e.support_kinds }} as support_kinds,
    {{ e.checkin_share_min }} as checkin_share_min,
    {{ e.reviews_per_half_term }} as reviews_per_half_term,
    {{ e.support_hours_min }} as support_hours_min,
    {{ e.missed_sessions_in_a_row }} as missed_sessions_in_a_row,
    {{ e.no_checkin_term_time_days }} as no_checkin_term_time_days,
    {{ e.attendance_below }} as attendance_below,
    {{ e.attendance_min_possible_sessions }} as attendance_min_possible_sessions,
    {{ e.partner_return_grace_days }} as partner_return_grace_days,
    {{ e.retained_last_sessions }} as retained_last_sessions,
    {{ e.completed_last_sessions }} as completed_last_sessions,
    {%- for band in e.dosage_bands %}
    {{ e["dosage_" ~ band ~ "_min_hours"] }} as dosage_{{ band }}_min_hours,
    {{ e["dosage_" ~ band ~ "_max_hours"] }} as dosage_{{ band }}_max_hours,
    {%- endfor %}
    'config/engagement.yaml' as config_file
from latest_data
