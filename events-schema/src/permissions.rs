//! The permission matrix: which role may perform which operation, and which operation
//! each HTTP route performs. Deny by default: an operation not listed for a role is
//! refused, and a route with no entry in [`ROUTES`] is refused to everyone. Both HTTP
//! services enforce it in one middleware ([`authorize`]), README shows it
//! ([`markdown_matrix`], checked by a test), and the end-to-end sweep drives every
//! route of both OpenAPI documents through it.

use crate::customer::CustomerField;
use crate::envelope::Role;
use crate::token::{Claims, TokenSecret};

/// Every operation a route performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    RegisterCustomer,
    ChangeCustomer,
    SearchCustomers,
    ViewCustomer,
    ViewCustomerHistory,
    ReadAuditLog,
    /// Create staff accounts, change their roles, deactivate them (within
    /// `may_manage` of command-service's identity domain).
    ManageAccounts,
    ChangeOwnPassword,
    /// Unmask one sealed field of a customer, with a reason (logged); which fields
    /// depends on the role ([`reveals`]).
    RevealCustomerField,
    ListDisclosures,
    /// Erase a customer's personal data (crypto-shredding).
    EraseCustomer,
    /// Export everything held about a customer, in clear (data-subject access).
    ExportCustomer,
    /// A customer reads her own record.
    ViewOwnRecord,
    /// Create a location and change its settings (hours, closures, rooms, capacity).
    ManageLocations,
    /// Read locations and their opening calendar.
    ViewLocations,
    /// Add, rename and order the catalogue's categories; create, change, publish and
    /// unpublish its services, and add and remove their images.
    ManageCatalogue,
    /// Read the whole catalogue, unpublished parts (and their images) included.
    ViewCatalogue,
    /// Create, change and deactivate staff records (administrators only, STF-1).
    ManageStaff,
    /// Erase a staff member's personal data (crypto-shredding).
    EraseStaff,
    /// Search staff and read their records (personal data masked).
    ViewStaff,
    /// Read a staff record's change history (who, when, what, why).
    ViewStaffHistory,
    /// Edit anyone's rota and the shift templates (STF-2).
    ManageRota,
    /// Read the rota of a location or of anyone.
    ViewRota,
    /// Read one's own rota (through the staff record linked to one's account).
    ViewOwnRota,
    /// Change the salon's settings (price-change bound, reminder lead times).
    ManageSettings,
    /// Read the salon's settings.
    ViewSettings,
    /// Book a visit for a customer, reschedule and cancel bookings (APT).
    ManageBookings,
    /// Record a visit: the customer checked in, the visit completed, a no-show (APT-9).
    RecordVisits,
    /// A signed-in customer books, reschedules, cancels and lists her own bookings
    /// (APT-5, APT-9), within the location's cut-off.
    ManageOwnBookings,
    /// Read bookings: a location's day calendar, a customer's bookings.
    ViewBookings,
    /// Find the free times of a visit (availability).
    ViewAvailability,
    /// Book outside shifts or opening hours or beyond a capacity limit, with a reason
    /// (asked for in the booking's body: `override_reason`).
    OverrideBookingRules,
    /// Put a customer on a waitlist, take her off, accept or decline her offers
    /// (APT-13); a customer only for herself.
    UseWaitlist,
    /// Read a location's waitlist: entries and offer activity (APT-14).
    ViewWaitlist,
    /// Read the technicians' utilisation per day: booked service time ÷ shift time.
    ViewUtilisation,
    /// Record a customer's patch test of a service and its result (SVC-3).
    RecordPatchTests,
}

impl Operation {
    pub const ALL: [Operation; 36] = [
        Operation::RegisterCustomer,
        Operation::ChangeCustomer,
        Operation::SearchCustomers,
        Operation::ViewCustomer,
        Operation::ViewCustomerHistory,
        Operation::ReadAuditLog,
        Operation::ManageAccounts,
        Operation::ChangeOwnPassword,
        Operation::RevealCustomerField,
        Operation::ListDisclosures,
        Operation::EraseCustomer,
        Operation::ExportCustomer,
        Operation::ViewOwnRecord,
        Operation::ManageLocations,
        Operation::ViewLocations,
        Operation::ManageCatalogue,
        Operation::ViewCatalogue,
        Operation::ManageStaff,
        Operation::EraseStaff,
        Operation::ViewStaff,
        Operation::ViewStaffHistory,
        Operation::ManageRota,
        Operation::ViewRota,
        Operation::ViewOwnRota,
        Operation::ManageSettings,
        Operation::ViewSettings,
        Operation::ManageBookings,
        Operation::RecordVisits,
        Operation::ManageOwnBookings,
        Operation::ViewBookings,
        Operation::ViewAvailability,
        Operation::OverrideBookingRules,
        Operation::UseWaitlist,
        Operation::ViewWaitlist,
        Operation::ViewUtilisation,
        Operation::RecordPatchTests,
    ];

    /// Stable name (OpenAPI `x-belle-operation`, README).
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::RegisterCustomer => "register_customer",
            Operation::ChangeCustomer => "change_customer",
            Operation::SearchCustomers => "search_customers",
            Operation::ViewCustomer => "view_customer",
            Operation::ViewCustomerHistory => "view_customer_history",
            Operation::ReadAuditLog => "read_audit_log",
            Operation::ManageAccounts => "manage_accounts",
            Operation::ChangeOwnPassword => "change_own_password",
            Operation::RevealCustomerField => "reveal_customer_field",
            Operation::ListDisclosures => "list_disclosures",
            Operation::EraseCustomer => "erase_customer",
            Operation::ExportCustomer => "export_customer",
            Operation::ViewOwnRecord => "view_own_record",
            Operation::ManageLocations => "manage_locations",
            Operation::ViewLocations => "view_locations",
            Operation::ManageCatalogue => "manage_catalogue",
            Operation::ViewCatalogue => "view_catalogue",
            Operation::ManageStaff => "manage_staff",
            Operation::EraseStaff => "erase_staff",
            Operation::ViewStaff => "view_staff",
            Operation::ViewStaffHistory => "view_staff_history",
            Operation::ManageRota => "manage_rota",
            Operation::ViewRota => "view_rota",
            Operation::ViewOwnRota => "view_own_rota",
            Operation::ManageSettings => "manage_settings",
            Operation::ViewSettings => "view_settings",
            Operation::ManageBookings => "manage_bookings",
            Operation::RecordVisits => "record_visits",
            Operation::ManageOwnBookings => "manage_own_bookings",
            Operation::ViewBookings => "view_bookings",
            Operation::ViewAvailability => "view_availability",
            Operation::OverrideBookingRules => "override_booking_rules",
            Operation::UseWaitlist => "use_waitlist",
            Operation::ViewWaitlist => "view_waitlist",
            Operation::ViewUtilisation => "view_utilisation",
            Operation::RecordPatchTests => "record_patch_tests",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Roles that hold accounts (everything but the operator's `system`).
pub const ROLES: [Role; 8] = [
    Role::Owner,
    Role::Manager,
    Role::FrontDesk,
    Role::Technician,
    Role::Finance,
    Role::Marketing,
    Role::Auditor,
    Role::Customer,
];

/// Operations a route asks for in its body rather than by itself, with where: the
/// route's own rule admits the caller, the handler then checks this one.
pub const IN_BODY: &[(Operation, &str)] = &[
    (
        Operation::OverrideBookingRules,
        "`POST /bookings` with `override_reason` (command)",
    ),
    (
        Operation::OverrideBookingRules,
        "`POST /bookings/{id}/reschedule` with `override_reason` (command)",
    ),
];

/// Whether `role` may perform `op`.
pub fn allows(role: Role, op: Operation) -> bool {
    use Operation::*;
    use Role::*;
    match op {
        RegisterCustomer | ChangeCustomer => matches!(role, Owner | Manager | FrontDesk),
        SearchCustomers | ViewCustomer => {
            matches!(role, Owner | Manager | FrontDesk | Technician | Marketing)
        }
        ViewCustomerHistory => matches!(role, Owner | Manager | FrontDesk | Auditor),
        ReadAuditLog => matches!(role, Owner | Auditor),
        ManageAccounts => matches!(role, Owner | Manager),
        // Customers have no password: they sign in with a code sent to their phone.
        ChangeOwnPassword => !matches!(role, System | Customer),
        RevealCustomerField => !reveals(role).is_empty(),
        ListDisclosures => matches!(role, Owner | Auditor),
        EraseCustomer => role == Owner,
        ExportCustomer => matches!(role, Owner | Manager),
        ViewOwnRecord => role == Customer,
        ManageLocations => matches!(role, Owner | Manager),
        ViewLocations => !matches!(role, System | Customer),
        ManageCatalogue => matches!(role, Owner | Manager),
        ViewCatalogue => !matches!(role, System | Customer),
        ManageStaff => matches!(role, Owner | Manager),
        EraseStaff => role == Owner,
        // The front desk books people and so needs to know who does what.
        ViewStaff => matches!(role, Owner | Manager | FrontDesk),
        ViewStaffHistory => matches!(role, Owner | Manager | Auditor),
        ManageRota => matches!(role, Owner | Manager),
        ViewRota => matches!(role, Owner | Manager | FrontDesk),
        ViewOwnRota => !matches!(role, System | Customer),
        ManageSettings => role == Owner,
        ViewSettings => matches!(role, Owner | Manager),
        ManageBookings => matches!(role, Owner | Manager | FrontDesk),
        // Technicians see their clients arrive and finish.
        RecordVisits => matches!(role, Owner | Manager | FrontDesk | Technician),
        ManageOwnBookings => role == Customer,
        ViewBookings => matches!(role, Owner | Manager | FrontDesk | Technician),
        // Customers too: they will book themselves.
        ViewAvailability => role != System,
        OverrideBookingRules => matches!(role, Owner | Manager),
        // The front desk for anyone; a customer for herself (checked by the handler).
        UseWaitlist => matches!(role, Owner | Manager | FrontDesk | Customer),
        ViewWaitlist => matches!(role, Owner | Manager | FrontDesk),
        // A management figure: how full each technician's shifts are.
        ViewUtilisation => matches!(role, Owner | Manager),
        // Those who do them; the front desk only learns that a booking needs one.
        RecordPatchTests => matches!(role, Owner | Manager | Technician),
    }
}

/// The sealed customer fields a role may unmask (one at a time, with a logged reason).
/// Every response shows them masked; nobody else ever sees them in clear.
pub fn reveals(role: Role) -> &'static [CustomerField] {
    use CustomerField::*;
    match role {
        Role::Owner | Role::Manager => &[
            Name, Gender, Birthday, Phone, Email, IdNumber, Address, Notes, Allergies, Conditions,
        ],
        // To call, write to and greet customers.
        Role::FrontDesk => &[Phone, Email, Address, Birthday],
        // To treat safely.
        Role::Technician => &[Notes, Allergies, Conditions],
        _ => &[],
    }
}

/// The HTTP services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Command,
    Query,
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a bearer token (health, OpenAPI; login, refresh and logout,
    /// which carry their own credential in the body).
    Public,
    /// A valid token whose role [`allows`] the operation.
    Requires(Operation),
}

impl Access {
    /// Stable name (OpenAPI `x-belle-operation`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Requires(op) => op.as_str(),
        }
    }
}

/// One route of one service, with its access rule. `path` is written as the router
/// writes it (`/customers/{id}`).
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub service: Service,
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const fn route(
    service: Service,
    method: &'static str,
    path: &'static str,
    access: Access,
) -> Route {
    Route {
        service,
        method,
        path,
        access,
    }
}

/// Every route of both services. A route missing here is refused to everyone.
pub const ROUTES: &[Route] = {
    use Access::*;
    use Operation::*;
    use Service::*;
    &[
        route(Command, "GET", "/health", Public),
        route(Command, "GET", "/openapi.json", Public),
        route(Command, "POST", "/auth/login", Public),
        route(Command, "POST", "/auth/refresh", Public),
        route(Command, "POST", "/auth/logout", Public),
        route(Command, "POST", "/auth/customer/code", Public),
        route(Command, "POST", "/auth/customer/sign-in", Public),
        route(
            Command,
            "POST",
            "/auth/password",
            Requires(ChangeOwnPassword),
        ),
        route(Command, "POST", "/accounts", Requires(ManageAccounts)),
        route(
            Command,
            "POST",
            "/accounts/{id}/role",
            Requires(ManageAccounts),
        ),
        route(
            Command,
            "POST",
            "/accounts/{id}/deactivate",
            Requires(ManageAccounts),
        ),
        route(Command, "POST", "/categories", Requires(ManageCatalogue)),
        route(
            Command,
            "PUT",
            "/categories/{id}",
            Requires(ManageCatalogue),
        ),
        route(Command, "POST", "/services", Requires(ManageCatalogue)),
        route(Command, "PUT", "/services/{id}", Requires(ManageCatalogue)),
        route(
            Command,
            "POST",
            "/services/{id}/publish",
            Requires(ManageCatalogue),
        ),
        route(
            Command,
            "POST",
            "/services/{id}/unpublish",
            Requires(ManageCatalogue),
        ),
        route(
            Command,
            "POST",
            "/services/{id}/prices",
            Requires(ManageCatalogue),
        ),
        route(Command, "POST", "/staff", Requires(ManageStaff)),
        route(Command, "PUT", "/staff/{id}", Requires(ManageStaff)),
        route(
            Command,
            "POST",
            "/staff/{id}/deactivate",
            Requires(ManageStaff),
        ),
        route(Command, "POST", "/staff/{id}/erase", Requires(EraseStaff)),
        route(Command, "POST", "/staff/{id}/rota", Requires(ManageRota)),
        route(Command, "POST", "/shift-templates", Requires(ManageRota)),
        route(
            Command,
            "PUT",
            "/shift-templates/{id}",
            Requires(ManageRota),
        ),
        route(Command, "PUT", "/settings", Requires(ManageSettings)),
        route(Command, "POST", "/bookings", Requires(ManageBookings)),
        route(
            Command,
            "GET",
            "/locations/{id}/availability",
            Requires(ViewAvailability),
        ),
        route(
            Command,
            "POST",
            "/bookings/{id}/cancel",
            Requires(ManageBookings),
        ),
        route(
            Command,
            "POST",
            "/bookings/{id}/reschedule",
            Requires(ManageBookings),
        ),
        route(
            Command,
            "POST",
            "/bookings/{id}/check-in",
            Requires(RecordVisits),
        ),
        route(
            Command,
            "POST",
            "/bookings/{id}/complete",
            Requires(RecordVisits),
        ),
        route(
            Command,
            "POST",
            "/bookings/{id}/no-show",
            Requires(RecordVisits),
        ),
        route(Command, "POST", "/me/bookings", Requires(ManageOwnBookings)),
        route(
            Command,
            "POST",
            "/me/bookings/{id}/reschedule",
            Requires(ManageOwnBookings),
        ),
        route(
            Command,
            "POST",
            "/me/bookings/{id}/cancel",
            Requires(ManageOwnBookings),
        ),
        route(
            Command,
            "POST",
            "/services/{id}/images",
            Requires(ManageCatalogue),
        ),
        route(
            Command,
            "DELETE",
            "/services/{id}/images/{image_id}",
            Requires(ManageCatalogue),
        ),
        route(Command, "POST", "/waitlist", Requires(UseWaitlist)),
        route(
            Command,
            "POST",
            "/waitlist/{id}/leave",
            Requires(UseWaitlist),
        ),
        route(
            Command,
            "POST",
            "/waitlist/offers/{id}/accept",
            Requires(UseWaitlist),
        ),
        route(
            Command,
            "POST",
            "/waitlist/offers/{id}/decline",
            Requires(UseWaitlist),
        ),
        route(Command, "POST", "/locations", Requires(ManageLocations)),
        route(Command, "PUT", "/locations/{id}", Requires(ManageLocations)),
        route(Command, "POST", "/customers", Requires(RegisterCustomer)),
        route(
            Command,
            "PUT",
            "/customers/{id}/consent/marketing",
            Requires(ChangeCustomer),
        ),
        route(
            Command,
            "POST",
            "/customers/{id}/export",
            Requires(ExportCustomer),
        ),
        route(
            Command,
            "POST",
            "/customers/{id}/erase",
            Requires(EraseCustomer),
        ),
        route(
            Command,
            "POST",
            "/customers/{id}/reveal",
            Requires(RevealCustomerField),
        ),
        route(
            Command,
            "PATCH",
            "/customers/{id}",
            Requires(ChangeCustomer),
        ),
        route(
            Command,
            "POST",
            "/customers/{id}/patch-tests",
            Requires(RecordPatchTests),
        ),
        route(Query, "GET", "/health", Public),
        route(Query, "GET", "/openapi.json", Public),
        route(Query, "GET", "/customers", Requires(SearchCustomers)),
        route(Query, "GET", "/customers/{id}", Requires(ViewCustomer)),
        route(Query, "GET", "/me", Requires(ViewOwnRecord)),
        route(Query, "GET", "/categories", Requires(ViewCatalogue)),
        route(Query, "GET", "/services", Requires(ViewCatalogue)),
        route(
            Query,
            "GET",
            "/services/{id}/price",
            Requires(ViewCatalogue),
        ),
        route(Query, "GET", "/public/{slug}/catalogue", Public),
        route(Query, "GET", "/staff", Requires(ViewStaff)),
        route(Query, "GET", "/staff/{id}", Requires(ViewStaff)),
        route(
            Query,
            "GET",
            "/staff/{id}/history",
            Requires(ViewStaffHistory),
        ),
        route(Query, "GET", "/shift-templates", Requires(ViewRota)),
        route(Query, "GET", "/rota", Requires(ViewRota)),
        route(Query, "GET", "/me/rota", Requires(ViewOwnRota)),
        route(Query, "GET", "/settings", Requires(ViewSettings)),
        route(
            Query,
            "GET",
            "/locations/{id}/calendar",
            Requires(ViewBookings),
        ),
        route(
            Query,
            "GET",
            "/customers/{id}/bookings",
            Requires(ViewBookings),
        ),
        route(Query, "GET", "/me/bookings", Requires(ManageOwnBookings)),
        route(Query, "GET", "/public/{slug}/images/{image_id}", Public),
        route(Query, "GET", "/images/{image_id}", Requires(ViewCatalogue)),
        route(Query, "GET", "/waitlist", Requires(ViewWaitlist)),
        route(Query, "GET", "/utilisation", Requires(ViewUtilisation)),
        route(Query, "GET", "/locations", Requires(ViewLocations)),
        route(Query, "GET", "/locations/{id}", Requires(ViewLocations)),
        route(
            Query,
            "GET",
            "/locations/{id}/opening",
            Requires(ViewLocations),
        ),
        route(
            Query,
            "GET",
            "/customers/{id}/history",
            Requires(ViewCustomerHistory),
        ),
        route(
            Query,
            "GET",
            "/audit/streams/{stream_id}/events",
            Requires(ReadAuditLog),
        ),
        route(Query, "GET", "/audit/feed", Requires(ReadAuditLog)),
        route(Query, "GET", "/audit/chain", Requires(ReadAuditLog)),
        route(
            Query,
            "GET",
            "/audit/disclosures",
            Requires(ListDisclosures),
        ),
    ]
};

/// The rule of a route, if it has one.
pub fn rule(service: Service, method: &str, path: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|r| r.service == service && r.method == method && r.path == path)
        .map(|r| r.access)
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// 401: no token, or one that is forged, expired or for another audience.
    Unauthenticated(&'static str),
    /// 403: the role may not do this, or the route has no rule.
    Forbidden,
}

/// The access decision for one request: `Ok(None)` for a public route, `Ok(Some(claims))`
/// for an allowed caller. `path` is the matched route pattern; `now` in epoch seconds.
pub fn authorize(
    service: Service,
    method: &str,
    path: &str,
    authorization: Option<&[u8]>,
    tokens: &TokenSecret,
    now: i64,
) -> Result<Option<Claims>, Denied> {
    let access = rule(service, method, path);
    if access == Some(Access::Public) {
        return Ok(None);
    }
    let claims = tokens
        .verify_bearer(authorization, now)
        .map_err(Denied::Unauthenticated)?;
    match access {
        Some(Access::Requires(op)) if allows(claims.role, op) => Ok(Some(claims)),
        _ => Err(Denied::Forbidden),
    }
}

/// Marks every operation of an OpenAPI document with its rule: `x-belle-operation` is
/// the operation's name (or `public`), and public routes need no security. An operation
/// with no rule gets `x-belle-operation: "none"` (it is refused to everyone), which the
/// end-to-end sweep rejects.
pub fn annotate_openapi(service: Service, doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let access = rule(service, &method.to_ascii_uppercase(), path);
            op.insert(
                "x-belle-operation".into(),
                access.map_or("none", Access::as_str).into(),
            );
            if access == Some(Access::Public) {
                op.insert("security".into(), serde_json::json!([]));
            }
        }
    }
}

/// The matrix as a Markdown table (operations × roles), as README shows it.
pub fn markdown_matrix() -> String {
    let mut out = String::from("| operation | routes |");
    for role in ROLES {
        out.push_str(&format!(" {} |", role.as_str()));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(ROLES.len()));
    out.push('\n');
    for op in Operation::ALL {
        let routes: Vec<String> = ROUTES
            .iter()
            .filter(|r| r.access == Access::Requires(op))
            .map(|r| {
                let service = match r.service {
                    Service::Command => "command",
                    Service::Query => "query",
                };
                format!("`{} {}` ({service})", r.method, r.path)
            })
            .chain(
                IN_BODY
                    .iter()
                    .filter(|(o, _)| *o == op)
                    .map(|(_, w)| (*w).to_owned()),
            )
            .collect();
        out.push_str(&format!("| {} | {} |", op.as_str(), routes.join("<br>")));
        for role in ROLES {
            out.push_str(if allows(role, op) { " ✓ |" } else { " |" });
        }
        out.push('\n');
    }
    out.push_str("\n| role | may unmask (with a logged reason) |\n|---|---|\n");
    for role in ROLES {
        let fields: Vec<&str> = reveals(role).iter().map(|f| f.as_str()).collect();
        let fields = if fields.is_empty() {
            "—".to_owned()
        } else {
            fields.join(", ")
        };
        out.push_str(&format!("| {} | {fields} |\n", role.as_str()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_and_the_system_role_are_denied_staff_operations_and_system_everything() {
        for op in Operation::ALL {
            assert!(!allows(Role::System, op), "{op:?}");
            // Customers read their own record and the salon's free times, manage
            // their own bookings and wait for a slot, nothing else.
            assert_eq!(
                allows(Role::Customer, op),
                matches!(
                    op,
                    Operation::ViewOwnRecord
                        | Operation::ViewAvailability
                        | Operation::ManageOwnBookings
                        | Operation::UseWaitlist
                ),
                "{op:?}"
            );
            if matches!(op, Operation::ViewOwnRecord | Operation::ManageOwnBookings) {
                for role in ROLES.into_iter().filter(|r| *r != Role::Customer) {
                    assert!(!allows(role, op), "{role:?}");
                }
            }
        }
        assert!(allows(Role::FrontDesk, Operation::RegisterCustomer));
        assert!(!allows(Role::Auditor, Operation::RegisterCustomer));
        assert!(allows(Role::Auditor, Operation::ReadAuditLog));
    }

    #[test]
    fn every_operation_has_a_route_and_a_stable_name() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(op));
            assert!(
                ROUTES.iter().any(|r| r.access == Access::Requires(op))
                    || IN_BODY.iter().any(|(o, _)| *o == op),
                "{op:?} has no route"
            );
        }
    }

    #[test]
    fn a_route_without_a_rule_is_refused_even_to_the_owner() {
        let tokens = TokenSecret::generate();
        let claims = Claims {
            sub: crate::ids::AccountId::new(),
            tenant: crate::ids::TenantId::new(),
            role: Role::Owner,
            aud: crate::token::API_AUDIENCE.into(),
            iat: 0,
            exp: 100,
            jti: uuid::Uuid::new_v4(),
            customer: None,
        };
        let header = format!("Bearer {}", tokens.issue(&claims));
        let decide = |method: &str, path: &str| {
            authorize(
                Service::Query,
                method,
                path,
                Some(header.as_bytes()),
                &tokens,
                50,
            )
        };
        assert_eq!(decide("GET", "/customers"), Ok(Some(claims.clone())));
        assert_eq!(decide("DELETE", "/customers"), Err(Denied::Forbidden));
        assert_eq!(decide("GET", "/secret-report"), Err(Denied::Forbidden));
        assert_eq!(
            authorize(Service::Query, "GET", "/customers", None, &tokens, 50),
            Err(Denied::Unauthenticated("a bearer token is required"))
        );
        assert_eq!(
            authorize(Service::Query, "GET", "/health", None, &tokens, 50),
            Ok(None)
        );
    }
}
