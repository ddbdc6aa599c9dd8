-- Redemptions against orders, exactly once per order.
-- The primary key on order_id is what makes a redemption idempotent: a duplicate request waits
-- on the first one's index entry and then finds it. The partial unique index on the ledger
-- makes each kind of movement of one order (earn, redeem, reversal) a database-enforced once.

CREATE TABLE loyalty.redemption (
    order_id       text        PRIMARY KEY,
    -- NULL with status VOIDED: the order was cancelled before anything was redeemed for it.
    customer_id    text        REFERENCES loyalty.account (customer_id),
    points         bigint      NOT NULL CHECK (points >= 0),
    status         text        NOT NULL CHECK (status IN ('REDEEMED', 'COMPENSATED', 'VOIDED')),
    redeemed_at    timestamptz NOT NULL DEFAULT now(),
    compensated_at timestamptz,
    CHECK ((status = 'REDEEMED') = (compensated_at IS NULL)),
    CHECK ((status = 'VOIDED') = (customer_id IS NULL))
);

CREATE INDEX redemption_customer_idx ON loyalty.redemption (customer_id, redeemed_at);

CREATE UNIQUE INDEX ledger_entry_order_once
    ON loyalty.ledger_entry (order_id, entry_type)
    WHERE order_id IS NOT NULL;
