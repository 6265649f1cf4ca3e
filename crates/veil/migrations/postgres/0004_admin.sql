-- Administration and auto-assignment (issue 4): team routing, channel names and teams, settings
-- changed from the admin pages.

-- Auto-assignment: new unassigned conversations of the team go round-robin to its online members,
-- each holding at most `capacity` open conversations.
ALTER TABLE teams ADD COLUMN auto_assign BIGINT NOT NULL DEFAULT 0;
ALTER TABLE teams ADD COLUMN capacity BIGINT NOT NULL DEFAULT 10;
ALTER TABLE team_members ADD COLUMN last_assigned_at BIGINT NOT NULL DEFAULT 0;

-- A channel (business number) may route its conversations to a team.
ALTER TABLE channels ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN team_id TEXT REFERENCES teams(id);

-- Policies set in the admin pages (JSON values); they override the configuration file.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Inbox lists walk these in activity order and stop after one page: "mine" and "unassigned"
-- (and the assigner's queue and an agent's load) by assignee, "my teams" by team.
CREATE INDEX conversations_by_assignee_activity ON conversations (assignee_id, last_activity_at);
DROP INDEX conversations_by_assignee;
CREATE INDEX conversations_by_team_activity ON conversations (team_id, last_activity_at);
DROP INDEX conversations_by_team;
