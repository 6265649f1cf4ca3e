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

-- The assigner's queue: open conversations nobody holds.
CREATE INDEX conversations_unassigned ON conversations (last_activity_at) WHERE assignee_id IS NULL;
-- An agent's load: open conversations per assignee.
CREATE INDEX conversations_by_assignee_status ON conversations (assignee_id, status);
DROP INDEX conversations_by_assignee;
