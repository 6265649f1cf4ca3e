-- PostgreSQL's 0010 wraps its ingest statement in a function planned without sequential scans.
-- SQLite's ingest runs in its writer thread with its own statements; nothing to add. Kept so that
-- both backends number their migrations alike.
SELECT 1;
