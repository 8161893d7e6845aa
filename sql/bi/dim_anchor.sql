-- Anchors (schools, nurseries, children's centres) from the current reference file.
select urn, name, phase, borough
from staging.anchors
order by urn
