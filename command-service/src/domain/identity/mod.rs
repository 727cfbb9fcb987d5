//! Tenants and accounts: the identity values the command side validates.
//! (Roles and the full account lifecycle grow here; tokens are in `events_schema::token`.)

use events_schema::envelope::Role;
use zeroize::Zeroizing;

/// A tenant's short name used at login: 3..=40 of `a-z`, `0-9`, `-`, not starting or
/// ending with `-`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn parse(s: &str) -> Result<TenantSlug, &'static str> {
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !(3..=40).contains(&s.len()) || !ok_chars || s.starts_with('-') || s.ends_with('-') {
            return Err(
                "must be 3 to 40 characters of a-z, 0-9 and '-', not starting or ending with '-'",
            );
        }
        Ok(TenantSlug(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A login name: trimmed, lower-cased, 3..=64 characters of `a-z 0-9 . _ @ + -`.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginName(String);

impl std::fmt::Debug for LoginName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginName(..)")
    }
}

impl LoginName {
    pub fn parse(s: &str) -> Result<LoginName, &'static str> {
        let t = s.trim().to_lowercase();
        let ok = t
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._@+-".contains(c));
        if !(3..=64).contains(&t.len()) || !ok {
            return Err("must be 3 to 64 characters of a-z, 0-9 and . _ @ + -");
        }
        Ok(LoginName(t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 10..=128 characters. Kept zeroised in memory.
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn parse(s: &str) -> Result<Password, &'static str> {
        let n = s.chars().count();
        if n < 10 {
            return Err("must be at least 10 characters");
        }
        if n > 128 {
            return Err("must be at most 128 characters");
        }
        Ok(Password(Zeroizing::new(s.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Roles an account can be given (customers sign themselves up; `system` is the
/// operator's and never an account's).
pub fn is_staff(role: Role) -> bool {
    !matches!(role, Role::Customer | Role::System)
}

/// Whether an administrator with role `actor` may create, re-role or deactivate an
/// account with role `target` (STF-1: administrators only). Owners manage every staff
/// role; managers manage the roles below them; nobody else manages accounts.
pub fn may_manage(actor: Role, target: Role) -> bool {
    match actor {
        Role::Owner => is_staff(target),
        Role::Manager => matches!(
            target,
            Role::FrontDesk | Role::Technician | Role::Finance | Role::Marketing
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_manage_staff_managers_manage_the_roles_below_them() {
        assert!(may_manage(Role::Owner, Role::Owner));
        assert!(may_manage(Role::Owner, Role::Auditor));
        assert!(!may_manage(Role::Owner, Role::Customer));
        assert!(!may_manage(Role::Owner, Role::System));
        assert!(may_manage(Role::Manager, Role::Technician));
        assert!(!may_manage(Role::Manager, Role::Manager));
        assert!(!may_manage(Role::Manager, Role::Owner));
        assert!(!may_manage(Role::Manager, Role::Auditor));
        assert!(!may_manage(Role::FrontDesk, Role::Technician));
    }

    #[test]
    fn slugs_logins_and_passwords_are_validated() {
        assert!(TenantSlug::parse("demo-salon").is_ok());
        assert!(TenantSlug::parse("-bad").is_err());
        assert!(TenantSlug::parse("Bad").is_err());
        assert_eq!(
            LoginName::parse(" Owner ").map(|l| l.as_str().to_owned()),
            Ok("owner".to_owned())
        );
        assert!(LoginName::parse("a b").is_err());
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("long enough pw").is_ok());
    }
}
