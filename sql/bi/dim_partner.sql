-- Partner charities. Outcome areas are pipe-separated text (BI drivers read lists badly).
select partner_id, name, array_to_string(outcome_areas, '|') as outcome_areas
from staging.partners
order by partner_id
