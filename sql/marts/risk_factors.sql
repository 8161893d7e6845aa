-- Every risk factor of every screened child at every wave, in long form (rules.md §6):
-- the value it was decided from, the threshold and comparison, and the evidence (which
-- period, window, assessment or survey response). One row per child (anchor and UPN),
-- academic year, wave and factor that applies to the child's stage; a factor with no
-- input is unknown (at_risk NULL), never "not at risk". Factors and thresholds come from
-- marts.risk_rules (config/risk.yaml); attainment and survey factors were scored in
-- Python by the scoring package (marts.attainment_value_risk, marts.survey_scores).
-- partitioned by: upn
with

pupil_rows as (
    select anchor_urn, academic_year, upn, year_group, fsm, sen, postcode
    from staging.pupils
    where upn is not null and academic_year is not null
),

wave_rows as (
    select academic_year, wave, cut_off, behaviour_start, behaviour_end
    from marts.wave_dates
),

rule_rows as (
    select factor, kind, factor_group, measure, op, threshold, threshold_rule, weight,
           stages, sort_order
    from marts.risk_rules
),

parameter_rows as (
    select parameter, key, number, text
    from marts.risk_parameters
),

imd_rows as (
    select postcode_key, imd_decile
    from staging.imd
    where imd_decile is not null
),

attendance_rows as (
    select upn, academic_year, wave, attendance_year, source, period_start, period_end,
           possible_sessions, attended_sessions, attendance_rate
    from marts.wave_attendance
),

incident_rows as (
    select anchor_urn, upn, incident_date, academic_year
    from staging.behaviour
    where incident_date is not null and upn is not null
),

assessment_rows as (
    select anchor_urn, upn, subject, assessed_on, measure_type, value
    from staging.attainment
    where assessed_on is not null and upn is not null and subject is not null
),

attainment_risk_rows as (
    select anchor_urn, measure_type, value, at_risk, value_used, value_used_text, threshold,
           threshold_text, rule
    from marts.attainment_value_risk
),

survey_rows as (
    select upn, academic_year, wave, measure, score, band, at_risk, op, threshold,
           informant, response_id, submitted_at
    from marts.survey_scores
    where counts
),

stages as (
    select key as year_group, text as stage
    from parameter_rows
    where parameter = 'stage'
),

sen_codes as (
    select list(key order by key) as codes
    from parameter_rows
    where parameter = 'sen_code'
),

screened as (
    -- screened children: every pupil on an anchor's register in the academic year.
    -- child_id numbers the (anchor_urn, upn, academic_year, wave) of a row, so that the
    -- values below join to their child on one integer instead of four strings; NULL
    -- when the anchor or the wave is unknown (no value can join to such a row)
    select
        p.*, w.wave, w.cut_off, w.behaviour_start, w.behaviour_end, s.stage,
        case when p.anchor_urn is not null and w.wave is not null then
            dense_rank() over (order by p.anchor_urn, p.upn, p.academic_year, w.wave)
        end as child_id
    from pupil_rows as p
    join wave_rows as w on w.academic_year = p.academic_year
    left join stages as s on s.year_group = p.year_group
),

applicable as (
    -- a child of unknown stage gets only the factors that apply to every stage
    select s.anchor_urn, s.upn, s.academic_year, s.wave, s.child_id, r.*
    from screened as s
    join rule_rows as r
        on list_contains(r.stages, s.stage)
        or (s.stage is null
            and len(r.stages) = (select count(distinct stage) from stages))
),

-- context factors ---------------------------------------------------------------------

imd_by_postcode as (
    select postcode_key, min(imd_decile) as imd_decile
    from imd_rows
    group by postcode_key
),

context_values as (
    select
        child_id, 'fsm' as factor,
        case when fsm then 1.0 when not fsm then 0.0 end as value_number,
        cast(fsm as varchar) as value_text,
        'school register' as evidence
    from screened
    union all
    select
        s.child_id, 'imd_bottom_20' as factor,
        i.imd_decile as value_number,
        cast(i.imd_decile as varchar) as value_text,
        case when s.postcode is null then 'no postcode on the register'
             when i.imd_decile is null then 'postcode not found in the IMD lookup'
             else 'IMD decile of the home postcode' end as evidence
    from screened as s
    left join imd_by_postcode as i on i.postcode_key = replace(upper(s.postcode), ' ', '')
    union all
    select
        child_id, 'sen' as factor,
        null as value_number,
        sen as value_text,
        'school register' as evidence
    from screened
),

-- school attendance: the wave's attendance (wave_attendance) --------------------------

attendance_values as (
    select
        s.child_id, 'attendance_below_96' as factor,
        a.attendance_rate as value_number,
        cast(round(a.attendance_rate, 4) as varchar) as value_text,
        a.source || ' ' || a.attendance_year || ': ' || a.attended_sessions || ' of '
            || a.possible_sessions || ' possible sessions attended, '
            || a.period_start || ' to ' || a.period_end as evidence
    from screened as s
    join attendance_rows as a
        on a.upn = s.upn and a.academic_year = s.academic_year and a.wave = s.wave
),

-- behaviour: incidents in the wave's 31-day window ----------------------------------

behaviour_coverage as (
    -- the anchors that report behaviour through a window (any pupil's incident on or
    -- after its start); otherwise their children's counts are unknown, not zero
    select academic_year, wave, anchor_urn
    from marts.behaviour_coverage
),

behaviour_values as (
    select
        s.child_id, 'behaviour_5_plus' as factor,
        count(i.incident_date) as value_number,
        cast(count(i.incident_date) as varchar) as value_text,
        count(i.incident_date) || ' incidents recorded ' || s.behaviour_start || ' to '
            || s.behaviour_end as evidence
    from screened as s
    join behaviour_coverage as c
        on c.anchor_urn = s.anchor_urn and c.academic_year = s.academic_year
       and c.wave = s.wave
    left join incident_rows as i
        on i.anchor_urn = s.anchor_urn and i.upn = s.upn
       and i.incident_date between s.behaviour_start and s.behaviour_end
    group by s.child_id, s.anchor_urn, s.upn, s.academic_year, s.wave, s.behaviour_start,
             s.behaviour_end
),

-- attainment: the latest assessment per subject on or before the cut-off --------------

latest_assessments as (
    select
        s.child_id,
        a.subject, a.anchor_urn as assessed_at, a.assessed_on, a.measure_type, a.value
    from screened as s
    join assessment_rows as a on a.upn = s.upn and a.assessed_on <= s.cut_off
    where s.child_id is not null
    qualify row_number() over (
        partition by s.child_id, a.subject
        order by a.assessed_on desc, a.measure_type, a.value, a.anchor_urn
    ) = 1
),

attainment_values as (
    select
        l.child_id,
        'attainment_' || l.subject as factor,
        r.value_used as value_number,
        l.value as value_text,
        r.at_risk,
        r.threshold,
        coalesce(r.threshold_text, 'unknown') as threshold_text,
        r.rule || ' (' || l.measure_type || ', assessed ' || l.assessed_on || ')' as evidence
    from latest_assessments as l
    left join attainment_risk_rows as r
        on r.anchor_urn is not distinct from l.assessed_at
       and r.measure_type is not distinct from l.measure_type
       and r.value is not distinct from l.value
),

-- survey: the response that counts for the child and wave -----------------------------

survey_values as (
    select
        s.child_id,
        v.measure as factor,
        v.score as value_number,
        case when v.score = round(v.score) then cast(cast(v.score as bigint) as varchar)
             else cast(round(v.score, 4) as varchar) end as value_text,
        v.at_risk,
        v.threshold,
        v.op,
        v.informant || ' response ' || v.response_id || ' of '
            || cast(v.submitted_at as date)
            || coalesce(', band ' || v.band, '') as evidence
    from screened as s
    join survey_rows as v
        on v.upn = s.upn and v.academic_year = s.academic_year and v.wave = s.wave
),

-- all values, decided in SQL (context, attendance, behaviour) or in Python ----------

sql_decided as (
    select *, null::boolean as at_risk, null::double as threshold, null::varchar as op,
           null::varchar as threshold_text, false as scored
    from context_values
    union all by name
    select *, null::boolean as at_risk, null::double as threshold, null::varchar as op,
           null::varchar as threshold_text, false as scored
    from attendance_values
    union all by name
    select *, null::boolean as at_risk, null::double as threshold, null::varchar as op,
           null::varchar as threshold_text, false as scored
    from behaviour_values
),

all_values as (
    select * from sql_decided
    union all by name
    select *, null::varchar as op, true as scored from attainment_values
    union all by name
    select *, null::varchar as threshold_text, true as scored from survey_values
),

factor_ids as (
    -- factors numbered, so that a value joins to its factor's row on two integers
    select factor, row_number() over (order by factor) as factor_id
    from (select distinct factor from rule_rows where factor is not null)
),

numbered_values as (
    select v.*, f.factor_id
    from all_values as v
    join factor_ids as f on f.factor = v.factor
),

numbered_applicable as (
    select a.*, f.factor_id
    from applicable as a
    left join factor_ids as f on f.factor = a.factor
),

decided as (
    select
        a.anchor_urn, a.upn, a.academic_year, a.wave, a.factor, a.kind, a.factor_group,
        a.measure, a.weight, a.sort_order,
        v.value_number,
        v.value_text,
        coalesce(v.op, a.op) as op,
        coalesce(v.threshold, a.threshold) as threshold,
        case when a.op = 'in' then array_to_string(c.codes, ',')
             else coalesce(v.threshold_text, cast(coalesce(v.threshold, a.threshold) as varchar))
        end as threshold_text,
        a.threshold_rule,
        case
            when v.scored then v.at_risk
            when a.op = 'in' then list_contains(c.codes, v.value_text)
            else case coalesce(v.op, a.op)
                when '<' then v.value_number < coalesce(v.threshold, a.threshold)
                when '<=' then v.value_number <= coalesce(v.threshold, a.threshold)
                when '>' then v.value_number > coalesce(v.threshold, a.threshold)
                when '>=' then v.value_number >= coalesce(v.threshold, a.threshold)
                when '==' then v.value_number = coalesce(v.threshold, a.threshold)
                when '!=' then v.value_number <> coalesce(v.threshold, a.threshold)
            end
        end as at_risk,
        v.evidence
    from numbered_applicable as a
    cross join sen_codes as c
    left join numbered_values as v on v.child_id = a.child_id and v.factor_id = a.factor_id
)

select
    anchor_urn,
    upn,
    academic_year,
    wave,
    factor,
    kind,
    factor_group,
    measure,
    at_risk,
    value_number,
    value_text,
    op,
    threshold,
    threshold_text,
    threshold_rule,
    weight,
    evidence,
    sort_order
from decided
