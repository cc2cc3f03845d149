-- Proctored tests: the test and its questions, who invigilates and who takes it, each student's attempt
-- and answers, the flags their page raises, and the audit of which invigilator watched which student.
-- Ids are UUIDv7 made by the application.

CREATE TABLE tests (
    id               uuid        PRIMARY KEY,
    owner_id         uuid        NOT NULL REFERENCES users (id),
    title            text        NOT NULL,
    instructions     text        NOT NULL DEFAULT '',
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    -- Time a student has from starting; NULL: until ends_at.
    duration_minutes integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tests_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT tests_instructions_length CHECK (char_length(instructions) <= 5000),
    CONSTRAINT tests_window CHECK (ends_at > starts_at),
    CONSTRAINT tests_duration CHECK (duration_minutes IS NULL OR duration_minutes BETWEEN 1 AND 600)
);

CREATE TABLE test_questions (
    id       uuid     PRIMARY KEY,
    test_id  uuid     NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    -- 1-based order within the test.
    position smallint NOT NULL,
    prompt   text     NOT NULL,
    CONSTRAINT test_questions_position UNIQUE (test_id, position),
    -- Lets answers reference (test, question), so an answer's question belongs to its test.
    CONSTRAINT test_questions_of_test UNIQUE (test_id, id),
    CONSTRAINT test_questions_position_positive CHECK (position >= 1),
    CONSTRAINT test_questions_prompt_length CHECK (char_length(prompt) BETWEEN 1 AND 2000)
);

-- Roles come from membership only: invigilators (the creator and co-invigilators) and students.
CREATE TABLE test_members (
    test_id  uuid        NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    user_id  uuid        NOT NULL REFERENCES users (id),
    role     text        NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (test_id, user_id),
    CONSTRAINT test_members_role CHECK (role IN ('invigilator', 'student'))
);

-- "My tests" of a user.
CREATE INDEX test_members_user ON test_members (user_id);

-- One attempt per student and test.
CREATE TABLE attempts (
    test_id      uuid        NOT NULL,
    student_id   uuid        NOT NULL,
    started_at   timestamptz NOT NULL,
    -- min(started_at + duration, tests.ends_at): answers are refused from then on.
    deadline     timestamptz NOT NULL,
    submitted_at timestamptz,
    PRIMARY KEY (test_id, student_id),
    FOREIGN KEY (test_id, student_id) REFERENCES test_members (test_id, user_id) ON DELETE CASCADE,
    CONSTRAINT attempts_deadline CHECK (deadline > started_at)
);

-- The latest text of each answer (saved as the student types).
CREATE TABLE answers (
    test_id     uuid        NOT NULL,
    student_id  uuid        NOT NULL,
    question_id uuid        NOT NULL,
    text        text        NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (test_id, student_id, question_id),
    FOREIGN KEY (test_id, student_id) REFERENCES attempts (test_id, student_id) ON DELETE CASCADE,
    FOREIGN KEY (test_id, question_id) REFERENCES test_questions (test_id, id) ON DELETE CASCADE,
    CONSTRAINT answers_text_length CHECK (char_length(text) <= 20000)
);

-- What a student's page reported, stamped with the server's time.
CREATE TABLE flags (
    id               uuid        PRIMARY KEY,
    test_id          uuid        NOT NULL,
    student_id       uuid        NOT NULL,
    kind             text        NOT NULL,
    -- Raised while the student's connection was reconnecting: likely the network, not behaviour.
    during_reconnect boolean     NOT NULL DEFAULT false,
    raised_at        timestamptz NOT NULL,
    FOREIGN KEY (test_id, student_id) REFERENCES attempts (test_id, student_id) ON DELETE CASCADE,
    CONSTRAINT flags_kind CHECK (kind IN ('tab_hidden', 'window_blur', 'fullscreen_exit', 'camera_stopped'))
);

CREATE INDEX flags_of_student ON flags (test_id, student_id, raised_at DESC, id DESC);

-- Which invigilator watched which student's full stream, from when to when. Kept when memberships change.
CREATE TABLE view_audit (
    id             uuid        PRIMARY KEY,
    test_id        uuid        NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    invigilator_id uuid        NOT NULL REFERENCES users (id),
    student_id     uuid        NOT NULL REFERENCES users (id),
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz,
    CONSTRAINT view_audit_period CHECK (ended_at IS NULL OR ended_at >= started_at)
);

CREATE INDEX view_audit_of_test ON view_audit (test_id, started_at DESC);
-- Open views of an invigilator (ended when their last connection leaves the test's room).
CREATE INDEX view_audit_open ON view_audit (invigilator_id, test_id) WHERE ended_at IS NULL;
