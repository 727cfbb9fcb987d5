-- Secondary indexes of one version of the utilisation read model.

CREATE INDEX booked_time_location_date ON booked_time (tenant_id, location_id, date, staff_id);
