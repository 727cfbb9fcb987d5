-- Secondary indexes of one version of the waitlist read model.

CREATE INDEX waitlist_entries_location ON waitlist_entries (tenant_id, location_id, date);
CREATE INDEX waitlist_offers_location ON waitlist_offers (tenant_id, location_id, date);
CREATE INDEX waitlist_offers_entry ON waitlist_offers (tenant_id, entry_id);
