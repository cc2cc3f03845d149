-- Products featured in a live stream at a special price, and orders placed during streams.
CREATE TABLE featured_products (
    stream_id           uuid        NOT NULL REFERENCES streams (id),
    product_id          uuid        NOT NULL REFERENCES products (id),
    special_price_cents bigint      NOT NULL,
    per_buyer_limit     integer,
    ends_at             timestamptz,
    featured_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, product_id),
    CONSTRAINT featured_price CHECK (special_price_cents > 0),
    CONSTRAINT featured_limit CHECK (per_buyer_limit IS NULL OR per_buyer_limit BETWEEN 1 AND 1000)
);

CREATE TABLE orders (
    id               uuid        PRIMARY KEY,
    number           bigint      GENERATED ALWAYS AS IDENTITY (START WITH 1001) UNIQUE,
    buyer_id         uuid        NOT NULL REFERENCES users (id),
    seller_id        uuid        NOT NULL REFERENCES users (id),
    stream_id        uuid        NOT NULL REFERENCES streams (id),
    product_id       uuid        NOT NULL REFERENCES products (id),
    quantity         integer     NOT NULL,
    unit_price_cents bigint      NOT NULL,
    total_cents      bigint      NOT NULL,
    idempotency_key  uuid        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_quantity CHECK (quantity BETWEEN 1 AND 1000),
    CONSTRAINT orders_total CHECK (total_cents = unit_price_cents * quantity),
    CONSTRAINT orders_idempotency UNIQUE (buyer_id, idempotency_key)
);

CREATE INDEX orders_buyer ON orders (buyer_id, created_at DESC);
CREATE INDEX orders_stream ON orders (stream_id, created_at DESC);
CREATE INDEX orders_buyer_product ON orders (buyer_id, stream_id, product_id);
