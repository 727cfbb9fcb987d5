//! The OpenAPI 3.1 document served at `/openapi.json`.

use axum::Json;
use serde_json::{json, Value};

fn error_responses() -> Value {
    json!({
        "400": { "description": "Invalid input; `fields` names each bad field", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
        "401": { "description": "Missing, invalid or expired token" },
        "403": { "description": "Your role may not do this" },
        "409": { "description": "Conflict (concurrent change, duplicate phone)" },
        "413": { "description": "Body too large" },
        "422": { "description": "A business rule refused the command" },
        "503": { "description": "A dependency is unavailable; see Retry-After" }
    })
}

/// The document: every route of the service, with its security.
pub fn spec() -> Value {
    let customer_fields = json!({
        "name": { "type": "string", "description": "Full name (any script, 1–64 characters)" },
        "phone": { "type": "string", "description": "Mainland mobile (1[3-9] + 9 digits) or E.164" },
        "gender": { "type": "string", "enum": ["female", "male", "other", "undisclosed"] },
        "birthday": { "type": "string", "format": "date" },
        "email": { "type": "string", "format": "email" },
        "id_number": { "type": "string", "description": "GB 11643 resident ID number (18 characters)" },
        "address": { "type": "string" },
        "source_channel": { "type": "string", "enum": ["walk_in", "referral", "online", "campaign", "phone", "social", "other"] },
        "tags": { "type": "array", "items": { "type": "string" } },
        "notes": { "type": "string", "description": "Skin/hair notes" },
        "allergies": { "type": "string" },
        "conditions": { "type": "string", "description": "Contraindications and health conditions" }
    });
    let mut register = customer_fields.clone();
    if let Some(obj) = register.as_object_mut() {
        obj.insert(
            "consent".into(),
            json!({ "type": "object", "required": ["privacy_policy_version"], "properties": {
                "privacy_policy_version": { "type": "string" },
                "purpose": { "type": "string", "description": "What she agrees her data may be used for (default customer_record)" },
                "marketing": { "type": "boolean" } } }),
        );
    }
    let account_fields = json!({
        "login": { "type": "string", "description": "3 to 64 characters of a-z, 0-9 and . _ @ + -" },
        "password": { "type": "string", "description": "10 to 128 characters" },
        "role": { "type": "string", "enum": ["owner", "manager", "front_desk", "technician", "finance", "marketing", "auditor"] }
    });
    let refresh_body = json!({ "required": true, "content": { "application/json": { "schema": {
        "type": "object", "required": ["refresh_token"], "additionalProperties": false,
        "properties": { "refresh_token": { "type": "string" } } } } } });
    let account_id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } });
    let interval = json!({ "type": "object", "required": ["start", "end"], "properties": {
        "start": { "type": "string", "description": "HH:MM" }, "end": { "type": "string", "description": "HH:MM" } } });
    let settings = json!({ "type": "object", "required": ["name", "time_zone"], "additionalProperties": false, "properties": {
        "name": { "type": "string" },
        "time_zone": { "type": "string", "description": "IANA zone, e.g. Asia/Shanghai" },
        "weekly_hours": { "type": "object", "description": "mon..sun → open intervals (gaps are breaks); a weekday left out is closed",
                          "additionalProperties": { "type": "array", "items": interval } },
        "closures": { "type": "array", "items": { "type": "object", "properties": {
            "from": { "type": "string", "format": "date" }, "to": { "type": "string", "format": "date" }, "reason": { "type": "string" } } } },
        "exceptions": { "type": "array", "items": { "type": "object", "properties": {
            "date": { "type": "string", "format": "date" }, "hours": { "type": "array", "items": interval }, "reason": { "type": "string" } } } },
        "rooms": { "type": "array", "items": { "type": "object", "properties": {
            "room_id": { "type": "string", "format": "uuid" }, "name": { "type": "string" },
            "kind": { "type": "string" }, "capacity": { "type": "integer" } } } },
        "max_simultaneous_bookings": { "type": "integer" },
        "reminder_leads_minutes": { "type": "array", "items": { "type": "integer" }, "description": "APT-4; default [1440]" },
        "waitlist_reply_minutes": { "type": "integer", "minimum": 5, "maximum": 1440, "description": "APT-13: minutes to answer a waitlist offer; default 30" },
        "waitlist_offers_per_day": { "type": "integer", "minimum": 1, "maximum": 20, "description": "APT-13: most offers one customer gets in 24 hours; default 3" },
        "booking_rules": { "type": "object", "additionalProperties": false, "description": "APT-9, APT-10, APT-3; each left out keeps its default", "properties": {
            "min_lead_minutes": { "type": "integer", "description": "0 to 43200; default 0" },
            "max_horizon_days": { "type": "integer", "description": "1 to 730; default 366" },
            "self_service_cutoff_minutes": { "type": "integer", "description": "0 to 10080; default 120: customers change or cancel their own bookings no later than this before the start" },
            "max_upcoming_per_customer": { "type": "integer", "description": "1 to 100; absent: no limit" },
            "max_bookings_per_technician_per_day": { "type": "integer", "description": "1 to 100; absent: no limit" },
            "max_minutes_per_technician_per_day": { "type": "integer", "description": "1 to 1440; absent: no limit" } } } } });
    let category = json!({ "type": "object", "additionalProperties": false, "properties": {
        "name": { "type": "string", "description": "1 to 32 characters" },
        "description": { "type": "string", "description": "at most 500 characters" },
        "position": { "type": "integer", "description": "1 to 1000; ascending order" },
        "expected_version": { "type": "integer", "description": "changes only" } } });
    let location_paths = json!({
        "/categories": { "post": {
            "summary": "Add a category to the catalogue (SVC-1)",
            "requestBody": { "required": true, "content": { "application/json": { "schema": category.clone() } } },
            "responses": { "201": { "description": "Created: {category_id, version, consistency_token}" } } } },
        "/categories/{id}": { "put": {
            "summary": "Rename, describe or move a category (the fields given replace the current ones)",
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
            "requestBody": { "required": true, "content": { "application/json": { "schema": category } } },
            "responses": { "200": { "description": "Changed" }, "404": { "description": "No such category" } } } },
        "/locations": { "post": {
            "summary": "Create a location with its settings (APT-2, APT-3)",
            "requestBody": { "required": true, "content": { "application/json": { "schema": settings } } },
            "responses": { "201": { "description": "Created: {location_id, version, consistency_token}" } } } },
        "/locations/{id}": { "put": {
            "summary": "Replace a location's settings, with a reason",
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["reason", "settings"], "additionalProperties": false, "properties": {
                    "expected_version": { "type": "integer" }, "reason": { "type": "string" }, "settings": settings } } } } },
            "responses": { "200": { "description": "Changed: {location_id, version, consistency_token}" },
                           "404": { "description": "No such location" } } } }
    });
    let segments = json!({ "type": "object", "description": "minutes; work above 0; at most 720 in all", "properties": {
        "buffer_before": { "type": "integer" }, "work": { "type": "integer" }, "processing": { "type": "integer" },
        "finishing": { "type": "integer" }, "buffer_after": { "type": "integer" } } });
    let service = json!({ "type": "object", "required": ["category_id", "name", "segments", "price"], "additionalProperties": false, "properties": {
        "category_id": { "type": "string", "format": "uuid" }, "name": { "type": "string" }, "description": { "type": "string" },
        "segments": segments.clone(),
        "price": { "type": "string", "description": "decimal in the tenant's currency, at most 2 decimals (\"268.00\")" },
        "levels": { "type": "array", "items": { "type": "object", "properties": {
            "level": { "type": "string" }, "price": { "type": "string" }, "segments": segments } } },
        "suitable_groups": { "type": "array", "items": { "type": "string" } },
        "contraindicated_groups": { "type": "array", "items": { "type": "string" } },
        "process_steps": { "type": "array", "items": { "type": "string" } },
        "required_skills": { "type": "array", "items": { "type": "string" } },
        "required_room_kind": { "type": "string" },
        "max_simultaneous_bookings": { "type": "integer", "description": "1 to 100: most bookings of this service at a location at once (APT-3)" },
        "requires_patch_test_days": { "type": "integer", "description": "1 to 365: booked only for a customer with a passed patch test of this service done at most this many days before the visit (SVC-3); leave out when none is needed" } } });
    let service_id = json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }]);
    let service_paths = json!({
        "/services": { "post": {
            "summary": "Create a service (SVC-2), unpublished",
            "requestBody": { "required": true, "content": { "application/json": { "schema": service.clone() } } },
            "responses": { "201": { "description": "Created: {service_id, version, consistency_token}" } } } },
        "/services/{id}": { "put": {
            "summary": "Replace a service's details, with a reason",
            "parameters": service_id.clone(),
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["reason", "details"], "additionalProperties": false, "properties": {
                    "expected_version": { "type": "integer" }, "reason": { "type": "string" }, "details": service } } } } },
            "responses": { "200": { "description": "Changed" }, "404": { "description": "No such service" } } } },
        "/services/{id}/publish": { "post": {
            "summary": "Show the service in the public catalogue (already shown: nothing recorded)",
            "parameters": service_id.clone(),
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "additionalProperties": false } } } },
            "responses": { "200": { "description": "Published" } } } },
        "/services/{id}/prices": { "post": {
            "summary": "A new price from now or a future instant (SVC-4/5); beyond ±20 % of the price it replaces needs override_reason (else 422)",
            "parameters": service_id.clone(),
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["price", "method", "reason"], "additionalProperties": false, "properties": {
                    "price": { "type": "string" }, "effective_at": { "type": "string", "format": "date-time" },
                    "method": { "type": "string", "enum": ["cost", "market", "demand", "composite"] },
                    "reason": { "type": "string" }, "override_reason": { "type": "string" } } } } } },
            "responses": { "200": { "description": "Scheduled" }, "422": { "description": "Beyond the bound without override_reason, or the same price" } } } },
        "/services/{id}/images": { "post": {
            "summary": "Add an image to the service (at most 10): the body is the image itself, PNG, JPEG, WebP or GIF, at most 2 MiB, with its Content-Type; the bytes must be what the type says",
            "parameters": [service_id[0].clone(),
                { "name": "alt", "in": "query", "required": false, "description": "Text for those who cannot see it (at most 200 characters)", "schema": { "type": "string" } }],
            "requestBody": { "required": true, "content": {
                "image/png": { "schema": { "type": "string", "format": "binary" } },
                "image/jpeg": { "schema": { "type": "string", "format": "binary" } },
                "image/webp": { "schema": { "type": "string", "format": "binary" } },
                "image/gif": { "schema": { "type": "string", "format": "binary" } } } },
            "responses": { "201": { "description": "Added: {service_id, image_id, version, consistency_token}; served by query-service at /images/{image_id} (staff) and, while the service is published, /public/{slug}/images/{image_id}" },
                           "400": { "description": "Missing or other Content-Type, not an image of that type, empty or over 2 MiB: `fields` names `image` (nothing written)" },
                           "404": { "description": "No such service" },
                           "422": { "description": "The service shows 10 images already" } } } },
        "/services/{id}/images/{image_id}": { "delete": {
            "summary": "Stop showing an image with the service (removed before: same answer, nothing recorded)",
            "parameters": [service_id[0].clone(),
                { "name": "image_id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
            "responses": { "200": { "description": "Removed: {service_id, image_id, version, consistency_token}" },
                           "404": { "description": "No such service, or an image it never showed" } } } },
        "/services/{id}/unpublish": { "post": {
            "summary": "Hide the service from the public catalogue",
            "parameters": service_id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "additionalProperties": false } } } },
            "responses": { "200": { "description": "Unpublished" } } } }
    });
    let customer_auth = json!({
            "/auth/customer/code": { "post": {
                "summary": "Send a one-time sign-in code to a customer's phone (through the notification channel)",
                "security": [],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["tenant", "phone"], "additionalProperties": false,
                    "properties": { "tenant": { "type": "string", "description": "Salon slug" },
                                    "phone": { "type": "string" } } } } } },
                "responses": { "202": { "description": "Accepted — the same answer whether or not salon and phone are known; the code is valid 10 minutes" },
                               "400": { "description": "Invalid phone" },
                               "429": { "description": "Too many codes for this phone or from this address; see Retry-After" } } } },
            "/auth/customer/sign-in": { "post": {
                "summary": "Sign a customer in with her code; a phone new to the salon signs up (name and consent required)",
                "security": [],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["tenant", "phone", "code"], "additionalProperties": false,
                    "properties": { "tenant": { "type": "string" }, "phone": { "type": "string" },
                                    "code": { "type": "string", "description": "6 digits" },
                                    "name": { "type": "string" }, "gender": { "type": "string" },
                                    "birthday": { "type": "string", "format": "date" }, "email": { "type": "string" },
                                    "consent": { "type": "object", "required": ["privacy_policy_version"], "properties": {
                                        "privacy_policy_version": { "type": "string" },
                "purpose": { "type": "string", "description": "What she agrees her data may be used for (default customer_record)" },
                "marketing": { "type": "boolean" } } } } } } } },
                "responses": { "200": { "description": "A customer session (role customer, her customer_id)" },
                               "400": { "description": "Invalid input, or a sign-up without name or consent (the code stays valid)" },
                               "401": { "description": "The code is wrong, expired or used" },
                               "429": { "description": "Too many attempts from this address" } } } }
    });
    let patch_test_path = json!({ "/customers/{id}/patch-tests": { "post": {
                "summary": "Record a patch test of a service and its result (SVC-3); the result is sealed with her data key. A service with requires_patch_test_days is booked only for a customer with a passed test done within that many days before the visit (else 422, unless a manager overrides with override_reason)",
                "parameters": [
                    { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } },
                    { "name": "Idempotency-Key", "in": "header", "schema": { "type": "string" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["service_id", "done_on", "result"], "additionalProperties": false,
                    "properties": { "service_id": { "type": "string", "format": "uuid" },
                                    "done_on": { "type": "string", "format": "date", "description": "The day it was done; not in the future" },
                                    "result": { "type": "string", "enum": ["passed", "failed"] } } } } } },
                "responses": { "201": { "description": "Recorded", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Saved" } } } },
                               "400": { "description": "A field is missing or invalid (named), or no such service" },
                               "404": { "description": "No such customer" }, "410": { "description": "Erased" } } } }});
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": { "title": "Belle command-service", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Commands that change state. Every change appends immutable events." },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "properties": {
                    "error": { "type": "string" }, "message": { "type": "string" },
                    "fields": { "type": "array", "items": { "type": "object", "properties": {
                        "field": { "type": "string" }, "message": { "type": "string" } } } } } },
                "Account": { "type": "object", "properties": {
                    "account_id": { "type": "string", "format": "uuid" },
                    "role": { "type": "string" }, "active": { "type": "boolean" } } },
                "Saved": { "type": "object", "properties": {
                    "customer_id": { "type": "string", "format": "uuid" },
                    "version": { "type": "integer" },
                    "consistency_token": { "type": "string", "description": "Pass to query-service to read your write" } } }
            }
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/health": { "get": { "summary": "Liveness", "security": [], "responses": { "200": { "description": "OK" } } } },
            "/openapi.json": { "get": { "summary": "This document", "security": [], "responses": { "200": { "description": "OK" } } } },
            "/auth/login": { "post": {
                "summary": "Log in with tenant slug, login and password", "security": [],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["tenant", "login", "password"],
                    "properties": { "tenant": { "type": "string" }, "login": { "type": "string" }, "password": { "type": "string" } } } } } },
                "responses": { "200": { "description": "A session: access_token (Bearer, expires_in seconds) and a single-use refresh_token" },
                               "401": { "description": "Wrong tenant, login or password" },
                               "429": { "description": "Too many attempts for this account or from this address; see Retry-After" } } } },
            "/auth/refresh": { "post": {
                "summary": "Spend a refresh token for the next access and refresh tokens (a spent token presented again revokes its whole session)",
                "requestBody": refresh_body.clone(),
                "responses": { "200": { "description": "The next session pair" }, "401": { "description": "Unknown, spent, revoked or expired" } } } },
            "/auth/logout": { "post": {
                "summary": "End the session the refresh token belongs to",
                "requestBody": refresh_body,
                "responses": { "204": { "description": "Ended (or already over)" } } } },
            "/auth/password": { "post": {
                "summary": "Change your own password (proving the current one)",
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["current_password", "new_password"], "additionalProperties": false,
                    "properties": { "current_password": { "type": "string" },
                                    "new_password": { "type": "string", "description": "10 to 128 characters, not the current one" } } } } } },
                "responses": { "204": { "description": "Changed" } } } },
            "/accounts": { "post": {
                "summary": "Create a staff account (owners: any staff role; managers: front_desk, technician, finance, marketing)",
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["login", "password", "role"], "additionalProperties": false,
                    "properties": account_fields.clone() } } } },
                "responses": { "201": { "description": "Created", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Account" } } } } } } },
            "/accounts/{id}/role": { "post": {
                "summary": "Give an account another role, with a reason (not your own; the salon keeps an active owner)",
                "parameters": [account_id.clone()],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["role", "reason"], "additionalProperties": false,
                    "properties": { "role": account_fields["role"].clone(), "reason": { "type": "string" } } } } } },
                "responses": { "200": { "description": "Changed (or already so)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Account" } } } },
                               "404": { "description": "No such account" } } } },
            "/accounts/{id}/deactivate": { "post": {
                "summary": "Switch an account off, with a reason: it can no longer log in",
                "parameters": [account_id],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["reason"], "additionalProperties": false,
                    "properties": { "reason": { "type": "string" } } } } } },
                "responses": { "200": { "description": "Deactivated (or already so)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Account" } } } },
                               "404": { "description": "No such account" } } } },
            "/customers": { "post": {
                "summary": "Register a customer (CUS-1, CUS-2)",
                "parameters": [{ "name": "Idempotency-Key", "in": "header", "schema": { "type": "string" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["name", "phone", "consent"], "additionalProperties": false,
                    "properties": register } } } },
                "responses": { "201": { "description": "Registered", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Saved" } } } } }
            }},
            "/customers/{id}/erase": { "post": {
                "summary": "Erase the customer's personal data (PIPL Art. 47): her keys are destroyed with a CustomerErased event; answers the evidence",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["reference"], "additionalProperties": false,
                    "properties": { "reference": { "type": "string", "description": "The request number (no personal data)" } } } } } },
                "responses": { "200": { "description": "{customer_id, reference, erased_at, keys_destroyed, event_position, consistency_token}" },
                               "404": { "description": "No such customer" }, "410": { "description": "Already erased" } } } },
            "/customers/{id}/consent/marketing": { "put": {
                "summary": "Give or withdraw the customer's consent to marketing messages (SEC-5); the privacy-policy acceptance is unaffected",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["marketing"], "additionalProperties": false,
                    "properties": { "marketing": { "type": "boolean" } } } } } },
                "responses": { "200": { "description": "Recorded (or already so)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Saved" } } } },
                               "404": { "description": "No such customer" } } } },
            "/customers/{id}/export": { "post": {
                "summary": "Everything held about the customer, in clear: record, consent, every change (who, when, why) and every disclosure; logged as a disclosure; never cached",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["reason"], "additionalProperties": false,
                    "properties": { "reason": { "type": "string" } } } } } },
                "responses": { "200": { "description": "{customer_id, exported_at, record, consent, history, disclosures}" },
                               "404": { "description": "No such customer" }, "410": { "description": "Erased" } } } },
            "/customers/{id}/reveal": { "post": {
                "summary": "Unmask one sealed field, with a reason; logged before the value is returned (never cached). Which fields depends on the role",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["field", "reason"], "additionalProperties": false,
                    "properties": { "field": { "type": "string", "enum": ["name", "gender", "birthday", "phone", "email", "id_number", "address", "notes", "allergies", "conditions"] },
                                    "reason": { "type": "string" } } } } } },
                "responses": { "200": { "description": "{customer_id, field, value}" },
                               "404": { "description": "No such customer, or no value recorded for the field" },
                               "410": { "description": "The customer was erased" } } } },
            "/customers/{id}": { "patch": {
                "summary": "Change a customer's record with a reason (CUS-6)",
                "parameters": [
                    { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } },
                    { "name": "Idempotency-Key", "in": "header", "schema": { "type": "string" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["reason", "changes"], "additionalProperties": false,
                    "properties": {
                        "reason": { "type": "string" },
                        "expected_version": { "type": "integer" },
                        "changes": { "type": "object", "properties": customer_fields,
                                     "description": "New values; null clears an optional field" } } } } } },
                "responses": { "200": { "description": "Changed", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Saved" } } } },
                               "404": { "description": "No such customer" } }
            }}
        }
    });
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for extra in [
            &customer_auth,
            &location_paths,
            &service_paths,
            &staff_paths(),
            &waitlist_paths(),
            &patch_test_path,
        ] {
            if let Some(extra) = extra.as_object() {
                paths.extend(extra.clone());
            }
        }
    }
    doc.as_object()
        .map(|o| {
            let mut o = o.clone();
            add_errors(&mut o);
            Value::Object(o)
        })
        .unwrap_or_default()
}

/// The waitlist (APT-13): joining, leaving, answering offers.
fn waitlist_paths() -> Value {
    let id = json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } },
                    { "name": "Idempotency-Key", "in": "header", "schema": { "type": "string" } }]);
    let empty = json!({ "required": false, "content": { "application/json": { "schema": {
        "type": "object", "additionalProperties": false, "properties": {} } } } });
    json!({
        "/waitlist": { "post": {
            "summary": "Put a customer on a location's waitlist for a wanted window of one date (APT-13); a customer signed in with her own account puts herself",
            "description": "When a booking of that date is cancelled, its time is offered automatically to the first waiting customer (in the order they joined) whose services fit it, one customer at a time, each with the location's reply window (waitlist_reply_minutes); a decline or an expired window moves it to the next. A customer gets at most waitlist_offers_per_day offers in 24 hours; beyond that she is skipped.",
            "parameters": [{ "name": "Idempotency-Key", "in": "header", "schema": { "type": "string" } }],
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["location_id", "date", "from", "to", "services"], "additionalProperties": false, "properties": {
                    "location_id": { "type": "string", "format": "uuid" },
                    "customer_id": { "type": "string", "format": "uuid", "description": "required for staff; a customer may leave it out (it must be her own)" },
                    "date": { "type": "string", "format": "date", "description": "local date at the location" },
                    "from": { "type": "string", "example": "14:00", "description": "earliest local start" },
                    "to": { "type": "string", "example": "18:00", "description": "latest local end (after from)" },
                    "services": { "type": "array", "items": { "type": "object", "required": ["service_id"], "additionalProperties": false, "properties": {
                        "service_id": { "type": "string", "format": "uuid" },
                        "staff_id": { "type": "string", "format": "uuid", "description": "absent: any technician who may" } } } } } } } } },
            "responses": { "201": { "description": "Joined: {entry_id, version, consistency_token}" },
                           "404": { "description": "No such location, customer or service" } } } },
        "/waitlist/{id}/leave": { "post": {
            "summary": "Take an entry off the waitlist (a customer: only her own); leaving twice records once",
            "parameters": id,
            "requestBody": empty,
            "responses": { "200": { "description": "{entry_id, status}" }, "404": { "description": "No such entry" } } } },
        "/waitlist/offers/{id}/accept": { "post": {
            "summary": "Accept an offer of a freed slot: the visit is booked through the ordinary booking path (both double-booking guards apply)",
            "parameters": id,
            "requestBody": empty,
            "responses": { "201": { "description": "Booked: {offer_id, booking_id, number, services}" },
                           "200": { "description": "Accepted before: {offer_id, booking_id, status}" },
                           "404": { "description": "No such offer" },
                           "409": { "description": "The offer ended (declined, expired, withdrawn), or the time was taken meanwhile (the offer then ends)" } } } },
        "/waitlist/offers/{id}/decline": { "post": {
            "summary": "Decline an offer: the slot goes to the next waiting customer; an offer that already ended is answered with its status",
            "parameters": id,
            "requestBody": empty,
            "responses": { "200": { "description": "{offer_id, status}" }, "404": { "description": "No such offer" } } } }
    })
}

/// Staff records, the rota, shift templates and the salon's settings (STF-1..3, SVC-5).
fn staff_paths() -> Value {
    let id = json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } },
                    { "name": "Idempotency-Key", "in": "header", "schema": { "type": "string" } }]);
    let empty = json!({ "type": "object", "additionalProperties": false });
    let service_item = json!({ "type": "object", "required": ["service_id"], "additionalProperties": false, "properties": {
        "service_id": { "type": "string", "format": "uuid" },
        "staff_id": { "type": "string", "format": "uuid", "description": "absent: any technician who may" },
        "room_id": { "type": "string", "format": "uuid" } } });
    let reschedule = json!({ "type": "object", "required": ["start"], "additionalProperties": false, "properties": {
        "start": { "type": "string", "example": "2027-03-28T15:00", "description": "the new local wall-clock start at the booking's location" },
        "fold": { "type": "string", "enum": ["earlier", "later"], "description": "which of a repeated local time" },
        "services": { "type": "array", "items": service_item.clone(), "description": "the booking's services in order with the technician or room wanted; absent: the same technicians" },
        "override_reason": { "type": "string", "description": "staff who may override booking rules (not on /me routes)" } } });
    let date = json!({ "type": "string", "format": "date" });
    let interval = json!({ "type": "object", "required": ["start", "end"], "properties": {
        "start": { "type": "string", "example": "09:00" }, "end": { "type": "string", "example": "18:00" } } });
    let record = json!({ "type": "object", "required": ["name", "position", "level", "hire_date"], "additionalProperties": false, "properties": {
        "name": { "type": "string", "description": "sealed in events" },
        "gender": { "type": "string", "enum": ["female", "male", "other", "undisclosed"], "description": "sealed" },
        "birth_date": { "type": "string", "format": "date", "description": "sealed" },
        "native_place": { "type": "string", "description": "sealed" },
        "phone": { "type": "string", "description": "mainland mobile or E.164; sealed; where shift reminders go" },
        "email": { "type": "string", "description": "sealed" },
        "position": { "type": "string" }, "level": { "type": "string" }, "hire_date": date,
        "skills": { "type": "array", "items": { "type": "string", "format": "uuid" }, "description": "services the person may perform" },
        "locations": { "type": "array", "items": { "type": "string", "format": "uuid" } },
        "account_id": { "type": "string", "format": "uuid", "description": "the person's login account (one record per account)" } } });
    let saved = json!({ "description": "Saved: {staff_id, version, consistency_token}" });
    let rota_edit = json!({ "type": "object", "required": ["action"], "description": "One edit of a person's rota; the other members depend on action", "properties": {
        "action": { "type": "string", "enum": ["set_pattern", "remove_pattern", "override_day", "clear_override", "record_time_off", "cancel_time_off"] },
        "pattern_id": { "type": "string", "format": "uuid", "description": "set_pattern: replaces that pattern; remove_pattern" },
        "location_id": { "type": "string", "format": "uuid" },
        "valid_from": date, "valid_until": date,
        "days": { "type": "object", "description": "set_pattern: weekday (mon…sun) → intervals", "additionalProperties": { "type": "array", "items": interval } },
        "template_id": { "type": "string", "format": "uuid", "description": "set_pattern: a shift template on weekdays instead of days" },
        "weekdays": { "type": "array", "items": { "type": "string" } },
        "date": date,
        "shifts": { "type": "array", "description": "override_day: the day's shifts (none: a day off)", "items": {
            "type": "object", "required": ["location_id", "start", "end"], "properties": {
                "location_id": { "type": "string", "format": "uuid" }, "start": { "type": "string" }, "end": { "type": "string" } } } },
        "from": date, "to": date,
        "kind": { "type": "string", "enum": ["leave", "sick", "training", "other"] },
        "time_off_id": { "type": "string", "format": "uuid" },
        "reason": { "type": "string" } } });
    let template = json!({ "type": "object", "required": ["name", "intervals"], "additionalProperties": false, "properties": {
        "name": { "type": "string" }, "intervals": { "type": "array", "items": interval },
        "reason": { "type": "string", "description": "required when changing" } } });
    json!({
        "/staff": { "post": {
            "summary": "Create a staff record (STF-1; administrators)",
            "requestBody": { "required": true, "content": { "application/json": { "schema": record } } },
            "responses": { "201": saved } } },
        "/staff/{id}": { "put": {
            "summary": "Change a staff record (whole record, with a reason; administrators)",
            "parameters": id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["reason", "record"], "additionalProperties": false, "properties": {
                    "expected_version": { "type": "integer" }, "reason": { "type": "string" }, "record": record } } } } },
            "responses": { "200": saved, "404": { "description": "No such staff member" },
                           "422": { "description": "Nothing changed, or the person is deactivated" } } } },
        "/staff/{id}/deactivate": { "post": {
            "summary": "Deactivate a staff member (history kept), with a reason",
            "parameters": id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["reason"], "properties": { "reason": { "type": "string" } } } } } },
            "responses": { "200": saved, "404": { "description": "No such staff member" } } } },
        "/staff/{id}/erase": { "post": {
            "summary": "Erase a staff member's personal data (owners): their keys are destroyed; work terms and history stay",
            "parameters": id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["reference"], "properties": { "reference": { "type": "string", "description": "the request's case number" } } } } } },
            "responses": { "200": saved, "404": { "description": "No such staff member" }, "410": { "description": "Already erased" } } } },
        "/staff/{id}/rota": { "post": {
            "summary": "Edit a person's rota: weekly patterns, day overrides, time off (STF-2)",
            "description": "Shifts of one person never overlap, also under concurrent edits (409 clash). Shifts outside opening hours are accepted and listed in warnings.",
            "parameters": id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": rota_edit } } },
            "responses": { "200": { "description": "{staff_id, version, consistency_token, warnings}" },
                           "409": { "description": "The edit would overlap another shift of the person, or time off" },
                           "422": { "description": "The person does not work at that location, or is deactivated" } } } },
        "/shift-templates": { "post": {
            "summary": "Create a shift template",
            "requestBody": { "required": true, "content": { "application/json": { "schema": template } } },
            "responses": { "201": { "description": "{template_id, version, consistency_token}" } } } },
        "/shift-templates/{id}": { "put": {
            "summary": "Change a shift template (patterns made from it keep their copy)",
            "parameters": id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": template } } },
            "responses": { "200": { "description": "Saved" }, "404": { "description": "No such template" } } } },
        "/bookings": { "post": {
            "summary": "Book a visit for a customer: services one after another from a local start time, each with its technician (or any) and room (APT)",
            "description": "Never double-books a technician, a room place or a capacity place, under any concurrency. A local time in the spring-forward gap is refused (422); one in the repeated autumn hour needs fold. A time that cannot be booked answers 409 with alternatives: {same_day, other_staff, next_days}.",
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["location_id", "customer_id", "start", "services"], "additionalProperties": false, "properties": {
                    "location_id": { "type": "string", "format": "uuid" },
                    "customer_id": { "type": "string", "format": "uuid" },
                    "start": { "type": "string", "example": "2027-03-28T10:00", "description": "local wall-clock time at the location" },
                    "fold": { "type": "string", "enum": ["earlier", "later"], "description": "which of a repeated local time" },
                    "services": { "type": "array", "items": { "type": "object", "required": ["service_id"], "properties": {
                        "service_id": { "type": "string", "format": "uuid" },
                        "staff_id": { "type": "string", "format": "uuid", "description": "absent: any technician who may" },
                        "room_id": { "type": "string", "format": "uuid" } } } },
                    "override_reason": { "type": "string", "description": "owners and managers: book outside shifts or hours or beyond capacity (never two bookings of one technician or room at once)" } } } } } },
            "responses": { "201": { "description": "{booking_id, number, services: [{service_id, staff_id, room_id, starts_at, ends_at, price}], version, consistency_token}" },
                           "409": { "description": "Not bookable then: {error: unavailable, message, alternatives}" },
                           "422": { "description": "A local time that does not exist or is ambiguous, a past time, a technician who may not do the service…" } } } },
        "/locations/{id}/availability": { "get": {
            "summary": "Free times of a visit (APT): every bookable start per date as windows of consecutive minutes, and the quarter-hour starts ranked by the idle gap they leave their technicians",
            "description": "Computed with the very rule a booking is decided by: every start offered can be booked while nothing else changes.",
            "parameters": [
                { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } },
                { "name": "service_id", "in": "query", "required": true, "description": "comma-separated service ids, in the visit's order", "schema": { "type": "string" } },
                { "name": "staff_id", "in": "query", "description": "one technician for every service; absent: any who may", "schema": { "type": "string", "format": "uuid" } },
                { "name": "date", "in": "query", "description": "first date (default today at the location)", "schema": { "type": "string", "format": "date" } },
                { "name": "days", "in": "query", "description": "1 to 7 (default 1)", "schema": { "type": "integer" } }],
            "responses": { "200": { "description": "{location_id, time_zone, dates: [{date, windows: [{first_start, last_start, first_starts_at, last_starts_at}], slots: [{start, starts_at, staff, idle_gap_minutes}]}]}" },
                           "404": { "description": "No such location or service" } } } },
        "/bookings/{id}/reschedule": { "post": {
            "summary": "Move a booking to another local start, the same day or another (APT-9), with the same guards as a new booking; its prices stay, its reminders move",
            "description": "Its own holds do not block it. Within its date it keeps its number; on another date it takes that date's next. A time that cannot be booked answers 409 with alternatives, as for a new booking.",
            "parameters": id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": reschedule.clone() } } },
            "responses": { "200": { "description": "{booking_id, number, date, services, rescheduled, version, consistency_token}" },
                           "404": { "description": "No such booking" },
                           "409": { "description": "Not bookable then: {error: unavailable, message, alternatives}" },
                           "422": { "description": "Not a booked visit (checked in, completed, cancelled…), services changed, a time the rules refuse" } } } },
        "/bookings/{id}/check-in": { "post": {
            "summary": "Record that the customer arrived (at most 12 hours before the start; not for a cancelled, completed or missed visit); a repeat records nothing",
            "parameters": id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": empty.clone() } } },
            "responses": { "200": { "description": "{booking_id, status, version}" }, "404": { "description": "No such booking" },
                           "422": { "description": "Not in a state that can be checked in" } } } },
        "/bookings/{id}/complete": { "post": {
            "summary": "Record that the visit took place: after check-in, or directly once it has started; a repeat records nothing",
            "parameters": id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": empty.clone() } } },
            "responses": { "200": { "description": "{booking_id, status, version}" }, "404": { "description": "No such booking" },
                           "422": { "description": "Not started and not checked in, cancelled, or a no-show" } } } },
        "/bookings/{id}/no-show": { "post": {
            "summary": "Record that the customer did not come (only after the start time, not after check-in); frees what is left of its time; a repeat records nothing",
            "parameters": id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": empty.clone() } } },
            "responses": { "200": { "description": "{booking_id, status, version}" }, "404": { "description": "No such booking" },
                           "422": { "description": "Before its start, checked in, completed or cancelled" } } } },
        "/me/bookings": { "post": {
            "summary": "A signed-in customer books a visit for herself (APT-5): as POST /bookings without customer_id and override_reason",
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["location_id", "start", "services"], "additionalProperties": false, "properties": {
                    "location_id": { "type": "string", "format": "uuid" },
                    "start": { "type": "string", "example": "2027-03-28T10:00" },
                    "fold": { "type": "string", "enum": ["earlier", "later"] },
                    "services": { "type": "array", "items": service_item.clone() } } } } } },
            "responses": { "201": { "description": "{booking_id, number, date, services, version, consistency_token}" },
                           "409": { "description": "Not bookable then, with alternatives" },
                           "422": { "description": "A time the location's rules refuse (lead time, horizon), her limit of upcoming bookings…" } } } },
        "/me/bookings/{id}/reschedule": { "post": {
            "summary": "A customer moves her own booking (APT-9), no later than the location's cut-off before it starts",
            "parameters": id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": reschedule.clone() } } },
            "responses": { "200": { "description": "As POST /bookings/{id}/reschedule" },
                           "404": { "description": "No booking of hers" },
                           "409": { "description": "Not bookable then, with alternatives" },
                           "422": { "description": "Within the cut-off (self_service_cutoff_minutes), or a time the rules refuse" } } } },
        "/me/bookings/{id}/cancel": { "post": {
            "summary": "A customer cancels her own booking, no later than the location's cut-off before it starts",
            "parameters": id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "additionalProperties": false, "properties": { "reason": { "type": "string" } } } } } },
            "responses": { "200": { "description": "Cancelled" }, "404": { "description": "No booking of hers" },
                           "422": { "description": "Within the cut-off (self_service_cutoff_minutes), or no longer a booked visit" } } } },
        "/bookings/{id}/cancel": { "post": {
            "summary": "Cancel a booking, with a reason: its technician, room and places are free again",
            "parameters": id,
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["reason"], "properties": { "reason": { "type": "string" } } } } } },
            "responses": { "200": { "description": "Cancelled" }, "404": { "description": "No such booking" },
                           "422": { "description": "Already cancelled" } } } },
        "/settings": { "put": {
            "summary": "Change the salon's settings (owners)",
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["reason", "price_change_bound_percent"], "additionalProperties": false, "properties": {
                    "expected_version": { "type": "integer" }, "reason": { "type": "string" },
                    "price_change_bound_percent": { "type": "integer", "minimum": 1, "maximum": 100, "description": "SVC-5; default 20" },
                    "shift_reminder_leads_minutes": { "type": "array", "items": { "type": "integer" }, "description": "STF-3; default [720]" } } } } } },
            "responses": { "200": { "description": "Saved" } } } }
    })
}

fn add_errors(doc: &mut serde_json::Map<String, Value>) {
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for (_, item) in paths.iter_mut() {
        let Value::Object(ops) = item else { continue };
        for (_, op) in ops.iter_mut() {
            if let Some(Value::Object(responses)) = op.get_mut("responses") {
                if let Value::Object(errors) = error_responses() {
                    for (k, v) in errors {
                        responses.entry(k).or_insert(v);
                    }
                }
            }
        }
    }
}

pub async fn document() -> Json<Value> {
    let mut doc = spec();
    events_schema::permissions::annotate_openapi(
        events_schema::permissions::Service::Command,
        &mut doc,
    );
    Json(doc)
}
