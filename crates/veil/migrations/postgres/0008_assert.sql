-- `veil_assert(ok, message)`: raises SQLSTATE VE001 with `message` unless `ok`. Lets one
-- statement check what it just did (for example that every conversation it meant to update was
-- updated) and fail, rolling itself back, without a transaction of several round trips around it.
-- VOLATILE, so that the planner never evaluates it ahead of the rows it checks.
CREATE FUNCTION veil_assert(ok boolean, message text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'VE001', MESSAGE = message;
    END IF;
    RETURN true;
END
$$;
