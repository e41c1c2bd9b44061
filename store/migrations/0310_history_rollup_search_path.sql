-- history_track_final calls history_haversine_m unqualified. TimescaleDB materializes a
-- continuous aggregate with a restricted search_path, where that name does not resolve and
-- every refresh of history_seal_hourly fails; pin the function's search_path to the schema
-- the history functions were created in (this migration's). Native mode gains nothing and
-- loses nothing: the final function runs once per seal-hour.
ALTER FUNCTION history_track_final(float8[]) SET search_path FROM CURRENT;
