-- Sellers' catalog. Money is integer minor units (cents); images live in the database beside the product.
CREATE TABLE product_images (
    id           uuid        PRIMARY KEY,
    owner_id     uuid        NOT NULL REFERENCES users (id),
    content_type text        NOT NULL,
    bytes        bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT product_images_type CHECK (content_type IN ('image/png', 'image/jpeg', 'image/webp', 'image/gif')),
    CONSTRAINT product_images_size CHECK (octet_length(bytes) BETWEEN 1 AND 2097152)
);

CREATE TABLE products (
    id               uuid        PRIMARY KEY,
    seller_id        uuid        NOT NULL REFERENCES users (id),
    name             text        NOT NULL,
    description      text        NOT NULL DEFAULT '',
    list_price_cents bigint      NOT NULL,
    stock            integer     NOT NULL,
    image_id         uuid        REFERENCES product_images (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_name_length CHECK (char_length(name) BETWEEN 1 AND 120),
    CONSTRAINT products_description_length CHECK (char_length(description) <= 2000),
    CONSTRAINT products_price CHECK (list_price_cents > 0 AND list_price_cents <= 100000000),
    CONSTRAINT products_stock CHECK (stock >= 0 AND stock <= 1000000)
);

CREATE INDEX products_seller ON products (seller_id, created_at DESC);
