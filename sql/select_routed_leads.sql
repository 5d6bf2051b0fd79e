-- Every lead ever routed to a rep.
select distinct lead_id
from lead_routing
