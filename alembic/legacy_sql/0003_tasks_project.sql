-- 0003: tasks belong to projects.
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS project_id integer;

ALTER TABLE tasks
    ADD CONSTRAINT fk_tasks_project_id FOREIGN KEY (project_id) REFERENCES projects (id);

ALTER TABLE tasks
    ADD CONSTRAINT ck_tasks_status CHECK (status IN ('todo', 'doing', 'done'));
