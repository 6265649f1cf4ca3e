-- Several Veil nodes on one database (issue 7).

-- Periodic jobs that must run once per installation, not once per node (checkpoints, audit
-- verification, alert rules and delivery, auto-assignment): the node holding a job's lease runs it
-- and renews the lease on every run; when that node dies the lease runs out and another takes over.
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    lease_until BIGINT NOT NULL
);

-- Send pacing shared by every node: one row per bucket (a business number, or a business number
-- and a recipient), holding the bucket's theoretical arrival time in microseconds (GCRA).
CREATE TABLE pacing (
    bucket TEXT PRIMARY KEY,
    tat_us BIGINT NOT NULL
);
