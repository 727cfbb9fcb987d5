//! Rows of the customers read model and their set-wise load and save.

use super::{index, Change, Plain};

/// A history row's `changes` (jsonb).
pub type Changes = tokio_postgres::types::Json<Vec<Change>>;
use deadpool_postgres::Transaction;
use events_schema::customer::{index as purpose, Consent, CustomerField, SealedDetails};
use events_schema::envelope::FeedEvent;
use events_schema::ids::{CustomerId, TenantId};
use events_schema::sealing::IndexKey;
use events_schema::values::{PersonName, Phone};
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct CustomerRow {
    pub tenant_id: uuid::Uuid,
    pub customer_id: uuid::Uuid,
    pub version: i64,
    pub name: String,
    pub name_pinyin: String,
    pub name_initials: String,
    pub phone_hash: String,
    pub phone_tail_hash: String,
    pub phone_masked: String,
    pub id_number_hash: Option<String>,
    pub id_number_masked: Option<String>,
    pub email_masked: Option<String>,
    pub address_masked: Option<String>,
    pub gender: Option<String>,
    pub birthday_masked: Option<String>,
    pub birth_month: Option<i16>,
    pub source_channel: String,
    pub tags: Vec<String>,
    pub has_notes: bool,
    pub has_allergies: bool,
    pub has_conditions: bool,
    pub privacy_policy_version: String,
    pub marketing_consent: bool,
    pub privacy_policy_purpose: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

pub use events_schema::customer::masked;

fn birth_month(text: &str) -> Option<i16> {
    text.get(5..7).and_then(|m| m.parse().ok())
}

impl CustomerRow {
    /// A new row from a registration; `None` when her name or phone can no longer be
    /// opened (erased).
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; a struct would only rename them"
    )]
    pub fn registered(
        tenant: TenantId,
        id: CustomerId,
        version: i64,
        details: &SealedDetails,
        plain: &Plain,
        consent: &Consent,
        key: &IndexKey,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<CustomerRow> {
        let name = plain.get(&CustomerField::Name).cloned().flatten()?;
        let phone = plain.get(&CustomerField::Phone).cloned().flatten()?;
        let mut row = CustomerRow {
            tenant_id: tenant.as_uuid(),
            customer_id: id.as_uuid(),
            version,
            name: String::new(),
            name_pinyin: String::new(),
            name_initials: String::new(),
            phone_hash: String::new(),
            phone_tail_hash: String::new(),
            phone_masked: String::new(),
            id_number_hash: None,
            id_number_masked: None,
            email_masked: None,
            address_masked: None,
            gender: None,
            birthday_masked: None,
            birth_month: None,
            source_channel: "walk_in".into(),
            tags: Vec::new(),
            has_notes: false,
            has_allergies: false,
            has_conditions: false,
            privacy_policy_version: consent.privacy_policy_version.clone(),
            marketing_consent: consent.marketing,
            privacy_policy_purpose: consent.purpose.clone(),
            created_at: at,
            updated_at: at,
        };
        row.set_name(&name);
        row.set_phone(&phone, key);
        row.change(version, details, plain, &[], key, at);
        Some(row)
    }

    fn set_name(&mut self, name: &str) {
        match PersonName::parse(name) {
            Ok(n) => {
                self.name = n.as_str().to_owned();
                self.name_pinyin = n.pinyin_full();
                self.name_initials = n.pinyin_initials();
            }
            Err(_) => {
                self.name = name.to_owned();
                self.name_pinyin = String::new();
                self.name_initials = String::new();
            }
        }
    }

    fn set_phone(&mut self, e164: &str, key: &IndexKey) {
        self.phone_hash = index(key, purpose::PHONE, e164);
        let tail = Phone::parse(e164)
            .map(|p| p.tail4().to_owned())
            .unwrap_or_else(|_| {
                e164.chars()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect()
            });
        self.phone_tail_hash = index(key, purpose::PHONE_TAIL, &tail);
        self.phone_masked = masked(CustomerField::Phone, e164);
    }

    /// She gave or withdrew marketing consent.
    pub fn set_marketing_consent(
        &mut self,
        version: i64,
        marketing: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        self.version = version;
        self.marketing_consent = marketing;
        self.updated_at = at;
    }

    /// An event that changes none of the record's fields: only its version moves.
    pub fn touch(&mut self, version: i64, at: chrono::DateTime<chrono::Utc>) {
        self.version = version;
        self.updated_at = at;
    }

    /// Applies a change (also used to fill a new row from its registration).
    pub fn change(
        &mut self,
        version: i64,
        details: &SealedDetails,
        plain: &Plain,
        cleared: &[CustomerField],
        key: &IndexKey,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        self.version = version;
        self.updated_at = at;
        for field in details.present_fields() {
            match field {
                CustomerField::SourceChannel => {
                    if let Some(c) = details.source_channel {
                        self.source_channel = c.as_str().to_owned();
                    }
                }
                CustomerField::Tags => {
                    self.tags = details.tags.clone().unwrap_or_default();
                }
                f => {
                    let Some(text) = plain.get(&f).cloned().flatten() else {
                        continue;
                    };
                    self.set_personal(f, &text, key);
                }
            }
        }
        for f in cleared {
            match f {
                CustomerField::IdNumber => {
                    self.id_number_hash = None;
                    self.id_number_masked = None;
                }
                CustomerField::Email => self.email_masked = None,
                CustomerField::Address => self.address_masked = None,
                CustomerField::Gender => self.gender = None,
                CustomerField::Birthday => {
                    self.birthday_masked = None;
                    self.birth_month = None;
                }
                CustomerField::Tags => self.tags.clear(),
                CustomerField::Notes => self.has_notes = false,
                CustomerField::Allergies => self.has_allergies = false,
                CustomerField::Conditions => self.has_conditions = false,
                CustomerField::Name | CustomerField::Phone | CustomerField::SourceChannel => {}
            }
        }
    }

    fn set_personal(&mut self, field: CustomerField, text: &str, key: &IndexKey) {
        match field {
            CustomerField::Name => self.set_name(text),
            CustomerField::Phone => self.set_phone(text, key),
            CustomerField::IdNumber => {
                self.id_number_hash = Some(index(key, purpose::ID_NUMBER, &text.to_uppercase()));
                self.id_number_masked = Some(masked(field, text));
            }
            CustomerField::Email => self.email_masked = Some(masked(field, text)),
            CustomerField::Address => self.address_masked = Some(masked(field, text)),
            CustomerField::Gender => self.gender = Some(text.to_owned()),
            CustomerField::Birthday => {
                self.birthday_masked = Some(masked(field, text));
                self.birth_month = birth_month(text);
            }
            CustomerField::Notes => self.has_notes = true,
            CustomerField::Allergies => self.has_allergies = true,
            CustomerField::Conditions => self.has_conditions = true,
            CustomerField::SourceChannel | CustomerField::Tags => {}
        }
    }
}

/// Joins a row's tags for [`save`] (`E'\x1f'` there).
const TAG_SEPARATOR: &str = "\u{1f}";

const COLUMNS: &str = "tenant_id, customer_id, version, name, name_pinyin, name_initials, phone_hash, phone_tail_hash, phone_masked, id_number_hash, id_number_masked, email_masked, address_masked, gender, birthday_masked, birth_month, source_channel, tags, has_notes, has_allergies, has_conditions, privacy_policy_version, marketing_consent, created_at, updated_at, privacy_policy_purpose";

/// Loads the existing rows of the given customers.
pub async fn load(
    tx: &Transaction<'_>,
    subjects: &[(TenantId, uuid::Uuid)],
) -> anyhow::Result<HashMap<(TenantId, CustomerId), CustomerRow>> {
    let tenants: Vec<uuid::Uuid> = subjects.iter().map(|(t, _)| t.as_uuid()).collect();
    let ids: Vec<uuid::Uuid> = subjects.iter().map(|(_, c)| *c).collect();
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM customers WHERE (tenant_id, customer_id) IN (SELECT * FROM UNNEST($1::uuid[], $2::uuid[]))"
        ))
        .await?;
    let rows = tx.query(&stmt, &[&tenants, &ids]).await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let row = CustomerRow {
            tenant_id: r.get(0),
            customer_id: r.get(1),
            version: r.get(2),
            name: r.get(3),
            name_pinyin: r.get(4),
            name_initials: r.get(5),
            phone_hash: r.get(6),
            phone_tail_hash: r.get(7),
            phone_masked: r.get(8),
            id_number_hash: r.get(9),
            id_number_masked: r.get(10),
            email_masked: r.get(11),
            address_masked: r.get(12),
            gender: r.get(13),
            birthday_masked: r.get(14),
            birth_month: r.get(15),
            source_channel: r.get(16),
            tags: r.get(17),
            has_notes: r.get(18),
            has_allergies: r.get(19),
            has_conditions: r.get(20),
            privacy_policy_version: r.get(21),
            marketing_consent: r.get(22),
            created_at: r.get(23),
            updated_at: r.get(24),
            privacy_policy_purpose: r.get(25),
        };
        out.insert(
            (
                TenantId::from_uuid(row.tenant_id),
                CustomerId::from_uuid(row.customer_id),
            ),
            row,
        );
    }
    Ok(out)
}

/// Upserts rows set-wise (one statement per batch).
pub async fn save<'a>(
    tx: &Transaction<'_>,
    rows: impl Iterator<Item = &'a CustomerRow>,
) -> anyhow::Result<()> {
    let rows: Vec<&CustomerRow> = rows.collect();
    if rows.is_empty() {
        return Ok(());
    }
    macro_rules! col {
        ($f:ident) => {
            rows.iter().map(|r| &r.$f).collect::<Vec<_>>()
        };
    }
    // Arrays of arrays are not rectangular in general, so each row's tags travel as one
    // text joined by the unit separator (tags are letters, digits, '-', '_' and spaces).
    let tags: Vec<String> = rows.iter().map(|r| r.tags.join(TAG_SEPARATOR)).collect();
    let stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO customers ({COLUMNS})
             SELECT u.tenant_id, u.customer_id, u.version, u.name, u.name_pinyin, u.name_initials, u.phone_hash,
                    u.phone_tail_hash, u.phone_masked, u.id_number_hash, u.id_number_masked, u.email_masked,
                    u.address_masked, u.gender, u.birthday_masked, u.birth_month, u.source_channel,
                    string_to_array(u.tags, E'\\x1f'), u.has_notes, u.has_allergies, u.has_conditions,
                    u.privacy_policy_version, u.marketing_consent, u.created_at, u.updated_at,
                    u.privacy_policy_purpose
             FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                         $15::text[], $16::int2[], $17::text[], $18::text[], $19::bool[], $20::bool[], $21::bool[],
                         $22::text[], $23::bool[], $24::timestamptz[], $25::timestamptz[], $26::text[])
                  AS u(tenant_id, customer_id, version, name, name_pinyin, name_initials, phone_hash,
                       phone_tail_hash, phone_masked, id_number_hash, id_number_masked, email_masked,
                       address_masked, gender, birthday_masked, birth_month, source_channel, tags, has_notes,
                       has_allergies, has_conditions, privacy_policy_version, marketing_consent,
                       created_at, updated_at, privacy_policy_purpose)
             ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
                version = EXCLUDED.version, name = EXCLUDED.name, name_pinyin = EXCLUDED.name_pinyin,
                name_initials = EXCLUDED.name_initials, phone_hash = EXCLUDED.phone_hash,
                phone_tail_hash = EXCLUDED.phone_tail_hash, phone_masked = EXCLUDED.phone_masked,
                id_number_hash = EXCLUDED.id_number_hash, id_number_masked = EXCLUDED.id_number_masked,
                email_masked = EXCLUDED.email_masked, address_masked = EXCLUDED.address_masked,
                gender = EXCLUDED.gender, birthday_masked = EXCLUDED.birthday_masked,
                birth_month = EXCLUDED.birth_month, source_channel = EXCLUDED.source_channel,
                tags = EXCLUDED.tags, has_notes = EXCLUDED.has_notes, has_allergies = EXCLUDED.has_allergies,
                has_conditions = EXCLUDED.has_conditions, privacy_policy_version = EXCLUDED.privacy_policy_version,
                marketing_consent = EXCLUDED.marketing_consent,
                privacy_policy_purpose = EXCLUDED.privacy_policy_purpose,
                updated_at = EXCLUDED.updated_at"
        ))
        .await?;
    tx.execute(
        &stmt,
        &[
            &col!(tenant_id),
            &col!(customer_id),
            &col!(version),
            &col!(name),
            &col!(name_pinyin),
            &col!(name_initials),
            &col!(phone_hash),
            &col!(phone_tail_hash),
            &col!(phone_masked),
            &col!(id_number_hash),
            &col!(id_number_masked),
            &col!(email_masked),
            &col!(address_masked),
            &col!(gender),
            &col!(birthday_masked),
            &col!(birth_month),
            &col!(source_channel),
            &tags,
            &col!(has_notes),
            &col!(has_allergies),
            &col!(has_conditions),
            &col!(privacy_policy_version),
            &col!(marketing_consent),
            &col!(created_at),
            &col!(updated_at),
            &col!(privacy_policy_purpose),
        ],
    )
    .await?;
    Ok(())
}

/// One entry of a customer's change history.
pub struct HistoryRow {
    tenant_id: uuid::Uuid,
    customer_id: uuid::Uuid,
    stream_version: i64,
    seq: i64,
    event_type: String,
    occurred_at: chrono::DateTime<chrono::Utc>,
    actor_account_id: Option<uuid::Uuid>,
    actor_role: String,
    changes: Changes,
    reason: Option<String>,
}

impl HistoryRow {
    pub fn is_of(&self, tenant: TenantId, customer: CustomerId) -> bool {
        self.tenant_id == tenant.as_uuid() && self.customer_id == customer.as_uuid()
    }

    pub fn new(
        fe: &FeedEvent,
        id: CustomerId,
        changes: Changes,
        reason: Option<String>,
    ) -> HistoryRow {
        let m = &fe.event.metadata;
        HistoryRow {
            tenant_id: fe.event.tenant_id.as_uuid(),
            customer_id: id.as_uuid(),
            stream_version: fe.event.stream_version,
            seq: fe.seq,
            event_type: fe.event.event_type.clone(),
            occurred_at: m.occurred_at,
            actor_account_id: m.actor.account_id.map(|a| a.as_uuid()),
            actor_role: m.actor.role.as_str().to_owned(),
            changes,
            reason,
        }
    }
}

/// Deletes erased customers' rows and history.
pub async fn delete(
    tx: &Transaction<'_>,
    customers: &[(TenantId, CustomerId)],
) -> anyhow::Result<()> {
    if customers.is_empty() {
        return Ok(());
    }
    let tenants: Vec<uuid::Uuid> = customers.iter().map(|(t, _)| t.as_uuid()).collect();
    let ids: Vec<uuid::Uuid> = customers.iter().map(|(_, c)| c.as_uuid()).collect();
    let stmt = tx
        .prepare_cached(
            "WITH gone AS (SELECT * FROM UNNEST($1::uuid[], $2::uuid[]) AS g (tenant_id, customer_id)),
                  h AS (DELETE FROM customer_history x USING gone
                        WHERE x.tenant_id = gone.tenant_id AND x.customer_id = gone.customer_id)
             DELETE FROM customers x USING gone
             WHERE x.tenant_id = gone.tenant_id AND x.customer_id = gone.customer_id",
        )
        .await?;
    tx.execute(&stmt, &[&tenants, &ids]).await?;
    Ok(())
}

pub async fn save_history(tx: &Transaction<'_>, rows: &[HistoryRow]) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    macro_rules! col {
        ($f:ident) => {
            rows.iter().map(|r| &r.$f).collect::<Vec<_>>()
        };
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO customer_history (tenant_id, customer_id, stream_version, seq, event_type, occurred_at,
                                           actor_account_id, actor_role, changes, reason)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[], $5::text[],
                                  $6::timestamptz[], $7::uuid[], $8::text[], $9::jsonb[], $10::text[])",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &col!(tenant_id),
            &col!(customer_id),
            &col!(stream_version),
            &col!(seq),
            &col!(event_type),
            &col!(occurred_at),
            &col!(actor_account_id),
            &col!(actor_role),
            &col!(changes),
            &col!(reason),
        ],
    )
    .await?;
    Ok(())
}
