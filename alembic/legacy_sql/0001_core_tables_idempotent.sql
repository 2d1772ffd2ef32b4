-- 0001: core tables of the taskboard.
-- Rewritten to be "idempotent" so the service can run it at every start.
-- The index on tasks.project_id was added here later, but the column itself
-- only arrives in 0003: on a fresh database, and on production where tasks
-- already exists in its older shape, this file fails.

CREATE TABLE IF NOT EXISTS users (
    id          serial PRIMARY KEY,
    email       varchar(255) NOT NULL UNIQUE,
    full_name   text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS projects (
    id          serial PRIMARY KEY,
    owner_id    integer NOT NULL REFERENCES users (id),
    name        varchar(200) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS tasks (
    id          serial PRIMARY KEY,
    title       text NOT NULL,
    status      varchar(20) NOT NULL DEFAULT 'todo',
    assignee_id integer REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_tasks_project_id ON tasks (project_id);
CREATE INDEX IF NOT EXISTS idx_tasks_assignee_id ON tasks (assignee_id);
