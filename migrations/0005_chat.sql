-- Live chat in a stream: messages (soft-deleted by the seller) and per-stream mutes.
CREATE TABLE chat_messages (
    id         uuid        PRIMARY KEY,
    stream_id  uuid        NOT NULL REFERENCES streams (id),
    user_id    uuid        NOT NULL REFERENCES users (id),
    text       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at timestamptz,
    deleted_by uuid        REFERENCES users (id),
    CONSTRAINT chat_messages_text_length CHECK (char_length(text) BETWEEN 1 AND 500),
    CONSTRAINT chat_messages_deleted CHECK ((deleted_at IS NULL) = (deleted_by IS NULL))
);

-- The last messages of a stream (ids are UUIDv7, so they sort by time too).
CREATE INDEX chat_messages_recent ON chat_messages (stream_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- A user muted in a stream's chat by its seller, for the rest of the stream.
CREATE TABLE chat_mutes (
    stream_id  uuid        NOT NULL REFERENCES streams (id),
    user_id    uuid        NOT NULL REFERENCES users (id),
    muted_by   uuid        NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, user_id)
);
