-- Video rooms by link. The slug is the room's public name in URLs (/rooms/<slug>) and in the signaling
-- room id (call:<slug>). Who is in a room right now lives in the signaling hub, not here.
CREATE TABLE rooms (
    slug       text        PRIMARY KEY CHECK (slug ~ '^[a-z0-9_-]{1,64}$'),
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
    created_by uuid        NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX rooms_by_creator ON rooms (created_by, created_at DESC);
