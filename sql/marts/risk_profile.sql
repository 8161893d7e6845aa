-- One row per screened child (pupil on an anchor's register in the academic year) per
-- wave (rules.md §6): each risk factor as a column `f` (true / false / NULL = unknown or
-- not applicable to the child's stage) with its input `f_value` and the threshold it was
-- compared with (`f_threshold`; for attainment `f_rule`, the scoring rule applied to
-- the assessment); risk_count = true outcome factors, with the known / unknown counts
-- (denominators); need_score = weighted sum of true factors (weights in config). The
-- long form with every factor's evidence is marts.risk_factors. Adding a factor to
-- config needs its columns here too (tests/marts/test_risk_profile.py checks this).
-- partitioned by: upn
with

factor_names as (
    -- the factors numbered by name: factors_true and factors_unknown gather these
    -- numbers (far cheaper to aggregate than the names) and list_select turns them back
    -- into names (number 0, for a row without a factor, selects NULL)
    select factor, row_number() over (order by factor) as factor_number
    from (select distinct factor from marts.risk_factors where factor is not null)
),

factor_name_list as (
    select coalesce(list(factor order by factor_number), []) as names
    from factor_names
),

factor_rows as (
    select f.anchor_urn, f.upn, f.academic_year, f.wave, f.factor, f.kind, f.at_risk,
           f.value_number, f.value_text, f.threshold, f.weight, f.evidence, f.sort_order,
           coalesce(n.factor_number, 0) as factor_number
    from marts.risk_factors as f
    left join factor_names as n on n.factor = f.factor
),

pupil_rows as (
    select anchor_urn, academic_year, upn, year_group, gender
    from staging.pupils
    where upn is not null and academic_year is not null
),

anchor_rows as (
    select urn, phase
    from staging.anchors
),

register as (
    select upn, wlz_id, enrolled, cohort
    from marts.child_register
),

wave_rows as (
    select academic_year, wave, cut_off
    from marts.wave_dates
),

stages as (
    select key as year_group, text as stage
    from marts.risk_parameters
    where parameter = 'stage'
),

rule_version as (
    select text as rule_version
    from marts.risk_parameters
    where parameter = 'rule_version'
),

sdq_informants as (
    -- the informant whose SDQ counts for the child at the wave (rules.md §5)
    select upn, academic_year, wave, any_value(informant) as sdq_informant
    from marts.survey_scores
    where counts and measure_group = 'sdq'
    group by upn, academic_year, wave
),

wide as (
    -- a factor's columns aggregate its own rows: the CASE is NULL on the other factors'
    -- rows, which bool_or and any_value skip (the same as FILTER (WHERE factor = ...),
    -- and over millions of rows it computes in half the time)
    select
        anchor_urn,
        upn,
        academic_year,
        wave,
        bool_or(case when factor = 'fsm' then at_risk end) as fsm,
        any_value(case when factor = 'fsm' then value_text end) = 'true' as fsm_value,
        bool_or(case when factor = 'imd_bottom_20' then at_risk end) as imd_bottom_20,
        cast(any_value(case when factor = 'imd_bottom_20' then value_number end) as integer) as imd_bottom_20_value,
        any_value(case when factor = 'imd_bottom_20' then threshold end) as imd_bottom_20_threshold,
        bool_or(case when factor = 'sen' then at_risk end) as sen,
        any_value(case when factor = 'sen' then value_text end) as sen_value,
        bool_or(case when factor = 'attendance_below_96' then at_risk end) as attendance_below_96,
        cast(any_value(case when factor = 'attendance_below_96' then value_number end) as double) as attendance_below_96_value,
        any_value(case when factor = 'attendance_below_96' then threshold end) as attendance_below_96_threshold,
        bool_or(case when factor = 'behaviour_5_plus' then at_risk end) as behaviour_5_plus,
        cast(any_value(case when factor = 'behaviour_5_plus' then value_number end) as integer) as behaviour_5_plus_value,
        any_value(case when factor = 'behaviour_5_plus' then threshold end) as behaviour_5_plus_threshold,
        bool_or(case when factor = 'attainment_eyfs_communication' then at_risk end) as attainment_eyfs_communication,
        any_value(case when factor = 'attainment_eyfs_communication' then value_text end) as attainment_eyfs_communication_value,
        any_value(case when factor = 'attainment_eyfs_communication' then evidence end) as attainment_eyfs_communication_rule,
        bool_or(case when factor = 'attainment_eyfs_physical' then at_risk end) as attainment_eyfs_physical,
        any_value(case when factor = 'attainment_eyfs_physical' then value_text end) as attainment_eyfs_physical_value,
        any_value(case when factor = 'attainment_eyfs_physical' then evidence end) as attainment_eyfs_physical_rule,
        bool_or(case when factor = 'attainment_eyfs_psed' then at_risk end) as attainment_eyfs_psed,
        any_value(case when factor = 'attainment_eyfs_psed' then value_text end) as attainment_eyfs_psed_value,
        any_value(case when factor = 'attainment_eyfs_psed' then evidence end) as attainment_eyfs_psed_rule,
        bool_or(case when factor = 'attainment_reading' then at_risk end) as attainment_reading,
        any_value(case when factor = 'attainment_reading' then value_text end) as attainment_reading_value,
        any_value(case when factor = 'attainment_reading' then evidence end) as attainment_reading_rule,
        bool_or(case when factor = 'attainment_writing' then at_risk end) as attainment_writing,
        any_value(case when factor = 'attainment_writing' then value_text end) as attainment_writing_value,
        any_value(case when factor = 'attainment_writing' then evidence end) as attainment_writing_rule,
        bool_or(case when factor = 'attainment_maths' then at_risk end) as attainment_maths,
        any_value(case when factor = 'attainment_maths' then value_text end) as attainment_maths_value,
        any_value(case when factor = 'attainment_maths' then evidence end) as attainment_maths_rule,
        bool_or(case when factor = 'attainment_english' then at_risk end) as attainment_english,
        any_value(case when factor = 'attainment_english' then value_text end) as attainment_english_value,
        any_value(case when factor = 'attainment_english' then evidence end) as attainment_english_rule,
        bool_or(case when factor = 'sdq_total' then at_risk end) as sdq_total,
        cast(any_value(case when factor = 'sdq_total' then value_number end) as integer) as sdq_total_value,
        any_value(case when factor = 'sdq_total' then threshold end) as sdq_total_threshold,
        bool_or(case when factor = 'sdq_emotional' then at_risk end) as sdq_emotional,
        cast(any_value(case when factor = 'sdq_emotional' then value_number end) as integer) as sdq_emotional_value,
        any_value(case when factor = 'sdq_emotional' then threshold end) as sdq_emotional_threshold,
        bool_or(case when factor = 'sdq_conduct' then at_risk end) as sdq_conduct,
        cast(any_value(case when factor = 'sdq_conduct' then value_number end) as integer) as sdq_conduct_value,
        any_value(case when factor = 'sdq_conduct' then threshold end) as sdq_conduct_threshold,
        bool_or(case when factor = 'sdq_hyperactivity' then at_risk end) as sdq_hyperactivity,
        cast(any_value(case when factor = 'sdq_hyperactivity' then value_number end) as integer) as sdq_hyperactivity_value,
        any_value(case when factor = 'sdq_hyperactivity' then threshold end) as sdq_hyperactivity_threshold,
        bool_or(case when factor = 'sdq_peer' then at_risk end) as sdq_peer,
        cast(any_value(case when factor = 'sdq_peer' then value_number end) as integer) as sdq_peer_value,
        any_value(case when factor = 'sdq_peer' then threshold end) as sdq_peer_threshold,
        bool_or(case when factor = 'sdq_prosocial' then at_risk end) as sdq_prosocial,
        cast(any_value(case when factor = 'sdq_prosocial' then value_number end) as integer) as sdq_prosocial_value,
        any_value(case when factor = 'sdq_prosocial' then threshold end) as sdq_prosocial_threshold,
        bool_or(case when factor = 'wemwbs_low' then at_risk end) as wemwbs_low,
        cast(any_value(case when factor = 'wemwbs_low' then value_number end) as integer) as wemwbs_low_value,
        any_value(case when factor = 'wemwbs_low' then threshold end) as wemwbs_low_threshold,
        bool_or(case when factor = 'bullying_victimisation' then at_risk end) as bullying_victimisation,
        cast(any_value(case when factor = 'bullying_victimisation' then value_number end) as double) as bullying_victimisation_value,
        any_value(case when factor = 'bullying_victimisation' then threshold end) as bullying_victimisation_threshold,
        bool_or(case when factor = 'offending_behaviour' then at_risk end) as offending_behaviour,
        cast(any_value(case when factor = 'offending_behaviour' then value_number end) as double) as offending_behaviour_value,
        any_value(case when factor = 'offending_behaviour' then threshold end) as offending_behaviour_threshold,
        bool_or(case when factor = 'alcohol_use' then at_risk end) as alcohol_use,
        cast(any_value(case when factor = 'alcohol_use' then value_number end) as double) as alcohol_use_value,
        any_value(case when factor = 'alcohol_use' then threshold end) as alcohol_use_threshold,
        bool_or(case when factor = 'smoking' then at_risk end) as smoking,
        cast(any_value(case when factor = 'smoking' then value_number end) as double) as smoking_value,
        any_value(case when factor = 'smoking' then threshold end) as smoking_threshold,
        bool_or(case when factor = 'drug_use' then at_risk end) as drug_use,
        cast(any_value(case when factor = 'drug_use' then value_number end) as double) as drug_use_value,
        any_value(case when factor = 'drug_use' then threshold end) as drug_use_threshold,
        bool_or(case when factor = 'poor_family_management' then at_risk end) as poor_family_management,
        cast(any_value(case when factor = 'poor_family_management' then value_number end) as double) as poor_family_management_value,
        any_value(case when factor = 'poor_family_management' then threshold end) as poor_family_management_threshold,
        bool_or(case when factor = 'poor_attachment' then at_risk end) as poor_attachment,
        cast(any_value(case when factor = 'poor_attachment' then value_number end) as double) as poor_attachment_value,
        any_value(case when factor = 'poor_attachment' then threshold end) as poor_attachment_threshold,
        bool_or(case when factor = 'parents_involvement' then at_risk end) as parents_involvement,
        cast(any_value(case when factor = 'parents_involvement' then value_number end) as double) as parents_involvement_value,
        any_value(case when factor = 'parents_involvement' then threshold end) as parents_involvement_threshold,
        bool_or(case when factor = 'insufficient_exercise' then at_risk end) as insufficient_exercise,
        cast(any_value(case when factor = 'insufficient_exercise' then value_number end) as double) as insufficient_exercise_value,
        any_value(case when factor = 'insufficient_exercise' then threshold end) as insufficient_exercise_threshold,
        bool_or(case when factor = 'overcrowded_accommodation' then at_risk end) as overcrowded_accommodation,
        cast(any_value(case when factor = 'overcrowded_accommodation' then value_number end) as double) as overcrowded_accommodation_value,
        any_value(case when factor = 'overcrowded_accommodation' then threshold end) as overcrowded_accommodation_threshold,
        bool_or(case when factor = 'school_engagement' then at_risk end) as school_engagement,
        cast(any_value(case when factor = 'school_engagement' then value_number end) as double) as school_engagement_value,
        any_value(case when factor = 'school_engagement' then threshold end) as school_engagement_threshold,
        count(*) filter (where kind = 'outcome' and at_risk) as risk_count,
        count(*) filter (where kind = 'outcome' and at_risk is not null) as outcome_factors_known,
        count(*) filter (where kind = 'outcome' and at_risk is null) as outcome_factors_unknown,
        count(*) filter (where kind = 'context' and at_risk) as context_count,
        count(*) filter (where kind = 'context' and at_risk is null) as context_factors_unknown,
        round(coalesce(sum(weight) filter (where at_risk), 0), 6) as need_score,
        coalesce(list(factor_number order by sort_order) filter (where at_risk), [])
            as factor_numbers_true,
        coalesce(list(factor_number order by sort_order) filter (where at_risk is null), [])
            as factor_numbers_unknown
    from factor_rows
    group by anchor_urn, upn, academic_year, wave
)

select
    w.anchor_urn,
    w.upn,
    g.wlz_id,
    coalesce(g.enrolled, false) as enrolled,
    w.academic_year,
    w.wave,
    d.cut_off,
    a.phase,
    s.stage,
    p.year_group,
    p.gender,
    w.fsm,
    w.fsm_value,
    w.imd_bottom_20,
    w.imd_bottom_20_value,
    w.imd_bottom_20_threshold,
    w.sen,
    w.sen_value,
    w.attendance_below_96,
    w.attendance_below_96_value,
    w.attendance_below_96_threshold,
    w.behaviour_5_plus,
    w.behaviour_5_plus_value,
    w.behaviour_5_plus_threshold,
    w.attainment_eyfs_communication,
    w.attainment_eyfs_communication_value,
    w.attainment_eyfs_communication_rule,
    w.attainment_eyfs_physical,
    w.attainment_eyfs_physical_value,
    w.attainment_eyfs_physical_rule,
    w.attainment_eyfs_psed,
    w.attainment_eyfs_psed_value,
    w.attainment_eyfs_psed_rule,
    w.attainment_reading,
    w.attainment_reading_value,
    w.attainment_reading_rule,
    w.attainment_writing,
    w.attainment_writing_value,
    w.attainment_writing_rule,
    w.attainment_maths,
    w.attainment_maths_value,
    w.attainment_maths_rule,
    w.attainment_english,
    w.attainment_english_value,
    w.attainment_english_rule,
    w.sdq_total,
    w.sdq_total_value,
    w.sdq_total_threshold,
    w.sdq_emotional,
    w.sdq_emotional_value,
    w.sdq_emotional_threshold,
    w.sdq_conduct,
    w.sdq_conduct_value,
    w.sdq_conduct_threshold,
    w.sdq_hyperactivity,
    w.sdq_hyperactivity_value,
    w.sdq_hyperactivity_threshold,
    w.sdq_peer,
    w.sdq_peer_value,
    w.sdq_peer_threshold,
    w.sdq_prosocial,
    w.sdq_prosocial_value,
    w.sdq_prosocial_threshold,
    w.wemwbs_low,
    w.wemwbs_low_value,
    w.wemwbs_low_threshold,
    w.bullying_victimisation,
    w.bullying_victimisation_value,
    w.bullying_victimisation_threshold,
    w.offending_behaviour,
    w.offending_behaviour_value,
    w.offending_behaviour_threshold,
    w.alcohol_use,
    w.alcohol_use_value,
    w.alcohol_use_threshold,
    w.smoking,
    w.smoking_value,
    w.smoking_threshold,
    w.drug_use,
    w.drug_use_value,
    w.drug_use_threshold,
    w.poor_family_management,
    w.poor_family_management_value,
    w.poor_family_management_threshold,
    w.poor_attachment,
    w.poor_attachment_value,
    w.poor_attachment_threshold,
    w.parents_involvement,
    w.parents_involvement_value,
    w.parents_involvement_threshold,
    w.insufficient_exercise,
    w.insufficient_exercise_value,
    w.insufficient_exercise_threshold,
    w.overcrowded_accommodation,
    w.overcrowded_accommodation_value,
    w.overcrowded_accommodation_threshold,
    w.school_engagement,
    w.school_engagement_value,
    w.school_engagement_threshold,
    w.risk_count,
    w.outcome_factors_known,
    w.outcome_factors_unknown,
    w.context_count,
    w.context_factors_unknown,
    w.need_score,
    list_select(n.names, w.factor_numbers_true) as factors_true,
    list_select(n.names, w.factor_numbers_unknown) as factors_unknown,
    i.sdq_informant,
    v.rule_version
from wide as w
join pupil_rows as p
    on p.anchor_urn = w.anchor_urn and p.upn = w.upn and p.academic_year = w.academic_year
left join anchor_rows as a on a.urn = w.anchor_urn
left join stages as s on s.year_group = p.year_group
left join register as g on g.upn = w.upn
left join wave_rows as d on d.academic_year = w.academic_year and d.wave = w.wave
left join sdq_informants as i
    on i.upn = w.upn and i.academic_year = w.academic_year and i.wave = w.wave
cross join rule_version as v
cross join factor_name_list as n
order by w.anchor_urn, w.academic_year, w.wave, w.upn
