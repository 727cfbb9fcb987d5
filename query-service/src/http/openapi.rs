//! The OpenAPI 3.1 document served at `/openapi.json`.

use axum::Json;
use serde_json::{json, Value};

fn q(name: &str, description: &str, ty: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": ty } })
}

fn errors() -> Value {
    json!({
        "400": { "description": "Invalid parameter; `fields` names it" },
        "401": { "description": "Missing, invalid or expired token" },
        "403": { "description": "Your role may not do this" },
        "503": { "description": "Not yet caught up with consistency_token, or a dependency is down; see Retry-After" }
    })
}

fn op(summary: &str, params: Vec<Value>, ok: &str) -> Value {
    let mut responses = errors();
    if let Some(r) = responses.as_object_mut() {
        r.insert("200".into(), json!({ "description": ok }));
        r.insert(
            "404".into(),
            json!({ "description": "Not found (or another tenant's)" }),
        );
    }
    json!({ "get": { "summary": summary, "parameters": params, "responses": responses } })
}

pub fn spec() -> Value {
    let token = q(
        "consistency_token",
        "A command's consistency_token: wait (bounded) until this read reflects it",
        "string",
    );
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } });
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": { "title": "Belle query-service", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Reads over read models, and the auditors' API over the event store." },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "security": [{ "bearer": [] }],
        "paths": {
            "/health": { "get": { "summary": "Liveness", "security": [], "responses": { "200": { "description": "OK" } } } },
            "/openapi.json": { "get": { "summary": "This document", "security": [], "responses": { "200": { "description": "OK" } } } },
            "/customers": op("Search customers (CUS-5): exact phone, phone tail, ID number, name substring, pinyin, initials, tags, creation dates; paged and sorted", vec![
                q("q", "Free text: phone, last 4 digits, pinyin, initials or name", "string"),
                q("phone", "Exact phone (mainland or E.164)", "string"),
                q("phone_tail", "Last 4 digits", "string"),
                q("id_number", "Exact resident ID number", "string"),
                q("name", "Name substring", "string"),
                q("pinyin", "Pinyin substring (zhangsan) or initials prefix (zs)", "string"),
                q("tags", "Comma-separated; all must match", "string"),
                q("created_from", "Date or RFC 3339 instant (inclusive)", "string"),
                q("created_to", "Date (inclusive) or RFC 3339 instant (exclusive)", "string"),
                q("sort", "created_at, -created_at, name, -name", "string"),
                q("page", "1-based", "integer"),
                q("per_page", "1..100", "integer"),
                token.clone(),
            ], "A page of customers (phones masked)"),
            "/me": op("A signed-in customer's own record (masked)", vec![token.clone()], "Her record"),
            "/services/{id}/price": op("The price in force at an instant (default now): exact on both sides of an effective instant", vec![
                id.clone(), q("at", "RFC 3339 instant", "string"), token.clone()], "The price, its effective instant and method"),
            "/services": op("Every service of the salon, published or not, with its details, total duration (SVC-2) and images ({image_id, url, alt}; url under /images)", vec![token.clone()], "Services"),
            "/public/{slug}/catalogue": { "get": { "summary": "A salon's categories and published services with their images (url under /public/{slug}/images), for anyone (no token; cached for a minute)", "security": [],
                "parameters": [{ "name": "slug", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": { "200": { "description": "The public catalogue" }, "404": { "description": "No such salon" } } } },
            "/public/{slug}/images/{image_id}": { "get": { "summary": "An image of a published service, for anyone (no token): its bytes with their Content-Type; Cache-Control: public, max-age=31536000, immutable (image ids are never reused); ETag is the bytes' SHA-256, If-None-Match → 304",
                "security": [],
                "parameters": [{ "name": "slug", "in": "path", "required": true, "schema": { "type": "string" } },
                               { "name": "image_id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "responses": { "200": { "description": "The image (image/png, image/jpeg, image/webp or image/gif)" },
                               "304": { "description": "Not modified (If-None-Match named its ETag)" },
                               "404": { "description": "No such salon, or no published service of it shows this image" } } } },
            "/images/{image_id}": { "get": { "summary": "Any image uploaded to the salon (unpublished services' too): its bytes; Cache-Control: private; ETag and If-None-Match as the public route",
                "parameters": [{ "name": "image_id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "responses": { "200": { "description": "The image" }, "304": { "description": "Not modified" },
                               "401": { "description": "Missing, invalid or expired token" }, "403": { "description": "Your role may not do this" },
                               "404": { "description": "Not found (or another tenant's)" } } } },
            "/categories": op("The catalogue's categories in the salon's order (SVC-1); every tenant starts with the six defaults", vec![token.clone()], "Categories"),
            "/locations": op("The tenant's locations (name, time zone, version)", vec![token.clone()], "Locations"),
            "/locations/{id}": op("A location's settings: time zone, weekly hours with breaks, closures, exceptions, rooms, capacity", vec![id.clone(), token.clone()], "The location"),
            "/locations/{id}/opening": op("The open intervals of each date in a range (at most 93 days), local and UTC, exact across daylight-saving changes", vec![
                id.clone(), q("from", "First date (YYYY-MM-DD)", "string"), q("to", "Last date (YYYY-MM-DD, inclusive)", "string"), token.clone()], "Open intervals"),
            "/customers/{id}": op("Customer detail with sensitive fields masked (CUS-7)", vec![id.clone(), token.clone()], "The customer"),
            "/customers/{id}/history": op("Change history: who, when, what, why (CUS-6)", vec![id.clone(), token.clone()], "History entries"),
            "/audit/streams/{stream_id}/events": op("Events of one stream, sealed values masked", vec![
                json!({ "name": "stream_id", "in": "path", "required": true, "schema": { "type": "string" } }), token.clone()], "Events"),
            "/audit/feed": op("The tenant's events in feed order, paged", vec![
                q("after", "Feed position to read after", "integer"), q("limit", "1..500", "integer"), token.clone()], "A page of events"),
            "/audit/disclosures": op("Who unmasked which field of which customer, when and why (paged by feed position)", vec![
                q("customer_id", "Only this customer's", "string"), q("after", "Feed position to read after", "integer"),
                q("limit", "1..500", "integer"), q("consistency_token", "A reveal's consistency_token", "string")], "Disclosures"),
            "/audit/chain": op("Verify the hash chain over the whole event log: {verified, first_breach: {seq, global_position, problem} or null}",
                vec![], "The verification report")
        }
    });
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        if let Value::Object(more) = staff_paths(&id, &token) {
            paths.extend(more);
        }
    }
    doc
}

/// Staff, rota and settings reads (STF-1..3).
fn staff_paths(id: &Value, token: &Value) -> Value {
    let range = || {
        vec![
            q("from", "First date (YYYY-MM-DD; default today)", "string"),
            q(
                "to",
                "Last date (inclusive; default a week on; at most 62 days)",
                "string",
            ),
        ]
    };
    let mut rota_params = range();
    rota_params.extend([
        q("location_id", "Only shifts at this location", "string"),
        q("staff_id", "Only this person's", "string"),
        token.clone(),
    ]);
    let mut own_params = range();
    own_params.push(token.clone());
    json!({
        "/staff": op("Search staff by name substring, position, hire dates, location (phone and email masked)", vec![
            q("name", "Name substring", "string"), q("position", "Exact position", "string"),
            q("hired_from", "Hired on or after (YYYY-MM-DD)", "string"), q("hired_to", "Hired on or before", "string"),
            q("location_id", "Works at this location", "string"), q("include_inactive", "Also deactivated staff", "boolean"),
            q("limit", "1..200", "integer"), q("offset", "0..100000", "integer"), token.clone()], "{total, items}"),
        "/staff/{id}": op("A staff record (phone and email masked)", vec![id.clone(), token.clone()], "The record"),
        "/staff/{id}/history": op("Every change of a staff record: who, when, which fields, why", vec![id.clone(), token.clone()], "History entries"),
        "/shift-templates": op("The salon's shift templates", vec![token.clone()], "Templates"),
        "/rota": op("Shifts and time off per date, by location and person; local times and UTC instants, exact across daylight-saving changes; shifts outside opening hours flagged", rota_params, "{from, to, shifts, time_off}"),
        "/me/rota": op("The caller's own shifts and time off (through the staff record linked to their account)", own_params, "{from, to, shifts, time_off}"),
        "/settings": op("The salon's settings: price-change bound, shift-reminder lead times", vec![], "{version, price_change_bound_percent, shift_reminder_leads_minutes}"),
        "/locations/{id}/calendar": op("A location's day by technician (shifts and bookings) and by room (bookings)", vec![
            id.clone(), q("date", "The date (YYYY-MM-DD; default today at the location)", "string"), token.clone()], "{location_id, date, time_zone, technicians, rooms}"),
        "/customers/{id}/bookings": op("A customer's upcoming and past bookings, each with its status (booked, checked_in, completed, no_show, cancelled)", vec![id.clone(), token.clone()], "{upcoming, past}"),
        "/me/bookings": op("The signed-in customer's own upcoming and past bookings, with their status", vec![token.clone()], "{upcoming, past}"),
        "/waitlist": op("A location's waitlist and its activity (APT-13, APT-14): entries in the order they joined, each with its status and the offers made to it (time offered, made, expires, how it ended); another tenant's location shows nothing", vec![
            json!({ "name": "location_id", "in": "query", "required": true, "schema": { "type": "string", "format": "uuid" } }),
            q("date", "Only this local date (YYYY-MM-DD)", "string"), token.clone()],
            "{location_id, date, entries: [{entry_id, date, customer_id, customer_name, services, window_from, window_to, joined_at, status, ended_at, booking_id, offers: [{offer_id, slot_id, starts_at, ends_at, services, made_at, expires_at, status, answered_at, booking_id, reason}]}]}"),
        "/utilisation": op("Utilisation per technician and local date at a location: booked service time (the technician's own minutes in bookings that hold their time — not cancelled, moved away or missed; processing segments excluded) ÷ shift time from the rota", vec![
            json!({ "name": "location_id", "in": "query", "required": true, "schema": { "type": "string", "format": "uuid" } }),
            q("from", "First date (YYYY-MM-DD; default today at the location)", "string"),
            q("to", "Last date (inclusive; default a week on; at most 31 days from from)", "string"),
            token.clone()],
            "{location_id, from, to, time_zone, days: [{date, staff_id, name, booked_minutes, shift_minutes, utilisation (null without a shift)}]}")
    })
}

pub async fn document() -> Json<Value> {
    let mut doc = spec();
    events_schema::permissions::annotate_openapi(
        events_schema::permissions::Service::Query,
        &mut doc,
    );
    Json(doc)
}
