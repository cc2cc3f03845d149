-- Accounts. Usernames are stored lowercase; the password hash is an argon2id PHC string.
CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    username      text        NOT NULL,
    display_name  text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_username_format CHECK (username ~ '^[a-z0-9_]{3,32}$'),
    CONSTRAINT users_display_name_length CHECK (char_length(display_name) BETWEEN 1 AND 64),
    CONSTRAINT users_password_hash_is_argon2 CHECK (password_hash LIKE '$argon2%')
);

CREATE UNIQUE INDEX users_username_key ON users (username);
