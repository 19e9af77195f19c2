-- Fails (returns rows) when an order is above var('max_order_amount').
select order_id, amount
from {{ ref('stg_orders') }}
where amount > {{ var('max_order_amount') }}
