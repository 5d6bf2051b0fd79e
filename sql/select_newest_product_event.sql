select max(occurred_at) as newest
from product_events
