select count(*) as leads
from crm_leads
