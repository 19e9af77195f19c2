-- Typed, renamed orders from the seed.
select
    order_id,
    lower(customer) as customer,
    status,
    cast(amount as numeric(12, 2)) as amount
from {{ ref('raw_orders') }}
