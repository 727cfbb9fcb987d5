//! Customer search, detail and history (CUS-5, CUS-6, CUS-7).

use deadpool_postgres::GenericClient;
use events_schema::ids::{CustomerId, TenantId};
use serde::Serialize;
use tokio_postgres::types::ToSql;

/// How results are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    CreatedAsc,
    CreatedDesc,
    NameAsc,
    NameDesc,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "created_at" => Sort::CreatedAsc,
            "-created_at" => Sort::CreatedDesc,
            "name" => Sort::NameAsc,
            "-name" => Sort::NameDesc,
            _ => return None,
        })
    }

    fn sql(self) -> &'static str {
        match self {
            Sort::CreatedAsc => "created_at ASC, customer_id ASC",
            Sort::CreatedDesc => "created_at DESC, customer_id DESC",
            Sort::NameAsc => "name_pinyin ASC, name ASC, customer_id ASC",
            Sort::NameDesc => "name_pinyin DESC, name DESC, customer_id DESC",
        }
    }
}

/// A validated search. Hashes are computed by the caller with the tenant's index key.
#[derive(Debug, Default)]
pub struct Search {
    pub phone_hash: Option<String>,
    pub phone_tail_hash: Option<String>,
    pub id_number_hash: Option<String>,
    /// Substring of the name (any script).
    pub name: Option<String>,
    /// Lower-case latin letters: pinyin substring or initials prefix.
    pub pinyin: Option<String>,
    pub tags: Vec<String>,
    pub created_from: Option<chrono::DateTime<chrono::Utc>>,
    pub created_to: Option<chrono::DateTime<chrono::Utc>>,
    pub sort: Option<Sort>,
    pub page: i64,
    pub per_page: i64,
}

#[derive(Debug, Serialize)]
pub struct CustomerSummary {
    pub customer_id: CustomerId,
    pub name: String,
    pub phone: String,
    pub gender: Option<String>,
    pub tags: Vec<String>,
    pub source_channel: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub version: i64,
}

#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

/// Escapes `%`, `_` and `\` for LIKE.
fn like_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

pub async fn search(
    client: &impl GenericClient,
    tenant: TenantId,
    s: &Search,
) -> Result<Page<CustomerSummary>, tokio_postgres::Error> {
    let tenant_uuid = tenant.as_uuid();
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(tenant_uuid)];
    let mut wheres = vec!["tenant_id = $1".to_owned()];
    let mut add = |cond: &str, p: Box<dyn ToSql + Sync + Send>| {
        params.push(p);
        wheres.push(cond.replace('?', &format!("${}", params.len())));
    };
    if let Some(h) = &s.phone_hash {
        add("phone_hash = ?", Box::new(h.clone()));
    }
    if let Some(h) = &s.phone_tail_hash {
        add("phone_tail_hash = ?", Box::new(h.clone()));
    }
    if let Some(h) = &s.id_number_hash {
        add("id_number_hash = ?", Box::new(h.clone()));
    }
    if let Some(n) = &s.name {
        add("name ILIKE ?", Box::new(format!("%{}%", like_escape(n))));
    }
    if let Some(p) = &s.pinyin {
        let e = like_escape(p);
        params.push(Box::new(format!("%{e}%")));
        let n = params.len();
        params.push(Box::new(format!("{e}%")));
        wheres.push(format!(
            "(name_pinyin LIKE ${n} OR name_initials LIKE ${})",
            n + 1
        ));
    }
    if !s.tags.is_empty() {
        params.push(Box::new(s.tags.clone()));
        wheres.push(format!("tags @> ${}::text[]", params.len()));
    }
    if let Some(t) = s.created_from {
        params.push(Box::new(t));
        wheres.push(format!("created_at >= ${}", params.len()));
    }
    if let Some(t) = s.created_to {
        params.push(Box::new(t));
        wheres.push(format!("created_at < ${}", params.len()));
    }
    let where_sql = wheres.join(" AND ");
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let order = s.sort.unwrap_or(Sort::CreatedDesc).sql();
    let offset = (s.page - 1) * s.per_page;
    if s.phone_hash.is_some() {
        // By exact phone: one customer per phone and tenant (the command side's phone
        // guard), so the page is cut here rather than by a window count, LIMIT and
        // OFFSET the planner would have to plan on every lookup — the front desk's
        // most frequent search, and planning was most of its database time.
        let sql = format!(
            "SELECT customer_id, name, phone_masked, gender, tags, source_channel, created_at, version
             FROM rm.customers WHERE {where_sql} ORDER BY {order}"
        );
        let rows = client
            .query(&client.prepare_cached(&sql).await?, &refs)
            .await?;
        let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let items = rows
            .iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(s.per_page).unwrap_or(0))
            .map(summary)
            .collect();
        return Ok(Page {
            items,
            page: s.page,
            per_page: s.per_page,
            total,
        });
    }
    // One round trip in the common case: the total rides along as a window count.
    let list_sql = format!(
        "SELECT customer_id, name, phone_masked, gender, tags, source_channel, created_at, version,
                count(*) OVER () AS total
         FROM rm.customers WHERE {where_sql} ORDER BY {order} LIMIT {} OFFSET {offset}",
        s.per_page
    );
    let rows = client
        .query(&client.prepare_cached(&list_sql).await?, &refs)
        .await?;
    let total: i64 = match rows.first() {
        Some(r) => r.get(8),
        None if offset == 0 => 0,
        None => {
            // Past the last page: count separately so the client still learns the total.
            let count_sql = format!("SELECT count(*) FROM rm.customers WHERE {where_sql}");
            client
                .query_one(&client.prepare_cached(&count_sql).await?, &refs)
                .await?
                .get(0)
        }
    };
    let items = rows.iter().map(summary).collect();
    Ok(Page {
        items,
        page: s.page,
        per_page: s.per_page,
        total,
    })
}

/// A search result row (the columns the searches select, in order).
fn summary(r: &tokio_postgres::Row) -> CustomerSummary {
    CustomerSummary {
        customer_id: CustomerId::from_uuid(r.get(0)),
        name: r.get(1),
        phone: r.get(2),
        gender: r.get(3),
        tags: r.get(4),
        source_channel: r.get(5),
        created_at: r.get(6),
        version: r.get(7),
    }
}

#[derive(Debug, Serialize)]
pub struct ConsentView {
    /// The privacy policy she accepted at registration.
    pub privacy_policy_version: String,
    /// The purpose she accepted it for (absent on registrations recorded before
    /// purposes were asked).
    pub purpose: Option<String>,
    /// When she accepted it (her registration).
    pub privacy_policy_accepted_at: chrono::DateTime<chrono::Utc>,
    /// Consent to marketing messages: separate, and withdrawable at any time.
    pub marketing: bool,
}

/// A customer's record with sensitive fields masked.
#[derive(Debug, Serialize)]
pub struct CustomerDetail {
    pub customer_id: CustomerId,
    pub version: i64,
    pub name: String,
    pub phone: String,
    pub gender: Option<String>,
    pub birthday: Option<String>,
    pub email: Option<String>,
    pub id_number: Option<String>,
    pub address: Option<String>,
    pub source_channel: String,
    pub tags: Vec<String>,
    /// Health and care notes are sealed; only whether they are recorded is shown.
    pub notes_recorded: bool,
    pub allergies_recorded: bool,
    pub conditions_recorded: bool,
    pub consent: ConsentView,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

pub async fn detail(
    client: &impl GenericClient,
    tenant: TenantId,
    id: CustomerId,
) -> Result<Option<CustomerDetail>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT customer_id, version, name, phone_masked, gender, birthday_masked, email_masked,
                    id_number_masked, address_masked, source_channel, tags, has_notes, has_allergies,
                    has_conditions, privacy_policy_version, marketing_consent, created_at, updated_at,
                    privacy_policy_purpose
             FROM rm.customers WHERE tenant_id = $1 AND customer_id = $2",
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&tenant.as_uuid(), &id.as_uuid()])
        .await?;
    Ok(row.map(|r| CustomerDetail {
        customer_id: CustomerId::from_uuid(r.get(0)),
        version: r.get(1),
        name: r.get(2),
        phone: r.get(3),
        gender: r.get(4),
        birthday: r.get(5),
        email: r.get(6),
        id_number: r.get(7),
        address: r.get(8),
        source_channel: r.get(9),
        tags: r.get(10),
        notes_recorded: r.get(11),
        allergies_recorded: r.get(12),
        conditions_recorded: r.get(13),
        consent: ConsentView {
            privacy_policy_version: r.get(14),
            purpose: r.get(18),
            privacy_policy_accepted_at: r.get(16),
            marketing: r.get(15),
        },
        created_at: r.get(16),
        updated_at: r.get(17),
    }))
}

#[derive(Debug, Serialize)]
pub struct ActorView {
    pub account_id: Option<uuid::Uuid>,
    pub role: String,
}

#[derive(Debug, Serialize)]
pub struct HistoryEntry {
    pub version: i64,
    pub event_type: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub actor: ActorView,
    pub changes: serde_json::Value,
    pub reason: Option<String>,
}

pub async fn history(
    client: &impl GenericClient,
    tenant: TenantId,
    id: CustomerId,
) -> Result<Vec<HistoryEntry>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT stream_version, event_type, occurred_at, actor_account_id, actor_role, changes, reason
             FROM rm.customer_history WHERE tenant_id = $1 AND customer_id = $2 ORDER BY stream_version",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&tenant.as_uuid(), &id.as_uuid()])
        .await?;
    Ok(rows
        .iter()
        .map(|r| HistoryEntry {
            version: r.get(0),
            event_type: r.get(1),
            occurred_at: r.get(2),
            actor: ActorView {
                account_id: r.get(3),
                role: r.get(4),
            },
            changes: r.get(5),
            reason: r.get(6),
        })
        .collect())
}
