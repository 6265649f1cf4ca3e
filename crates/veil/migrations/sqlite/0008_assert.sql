-- PostgreSQL's 0008 adds `veil_assert`, which lets one statement check its own effect. SQLite's
-- ingest runs in its writer thread's own transaction and checks there; nothing to add. Kept so
-- that both backends number their migrations alike.
SELECT 1;
