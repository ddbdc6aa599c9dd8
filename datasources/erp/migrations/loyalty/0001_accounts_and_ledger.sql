-- Loyalty core: tiers, member accounts and the ledger of every point movement.
-- The balance on an account is a cache of its ledger (sum of `points`), kept in step by the
-- same transaction that writes the entry; the CHECK is the last line against overdrawing.

CREATE SCHEMA IF NOT EXISTS loyalty;

CREATE TABLE loyalty.tier (
    code                text     PRIMARY KEY,
    rank                smallint NOT NULL UNIQUE,
    min_lifetime_points bigint   NOT NULL UNIQUE CHECK (min_lifetime_points >= 0),
    display_name        text     NOT NULL
);

COMMENT ON TABLE loyalty.tier IS
    'Tier programme: a member reaches a tier at min_lifetime_points earned over their lifetime.';

INSERT INTO loyalty.tier (code, rank, min_lifetime_points, display_name) VALUES
    ('BRONZE',   1,     0, 'Bronze'),
    ('SILVER',   2,  1000, 'Silver'),
    ('GOLD',     3,  5000, 'Gold'),
    ('PLATINUM', 4, 20000, 'Platinum');

CREATE TABLE loyalty.account (
    customer_id     text        PRIMARY KEY,
    points_balance  bigint      NOT NULL DEFAULT 0 CHECK (points_balance >= 0),
    lifetime_points bigint      NOT NULL DEFAULT 0 CHECK (lifetime_points >= 0),
    tier_code       text        NOT NULL DEFAULT 'BRONZE' REFERENCES loyalty.tier (code),
    enrolled_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

COMMENT ON COLUMN loyalty.account.tier_code IS
    'Only ever raised (by earning); spending points does not demote.';

CREATE TABLE loyalty.ledger_entry (
    entry_id    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id text        NOT NULL REFERENCES loyalty.account (customer_id),
    entry_type  text        NOT NULL
                CHECK (entry_type IN ('OPENING', 'EARN', 'REDEEM', 'REVERSAL', 'ADJUSTMENT')),
    points      bigint      NOT NULL CHECK (points <> 0),  -- signed: + credit, - debit
    order_id    text,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ledger_entry_customer_idx ON loyalty.ledger_entry (customer_id, entry_id);
