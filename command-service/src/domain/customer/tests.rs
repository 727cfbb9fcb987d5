//! Given events, when a command, then events or an error — no database.

use super::*;
use events_schema::customer::SourceChannel;
use events_schema::values::{Email, PersonName, Phone};

fn details() -> Box<CustomerDetails> {
    Box::new(CustomerDetails {
        name: PersonName::parse("张三").expect("valid name"),
        phone: Phone::parse("13812341234").expect("valid phone"),
        source_channel: SourceChannel::WalkIn,
        gender: None,
        birthday: None,
        email: None,
        id_number: None,
        address: None,
        tags: vec![],
        notes: None,
        allergies: None,
        conditions: None,
    })
}

fn consent() -> Consent {
    Consent {
        privacy_policy_version: "2026-01".into(),
        purpose: Some("customer_record".into()),
        marketing: false,
    }
}

fn given(events: &[CustomerEvent]) -> CustomerState {
    events.iter().fold(CustomerState::New, evolve)
}

fn registered(id: CustomerId) -> CustomerEvent {
    CustomerEvent::Registered {
        customer_id: id,
        details: details(),
        consent: consent(),
    }
}

fn reason() -> Reason {
    Reason::parse("customer asked").expect("valid reason")
}

#[test]
fn registering_a_new_customer_records_her_details() {
    let id = CustomerId::new();
    let events = decide(
        &CustomerState::New,
        CustomerCommand::Register {
            customer_id: id,
            details: details(),
            consent: consent(),
        },
    );
    assert_eq!(events, Ok(vec![registered(id)]));
}

#[test]
fn registering_twice_is_refused() {
    let id = CustomerId::new();
    let state = given(&[registered(id)]);
    let result = decide(
        &state,
        CustomerCommand::Register {
            customer_id: id,
            details: details(),
            consent: consent(),
        },
    );
    assert_eq!(result, Err(CustomerError::AlreadyRegistered));
}

#[test]
fn changing_an_unknown_customer_is_refused() {
    let result = decide(
        &CustomerState::New,
        CustomerCommand::Change {
            set: vec![],
            clear: vec![],
            reason: reason(),
        },
    );
    assert_eq!(result, Err(CustomerError::NotFound));
}

#[test]
fn a_change_records_only_fields_that_differ() {
    let id = CustomerId::new();
    let state = given(&[registered(id)]);
    let email = Email::parse("a@example.com").expect("valid email");
    let events = decide(
        &state,
        CustomerCommand::Change {
            set: vec![
                FieldValue::Name(PersonName::parse("张三").expect("valid")),
                FieldValue::Email(email.clone()),
            ],
            clear: vec![CustomerField::Notes],
            reason: reason(),
        },
    )
    .expect("change accepted");
    assert_eq!(
        events,
        vec![CustomerEvent::Changed {
            customer_id: id,
            set: vec![FieldValue::Email(email.clone())],
            cleared: vec![],
            reason: reason(),
        }]
    );
    let after = events.iter().fold(state, evolve);
    let CustomerState::Active { details, .. } = after else {
        panic!("customer should be active");
    };
    assert_eq!(details.email, Some(email));
}

#[test]
fn a_change_to_identical_values_is_refused() {
    let id = CustomerId::new();
    let state = given(&[registered(id)]);
    let result = decide(
        &state,
        CustomerCommand::Change {
            set: vec![FieldValue::Phone(
                Phone::parse("+8613812341234").expect("valid"),
            )],
            clear: vec![],
            reason: reason(),
        },
    );
    assert_eq!(result, Err(CustomerError::NothingChanged));
}

#[test]
fn required_fields_cannot_be_cleared() {
    let id = CustomerId::new();
    let state = given(&[registered(id)]);
    let result = decide(
        &state,
        CustomerCommand::Change {
            set: vec![],
            clear: vec![CustomerField::Phone],
            reason: reason(),
        },
    );
    assert_eq!(result, Err(CustomerError::NotClearable("phone")));
}

#[test]
fn a_reason_is_required() {
    assert!(Reason::parse("  ").is_err());
    assert!(Reason::parse(&"x".repeat(501)).is_err());
}
