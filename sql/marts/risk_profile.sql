-- One row per screened child (pupil on an anchor's register in the academic year) per
-- wave (rules.md §6): each risk factor as a column `f` (true / false / NULL = unknown or
-- not applicable to the child's stage) with its input `f_value` and the threshold it was
-- compared with (`f_threshold`; for attainment `f_rule`, the scoring rule applied to
-- the assessment); risk_count = true outcome factors, with the known / unknown counts
-- (denominators); need_score = weighted sum of true factors (weights in config). The
-- long form with every factor's evidence is marts.risk_factors. Adding a factor to
-- config needs its columns here too (tests/marts/test_risk_profile.py checks this).
with

factor_rows as (
    select anchor_urn, upn, academic_year, wave, factor, kind, at_risk, value_number,
           value_text, threshold, weight, evidence, sort_order
    from marts.risk_factors
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
    select
        anchor_urn,
        upn,
        academic_year,
        wave,
        bool_or(at_risk) filter (where factor = 'fsm') as fsm,
        any_value(value_text) filter (where factor = 'fsm') = 'true' as fsm_value,
        bool_or(at_risk) filter (where factor = 'imd_bottom_20') as imd_bottom_20,
        cast(any_value(value_number) filter (where factor = 'imd_bottom_20') as integer) as imd_bottom_20_value,
        any_value(threshold) filter (where factor = 'imd_bottom_20') as imd_bottom_20_threshold,
        bool_or(at_risk) filter (where factor = 'sen') as sen,
        any_value(value_text) filter (where factor = 'sen') as sen_value,
        bool_or(at_risk) filter (where factor = 'attendance_below_96') as attendance_below_96,
        cast(any_value(value_number) filter (where factor = 'attendance_below_96') as double) as attendance_below_96_value,
        any_value(threshold) filter (where factor = 'attendance_below_96') as attendance_below_96_threshold,
        bool_or(at_risk) filter (where factor = 'behaviour_5_plus') as behaviour_5_plus,
        cast(any_value(value_number) filter (where factor = 'behaviour_5_plus') as integer) as behaviour_5_plus_value,
        any_value(threshold) filter (where factor = 'behaviour_5_plus') as behaviour_5_plus_threshold,
        bool_or(at_risk) filter (where factor = 'attainment_eyfs_communication') as attainment_eyfs_communication,
        any_value(value_text) filter (where factor = 'attainment_eyfs_communication') as attainment_eyfs_communication_value,
        any_value(evidence) filter (where factor = 'attainment_eyfs_communication') as attainment_eyfs_communication_rule,
        bool_or(at_risk) filter (where factor = 'attainment_eyfs_physical') as attainment_eyfs_physical,
        any_value(value_text) filter (where factor = 'attainment_eyfs_physical') as attainment_eyfs_physical_value,
        any_value(evidence) filter (where factor = 'attainment_eyfs_physical') as attainment_eyfs_physical_rule,
        bool_or(at_risk) filter (where factor = 'attainment_eyfs_psed') as attainment_eyfs_psed,
        any_value(value_text) filter (where factor = 'attainment_eyfs_psed') as attainment_eyfs_psed_value,
        any_value(evidence) filter (where factor = 'attainment_eyfs_psed') as attainment_eyfs_psed_rule,
        bool_or(at_risk) filter (where factor = 'attainment_reading') as attainment_reading,
        any_value(value_text) filter (where factor = 'attainment_reading') as attainment_reading_value,
        any_value(evidence) filter (where factor = 'attainment_reading') as attainment_reading_rule,
        bool_or(at_risk) filter (where factor = 'attainment_writing') as attainment_writing,
        any_value(value_text) filter (where factor = 'attainment_writing') as attainment_writing_value,
        any_value(evidence) filter (where factor = 'attainment_writing') as attainment_writing_rule,
        bool_or(at_risk) filter (where factor = 'attainment_maths') as attainment_maths,
        any_value(value_text) filter (where factor = 'attainment_maths') as attainment_maths_value,
        any_value(evidence) filter (where factor = 'attainment_maths') as attainment_maths_rule,
        bool_or(at_risk) filter (where factor = 'attainment_english') as attainment_english,
        any_value(value_text) filter (where factor = 'attainment_english') as attainment_english_value,
        any_value(evidence) filter (where factor = 'attainment_english') as attainment_english_rule,
        bool_or(at_risk) filter (where factor = 'sdq_total') as sdq_total,
        cast(any_value(value_number) filter (where factor = 'sdq_total') as integer) as sdq_total_value,
        any_value(threshold) filter (where factor = 'sdq_total') as sdq_total_threshold,
        bool_or(at_risk) filter (where factor = 'sdq_emotional') as sdq_emotional,
        cast(any_value(value_number) filter (where factor = 'sdq_emotional') as integer) as sdq_emotional_value,
        any_value(threshold) filter (where factor = 'sdq_emotional') as sdq_emotional_threshold,
        bool_or(at_risk) filter (where factor = 'sdq_conduct') as sdq_conduct,
        cast(any_value(value_number) filter (where factor = 'sdq_conduct') as integer) as sdq_conduct_value,
        any_value(threshold) filter (where factor = 'sdq_conduct') as sdq_conduct_threshold,
        bool_or(at_risk) filter (where factor = 'sdq_hyperactivity') as sdq_hyperactivity,
        cast(any_value(value_number) filter (where factor = 'sdq_hyperactivity') as integer) as sdq_hyperactivity_value,
        any_value(threshold) filter (where factor = 'sdq_hyperactivity') as sdq_hyperactivity_threshold,
        bool_or(at_risk) filter (where factor = 'sdq_peer') as sdq_peer,
        cast(any_value(value_number) filter (where factor = 'sdq_peer') as integer) as sdq_peer_value,
        any_value(threshold) filter (where factor = 'sdq_peer') as sdq_peer_threshold,
        bool_or(at_risk) filter (where factor = 'sdq_prosocial') as sdq_prosocial,
        cast(any_value(value_number) filter (where factor = 'sdq_prosocial') as integer) as sdq_prosocial_value,
        any_value(threshold) filter (where factor = 'sdq_prosocial') as sdq_prosocial_threshold,
        bool_or(at_risk) filter (where factor = 'wemwbs_low') as wemwbs_low,
        cast(any_value(value_number) filter (where factor = 'wemwbs_low') as integer) as wemwbs_low_value,
        any_value(threshold) filter (where factor = 'wemwbs_low') as wemwbs_low_threshold,
        bool_or(at_risk) filter (where factor = 'bullying_victimisation') as bullying_victimisation,
        cast(any_value(value_number) filter (where factor = 'bullying_victimisation') as double) as bullying_victimisation_value,
        any_value(threshold) filter (where factor = 'bullying_victimisation') as bullying_victimisation_threshold,
        bool_or(at_risk) filter (where factor = 'offending_behaviour') as offending_behaviour,
        cast(any_value(value_number) filter (where factor = 'offending_behaviour') as double) as offending_behaviour_value,
        any_value(threshold) filter (where factor = 'offending_behaviour') as offending_behaviour_threshold,
        bool_or(at_risk) filter (where factor = 'alcohol_use') as alcohol_use,
        cast(any_value(value_number) filter (where factor = 'alcohol_use') as double) as alcohol_use_value,
        any_value(threshold) filter (where factor = 'alcohol_use') as alcohol_use_threshold,
        bool_or(at_risk) filter (where factor = 'smoking') as smoking,
        cast(any_value(value_number) filter (where factor = 'smoking') as double) as smoking_value,
        any_value(threshold) filter (where factor = 'smoking') as smoking_threshold,
        bool_or(at_risk) filter (where factor = 'drug_use') as drug_use,
        cast(any_value(value_number) filter (where factor = 'drug_use') as double) as drug_use_value,
        any_value(threshold) filter (where factor = 'drug_use') as drug_use_threshold,
        bool_or(at_risk) filter (where factor = 'poor_family_management') as poor_family_management,
        cast(any_value(value_number) filter (where factor = 'poor_family_management') as double) as poor_family_management_value,
        any_value(threshold) filter (where factor = 'poor_family_management') as poor_family_management_threshold,
        bool_or(at_risk) filter (where factor = 'poor_attachment') as poor_attachment,
        cast(any_value(value_number) filter (where factor = 'poor_attachment') as double) as poor_attachment_value,
        any_value(threshold) filter (where factor = 'poor_attachment') as poor_attachment_threshold,
        bool_or(at_risk) filter (where factor = 'parents_involvement') as parents_involvement,
        cast(any_value(value_number) filter (where factor = 'parents_involvement') as double) as parents_involvement_value,
        any_value(threshold) filter (where factor = 'parents_involvement') as parents_involvement_threshold,
        bool_or(at_risk) filter (where factor = 'insufficient_exercise') as insufficient_exercise,
        cast(any_value(value_number) filter (where factor = 'insufficient_exercise') as double) as insufficient_exercise_value,
        any_value(threshold) filter (where factor = 'insufficient_exercise') as insufficient_exercise_threshold,
        bool_or(at_risk) filter (where factor = 'overcrowded_accommodation') as overcrowded_accommodation,
        cast(any_value(value_number) filter (where factor = 'overcrowded_accommodation') as double) as overcrowded_accommodation_value,
        any_value(threshold) filter (where factor = 'overcrowded_accommodation') as overcrowded_accommodation_threshold,
        bool_or(at_risk) filter (where factor = 'school_engagement') as school_engagement,
        cast(any_value(value_number) filter (where factor = 'school_engagement') as double) as school_engagement_value,
        any_value(threshold) filter (where factor = 'school_engagement') as school_engagement_threshold,
        count(*) filter (where kind = 'outcome' and at_risk) as risk_count,
        count(*) filter (where kind = 'outcome' and at_risk is not null) as outcome_factors_known,
        count(*) filter (where kind = 'outcome' and at_risk is null) as outcome_factors_unknown,
        count(*) filter (where kind = 'context' and at_risk) as context_count,
        count(*) filter (where kind = 'context' and at_risk is null) as context_factors_unknown,
        round(coalesce(sum(weight) filter (where at_risk), 0), 6) as need_score,
        coalesce(list(factor order by sort_order) filter (where at_risk), [])
            as factors_true,
        coalesce(list(factor order by sort_order) filter (where at_risk is null), [])
            as factors_unknown
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
    w.factors_true,
    w.factors_unknown,
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
order by w.anchor_urn, w.academic_year, w.wave, w.upn
