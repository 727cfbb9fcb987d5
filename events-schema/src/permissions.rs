//! The permission matrix: which role may perform which operation. Deny by default:
//! an operation not listed for a role is refused. Both HTTP services consult this one
//! table, and README documents it.

use crate::envelope::Role;

/// Every operation a route performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    RegisterCustomer,
    ChangeCustomer,
    SearchCustomers,
    ViewCustomer,
    ViewCustomerHistory,
    ReadAuditLog,
}

impl Operation {
    pub const ALL: [Operation; 6] = [
        Operation::RegisterCustomer,
        Operation::ChangeCustomer,
        Operation::SearchCustomers,
        Operation::ViewCustomer,
        Operation::ViewCustomerHistory,
        Operation::ReadAuditLog,
    ];
}

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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_and_the_system_role_are_denied_staff_operations() {
        for op in Operation::ALL {
            assert!(!allows(Role::Customer, op), "{op:?}");
            assert!(!allows(Role::System, op), "{op:?}");
        }
        assert!(allows(Role::FrontDesk, Operation::RegisterCustomer));
        assert!(!allows(Role::Auditor, Operation::RegisterCustomer));
        assert!(allows(Role::Auditor, Operation::ReadAuditLog));
    }
}
