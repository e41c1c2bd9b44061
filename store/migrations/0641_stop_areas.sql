-- Authorized stop areas are zones of kind authorized_stop with a purpose (rest area, fuel station,
-- border-queue area) and how long a stop there is tolerated (NULL: no limit, e.g. a border queue).
ALTER TABLE zones
    ADD COLUMN purpose text CHECK (purpose IN ('rest_area', 'fuel_station', 'border_queue')),
    ADD COLUMN max_stop_s double precision CHECK (max_stop_s > 0),
    ADD CONSTRAINT zones_purpose_is_for_stop_areas CHECK (purpose IS NULL OR kind = 'authorized_stop');
