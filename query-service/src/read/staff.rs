//! Staff records (STF-1), shift templates and rotas (STF-2) over the read models, and a
//! salon's settings from its settings stream.

use deadpool_postgres::GenericClient;
use events_schema::ids::{AccountId, StaffId, TenantId};
use events_schema::rota::Rota;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct StaffView {
    pub staff_id: uuid::Uuid,
    pub version: i64,
    pub name: String,
    pub gender: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub position: String,
    pub level: String,
    pub hire_date: chrono::NaiveDate,
    pub skills: Vec<uuid::Uuid>,
    pub locations: Vec<uuid::Uuid>,
    pub account_id: Option<uuid::Uuid>,
    pub active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

const COLUMNS: &str =
    "staff_id, version, name, gender, phone_masked, email_masked, position, level,
    hire_date, skills, locations, account_id, active, created_at, updated_at";

fn row(r: &tokio_postgres::Row) -> StaffView {
    StaffView {
        staff_id: r.get(0),
        version: r.get(1),
        name: r.get(2),
        gender: r.get(3),
        phone: r.get(4),
        email: r.get(5),
        position: r.get(6),
        level: r.get(7),
        hire_date: r.get(8),
        skills: r.get(9),
        locations: r.get(10),
        account_id: r.get(11),
        active: r.get(12),
        created_at: r.get(13),
        updated_at: r.get(14),
    }
}

/// Search criteria; each one given narrows the result.
#[derive(Debug, Default)]
pub struct StaffSearch {
    pub name: Option<String>,
    pub position: Option<String>,
    pub hired_from: Option<chrono::NaiveDate>,
    pub hired_to: Option<chrono::NaiveDate>,
    pub location: Option<uuid::Uuid>,
    pub include_inactive: bool,
    pub limit: i64,
    pub offset: i64,
}

/// Escapes `%`, `_` and `\` for a LIKE pattern.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub async fn search(
    client: &impl GenericClient,
    tenant: TenantId,
    q: &StaffSearch,
) -> Result<(i64, Vec<StaffView>), tokio_postgres::Error> {
    let name = q.name.as_deref().map(|n| format!("%{}%", like_escape(n)));
    let sql = format!(
        "SELECT {COLUMNS}, count(*) OVER () FROM rm.staff
         WHERE tenant_id = $1
           AND ($2::text IS NULL OR name ILIKE $2)
           AND ($3::text IS NULL OR position = $3)
           AND ($4::date IS NULL OR hire_date >= $4)
           AND ($5::date IS NULL OR hire_date <= $5)
           AND ($6::uuid IS NULL OR $6 = ANY(locations))
           AND ($7 OR active)
         ORDER BY name, staff_id LIMIT $8 OFFSET $9"
    );
    let stmt = client.prepare_cached(&sql).await?;
    let rows = client
        .query(
            &stmt,
            &[
                &tenant.as_uuid(),
                &name,
                &q.position,
                &q.hired_from,
                &q.hired_to,
                &q.location,
                &q.include_inactive,
                &q.limit,
                &q.offset,
            ],
        )
        .await?;
    let total = rows.first().map_or(0, |r| r.get(15));
    Ok((total, rows.iter().map(row).collect()))
}

pub async fn detail(
    client: &impl GenericClient,
    tenant: TenantId,
    id: StaffId,
) -> Result<Option<StaffView>, tokio_postgres::Error> {
    let sql = format!("SELECT {COLUMNS} FROM rm.staff WHERE tenant_id = $1 AND staff_id = $2");
    let stmt = client.prepare_cached(&sql).await?;
    Ok(client
        .query_opt(&stmt, &[&tenant.as_uuid(), &id.as_uuid()])
        .await?
        .as_ref()
        .map(row))
}

/// The staff member linked to a login account.
pub async fn of_account(
    client: &impl GenericClient,
    tenant: TenantId,
    account: AccountId,
) -> Result<Option<StaffId>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT staff_id FROM rm.staff WHERE tenant_id = $1 AND account_id = $2
             ORDER BY active DESC, updated_at DESC LIMIT 1",
        )
        .await?;
    Ok(client
        .query_opt(&stmt, &[&tenant.as_uuid(), &account.as_uuid()])
        .await?
        .map(|r| StaffId::from_uuid(r.get(0))))
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
    pub changed: Vec<String>,
    pub reason: Option<String>,
}

pub async fn history(
    client: &impl GenericClient,
    tenant: TenantId,
    id: StaffId,
) -> Result<Vec<HistoryEntry>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT stream_version, event_type, occurred_at, actor_account_id, actor_role, changed, reason
             FROM rm.staff_history WHERE tenant_id = $1 AND staff_id = $2 ORDER BY stream_version",
        )
        .await?;
    Ok(client
        .query(&stmt, &[&tenant.as_uuid(), &id.as_uuid()])
        .await?
        .iter()
        .map(|r| HistoryEntry {
            version: r.get(0),
            event_type: r.get(1),
            occurred_at: r.get(2),
            actor: ActorView {
                account_id: r.get(3),
                role: r.get(4),
            },
            changed: r.get(5),
            reason: r.get(6),
        })
        .collect())
}

#[derive(Debug, Serialize)]
pub struct TemplateView {
    pub template_id: uuid::Uuid,
    pub version: i64,
    pub name: String,
    pub intervals: serde_json::Value,
}

pub async fn templates(
    client: &impl GenericClient,
    tenant: TenantId,
) -> Result<Vec<TemplateView>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT template_id, version, name, intervals FROM rm.shift_templates
             WHERE tenant_id = $1 ORDER BY name, template_id LIMIT 500",
        )
        .await?;
    Ok(client
        .query(&stmt, &[&tenant.as_uuid()])
        .await?
        .iter()
        .map(|r| TemplateView {
            template_id: r.get(0),
            version: r.get(1),
            name: r.get(2),
            intervals: r.get(3),
        })
        .collect())
}

/// A person with a rota: id, name, and the rota.
pub struct PersonRota {
    pub staff_id: StaffId,
    pub name: String,
    pub rota: Rota,
}

/// The rotas of the salon's active staff (of one person when `staff` is given).
pub async fn rotas(
    client: &impl GenericClient,
    tenant: TenantId,
    staff: Option<StaffId>,
) -> Result<Vec<PersonRota>, anyhow::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT r.staff_id, s.name, r.rota FROM rm.rota r
             JOIN rm.staff s ON s.tenant_id = r.tenant_id AND s.staff_id = r.staff_id
             WHERE r.tenant_id = $1 AND s.active AND ($2::uuid IS NULL OR r.staff_id = $2)
             ORDER BY s.name, r.staff_id",
        )
        .await?;
    let mut out = Vec::new();
    for r in client
        .query(&stmt, &[&tenant.as_uuid(), &staff.map(|s| s.as_uuid())])
        .await?
    {
        out.push(PersonRota {
            staff_id: StaffId::from_uuid(r.get(0)),
            name: r.get(1),
            rota: serde_json::from_value(r.get(2))?,
        });
    }
    Ok(out)
}
