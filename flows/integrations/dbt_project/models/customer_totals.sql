-- Kept (not returned) order amounts per customer.
select
    customer,
    count(*) as orders,
    sum(amount) as total_amount
from {{ ref('stg_orders') }}
where status <> 'returned'
group by customer
