//! Patch tests (SVC-3): staff record a customer's patch test of a service and its
//! result on her stream (`PatchTestRecorded`, result sealed); a service with
//! `requires_patch_test_days` is booked — placed or moved to another date — only for a
//! customer with a passed test of it done within that many days before the visit's
//! date, unless staff allowed to override give a reason (recorded in the booking's
//! event). The refusal never says more than that a valid patch test is missing.

use super::sealing::SubjectKey;
use super::{App, AppError, CommandContext, Outcome};
use crate::domain::customer::{CustomerEvent, CustomerState};
use chrono::NaiveDate;
use events_schema::customer::{self as wire, PatchTestResult};
use events_schema::ids::{CustomerId, ServiceId, TenantId};
use events_schema::store::ExpectedVersion;

/// One recorded patch test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchTest {
    pub service_id: ServiceId,
    pub done_on: NaiveDate,
    pub result: PatchTestResult,
}

/// A patch test to record.
pub struct RecordPatchTest {
    pub customer_id: CustomerId,
    pub service_id: ServiceId,
    pub done_on: NaiveDate,
    pub result: PatchTestResult,
}

/// The refusal of a booking that needs a patch test she does not have (no health
/// details: neither which test nor how it went).
pub fn missing_patch_test() -> AppError {
    AppError::Rule(
        "a service of this visit needs a valid patch test the customer does not have on \
         record for the visit's date: record one, or a manager may book it anyway with \
         override_reason"
            .into(),
    )
}

/// Whether every service of `needs` (service, days a test stays valid) has a passed
/// test done on `date` or at most that many days before it.
pub fn has_valid_patch_tests(
    tests: &[PatchTest],
    needs: &[(ServiceId, u32)],
    date: NaiveDate,
) -> bool {
    needs.iter().all(|(service, days)| {
        tests.iter().any(|t| {
            t.service_id == *service
                && t.result == PatchTestResult::Passed
                && t.done_on <= date
                && (date - t.done_on).num_days() <= i64::from(*days)
        })
    })
}

impl App {
    /// Records a patch test (201). The service must be the salon's; the test cannot
    /// be dated after today (+1 day for time zones).
    pub async fn record_patch_test(
        &self,
        ctx: &CommandContext,
        cmd: RecordPatchTest,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        if cmd.done_on > chrono::Utc::now().date_naive() + chrono::Duration::days(1) {
            return Err(AppError::Validation(vec![super::error::FieldError::new(
                "done_on",
                "must not be in the future",
            )]));
        }
        // Her first: another salon's customer is not found, whatever the body says.
        let loaded = self.load_customer(ctx.tenant, cmd.customer_id).await?;
        if loaded.state == CustomerState::New {
            return Err(AppError::NotFound("customer"));
        }
        match self.load_service(ctx.tenant, cmd.service_id).await {
            Ok(_) => {}
            Err(AppError::Category(super::catalogue::CategoryError::ServiceNotFound)) => {
                return Err(AppError::Validation(vec![super::error::FieldError::new(
                    "service_id",
                    "no such service in this salon",
                )]))
            }
            Err(e) => return Err(e),
        }
        let key = SubjectKey {
            tenant: ctx.tenant,
            customer: cmd.customer_id,
            version: loaded.key_version,
            dek: &loaded.dek,
        };
        let event = key.seal_event(&CustomerEvent::PatchTestRecorded {
            customer_id: cmd.customer_id,
            service_id: cmd.service_id,
            done_on: cmd.done_on,
            result: cmd.result,
        });
        self.append_one(
            ctx,
            (
                &wire::stream_id(cmd.customer_id),
                ExpectedVersion::Exact(loaded.version),
            ),
            &event,
            201,
            ("customer_id", cmd.customer_id.as_uuid()),
        )
        .await
    }

    /// Refuses (422) a visit on `date` of `services` when one needs a patch test the
    /// customer has no valid passed one of.
    pub(super) async fn check_patch_tests(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        needs: &[(ServiceId, u32)],
        date: NaiveDate,
    ) -> Result<(), AppError> {
        if needs.is_empty() {
            return Ok(());
        }
        let loaded = self.load_customer(tenant, customer).await?;
        if has_valid_patch_tests(&loaded.patch_tests, needs, date) {
            Ok(())
        } else {
            Err(missing_patch_test())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn a_passed_test_is_valid_for_its_days_before_the_visit() {
        let s = ServiceId::new();
        let passed = PatchTest {
            service_id: s,
            done_on: d("2026-11-01"),
            result: PatchTestResult::Passed,
        };
        let needs = [(s, 7)];
        assert!(has_valid_patch_tests(&[passed], &needs, d("2026-11-08")));
        assert!(!has_valid_patch_tests(&[passed], &needs, d("2026-11-09")));
        assert!(!has_valid_patch_tests(&[passed], &needs, d("2026-10-31")));
        let failed = PatchTest {
            result: PatchTestResult::Failed,
            ..passed
        };
        assert!(!has_valid_patch_tests(&[failed], &needs, d("2026-11-02")));
        let other = PatchTest {
            service_id: ServiceId::new(),
            ..passed
        };
        assert!(!has_valid_patch_tests(&[other], &needs, d("2026-11-02")));
        assert!(has_valid_patch_tests(&[], &[], d("2026-11-02")));
    }
}
