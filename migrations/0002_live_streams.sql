-- Live shopping streams and their categories.
CREATE TABLE categories (
    id         smallint PRIMARY KEY,
    slug       text     NOT NULL UNIQUE,
    name       text     NOT NULL,
    sort_order smallint NOT NULL
);

INSERT INTO categories (id, slug, name, sort_order) VALUES
    (1, 'fashion',      'Fashion',      1),
    (2, 'electronics',  'Electronics',  2),
    (3, 'home',         'Home',         3),
    (4, 'beauty',       'Beauty',       4),
    (5, 'food',         'Food',         5),
    (6, 'collectibles', 'Collectibles', 6),
    (7, 'other',        'Other',        7);

CREATE TABLE streams (
    id           uuid        PRIMARY KEY,
    seller_id    uuid        NOT NULL REFERENCES users (id),
    title        text        NOT NULL,
    description  text        NOT NULL DEFAULT '',
    category_id  smallint    NOT NULL REFERENCES categories (id),
    status       text        NOT NULL DEFAULT 'live',
    started_at   timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz,
    peak_viewers integer     NOT NULL DEFAULT 0,
    CONSTRAINT streams_status CHECK (status IN ('live', 'ended')),
    CONSTRAINT streams_ended_at CHECK ((status = 'ended') = (ended_at IS NOT NULL)),
    CONSTRAINT streams_title_length CHECK (char_length(title) BETWEEN 1 AND 120),
    CONSTRAINT streams_description_length CHECK (char_length(description) <= 2000),
    CONSTRAINT streams_peak_viewers CHECK (peak_viewers >= 0)
);

CREATE INDEX streams_live ON streams (started_at DESC) WHERE status = 'live';
-- One live stream per seller at a time.
CREATE UNIQUE INDEX streams_one_live_per_seller ON streams (seller_id) WHERE status = 'live';
