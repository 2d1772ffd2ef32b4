-- 0004: reporting view and a uniqueness rule for project names per owner.
ALTER TABLE projects ADD CONSTRAINT uq_projects_owner_name UNIQUE (owner_id, name);

CREATE OR REPLACE VIEW project_task_counts AS
SELECT p.id AS project_id,
       p.name,
       count(t.id) AS open_tasks
FROM projects p
LEFT JOIN tasks t ON t.project_id = p.id AND t.status <> 'done'
GROUP BY p.id, p.name;
