-- Secondary indexes of one version of the bookings read model.

CREATE INDEX bookings_location_date ON bookings (tenant_id, location_id, date);
CREATE INDEX bookings_customer ON bookings (tenant_id, customer_id, starts_at);
CREATE INDEX booked_services_staff ON booked_services (tenant_id, staff_id, starts_at);
