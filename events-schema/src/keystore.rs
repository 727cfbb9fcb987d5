//! The key store (feature `pg`): wrapped data keys in PostgreSQL, schema `keys`, kept
//! apart from the events (its own database in production; DESIGN §6).
//!
//! Guarantees:
//! - Only wrapped keys reach the database; the [`Kek`] lives in process memory, taken
//!   from configuration. A key wrapped by a KEK this process does not hold is reported
//!   ([`KeyStoreError::UnknownKek`]), never guessed at.
//! - A subject gets exactly one key version 1, however many callers race to create it,
//!   and an erased subject (listed in `keys.erasures`) never gets a new key, so values
//!   sealed for it stay [`Opened::Erased`] instead of failing to open.
//! - A tenant has exactly one blind-index key: concurrent first uses agree on it.
//! - Missing keys are never cached: a key created by another process is seen on the next
//!   lookup. Data keys are cached for at most [`SUBJECT_KEY_TTL`] (so an erasure done
//!   elsewhere takes effect within that time; [`KeyStore::forget_subject`] drops it
//!   at once here), in a bounded cache; cached keys are wiped when evicted.
//!
//! A new subject's key is stored either on its own ([`KeyStore::create_subject_key`],
//! idempotent) or inside the transaction that appends the subject's first events
//! ([`KeyStore::prepare_subject_key`] + [`KeyStore::insert_subject_key_tx`]), so a
//! rolled-back append leaves no key behind.
//!
//! Roles: `belle_command` may insert keys; `belle_projections` and `belle_query` only
//! read them, so they use [`KeyStore::find_index_key`] (never creates). The command
//! side must create a tenant's index key ([`KeyStore::index_key`];
//! [`KeyStore::create_subject_key`] does it too) before anything of that tenant is
//! indexed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use deadpool_postgres::{Client, GenericClient, Pool};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::ids::TenantId;
use crate::migrate::Migration;
use crate::sealing::{
    self, Dek, IndexKey, Kek, Opened, SealContext, SealError, SealedValue, SEALED_VALUE_VERSION,
};

/// The component name under which [`MIGRATIONS`] are recorded by [`crate::migrate::run`].
pub const COMPONENT: &str = "keys";

/// Migrations of the `keys` schema. They grant to the roles `belle_command`,
/// `belle_projections` and `belle_query`, which must exist beforehand.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "keys",
        sql: include_str!("keystore/0001_keys.sql"),
    },
    Migration {
        version: 2,
        name: "erasure",
        sql: include_str!("keystore/0002_erasure.sql"),
    },
];

/// The `purpose` of the blind-index key in `keys.tenant_keys`.
pub const INDEX_KEY_PURPOSE: &str = "blind-index";

/// How long a data key stays cached after it was loaded.
pub const SUBJECT_KEY_TTL: Duration = Duration::from_secs(60);
/// At most this many subjects' keys are cached; the oldest go first.
pub const SUBJECT_CACHE_CAPACITY: usize = 100_000;
/// Tenant index keys are never destroyed, so they are cached longer.
pub const INDEX_KEY_TTL: Duration = Duration::from_secs(3600);
/// At most this many tenants' index keys are cached.
pub const INDEX_CACHE_CAPACITY: usize = 10_000;

const CREATE_SUBJECT_KEY: &str = "\
INSERT INTO keys.subject_keys (tenant_id, subject_id, key_version, kek_id, wrapped)
SELECT $1::uuid, $2::uuid, 1, $3::text, $4::bytea
WHERE NOT EXISTS (SELECT 1 FROM keys.erasures WHERE tenant_id = $1 AND subject_id = $2)
  AND NOT EXISTS (SELECT 1 FROM keys.subject_keys WHERE tenant_id = $1 AND subject_id = $2)
ON CONFLICT DO NOTHING
RETURNING key_version";

const INSERT_SUBJECT_KEY: &str = "\
INSERT INTO keys.subject_keys (tenant_id, subject_id, key_version, kek_id, wrapped)
SELECT $1::uuid, $2::uuid, $3::int, $4::text, $5::bytea
WHERE NOT EXISTS (SELECT 1 FROM keys.erasures WHERE tenant_id = $1 AND subject_id = $2)
RETURNING key_version";

const SUBJECT_KEYS: &str = "\
SELECT key_version, kek_id, wrapped FROM keys.subject_keys
WHERE tenant_id = $1 AND subject_id = $2
ORDER BY key_version";

/// One index lookup per wanted subject (`OFFSET 0` keeps the planner from turning the
/// lateral into a join): a hash or merge join read every key of the table for each
/// batch of a rebuild, so its cost grew with the number of customers.
const PREFETCH_SUBJECT_KEYS: &str = "\
SELECT k.tenant_id, k.subject_id, k.key_version, k.kek_id, k.wrapped
FROM unnest($1::uuid[], $2::uuid[]) AS w (tenant_id, subject_id)
CROSS JOIN LATERAL (
    SELECT * FROM keys.subject_keys k
    WHERE k.tenant_id = w.tenant_id AND k.subject_id = w.subject_id OFFSET 0) k
ORDER BY k.tenant_id, k.subject_id, k.key_version";

const TENANT_KEY: &str = "\
SELECT kek_id, wrapped FROM keys.tenant_keys WHERE tenant_id = $1 AND purpose = $2";

const CREATE_TENANT_KEY: &str = "\
INSERT INTO keys.tenant_keys (tenant_id, purpose, kek_id, wrapped)
VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING";

impl KeyStoreError {
    /// Whether the key store's database was unreachable (→ 503, retry later).
    pub fn is_unavailable(&self) -> bool {
        match self {
            KeyStoreError::Pool(_) => true,
            KeyStoreError::Db(e) => e.is_closed() || e.as_db_error().is_none(),
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("key store database error: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("key store connection pool error: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The stored key was wrapped by a key-encryption key this process was not given.
    #[error("key wrapped by key-encryption key {kek_id:?}, which is not configured")]
    UnknownKek { kek_id: String },
    /// The subject's keys were destroyed; it cannot get a new one.
    #[error("the subject was erased and cannot get a new data key")]
    SubjectErased,
    /// [`KeyStore::insert_subject_key_tx`] found a key of that version already stored.
    #[error("the subject already has a data key of that version")]
    SubjectKeyExists,
    /// The tenant has no blind-index key yet (read-only lookup).
    #[error("the tenant has no blind-index key")]
    NoIndexKey,
}

/// Wrapped data keys and tenant index keys, with a short-lived in-memory cache.
/// Cheap to clone (shares pool, KEK and cache).
#[derive(Clone)]
pub struct KeyStore {
    pool: Pool,
    /// Wraps new keys and unwraps keys it wrapped.
    kek: Arc<Kek>,
    /// During a KEK rotation: the previous KEK, which still unwraps the keys not yet
    /// re-wrapped (see [`rotate_kek`]).
    previous: Option<Arc<Kek>>,
    cache: Arc<Caches>,
}

/// A fresh data key for a new subject, wrapped and ready to be stored in the same
/// transaction as the subject's first events ([`KeyStore::insert_subject_key_tx`]).
/// `Debug` shows no key bytes, wrapped or not.
pub struct NewSubjectKey {
    pub tenant: TenantId,
    pub subject: Uuid,
    pub version: u32,
    pub dek: Dek,
    kek_id: String,
    wrapped: Vec<u8>,
}

impl NewSubjectKey {
    /// Which key-encryption key wrapped it.
    pub fn kek_id(&self) -> &str {
        &self.kek_id
    }

    /// The wrapped key, as stored in `keys.subject_keys.wrapped`.
    pub fn wrapped(&self) -> &[u8] {
        &self.wrapped
    }
}

impl fmt::Debug for NewSubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSubjectKey")
            .field("tenant", &self.tenant)
            .field("subject", &self.subject)
            .field("version", &self.version)
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

/// A subject's key versions, ascending.
type SubjectKeys = Arc<[(u32, Dek)]>;

struct Caches {
    subjects: Mutex<TtlCache<(TenantId, Uuid), SubjectKeys>>,
    index: Mutex<TtlCache<TenantId, IndexKey>>,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("kek", &self.kek)
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Also unwraps keys still wrapped by `previous` (during a KEK rotation).
    pub fn with_previous(mut self, previous: Option<Kek>) -> KeyStore {
        self.previous = previous.map(Arc::new);
        self
    }

    /// Closes the store's pool: idle connections end now, busy ones when returned.
    /// For an orderly shutdown before the database goes away.
    pub fn close(&self) {
        self.pool.close();
    }

    pub fn new(pool: Pool, kek: Kek) -> KeyStore {
        KeyStore {
            pool,
            kek: Arc::new(kek),
            previous: None,
            cache: Arc::new(Caches {
                subjects: Mutex::new(TtlCache::new(SUBJECT_KEY_TTL, SUBJECT_CACHE_CAPACITY)),
                index: Mutex::new(TtlCache::new(INDEX_KEY_TTL, INDEX_CACHE_CAPACITY)),
            }),
        }
    }

    /// Creates key version 1 for a new subject and returns it (the caller seals with it).
    /// Idempotent: if the subject already has a key, returns its latest one. Also makes
    /// sure the tenant's blind-index key exists. Fails with
    /// [`KeyStoreError::SubjectErased`] for an erased subject.
    pub async fn create_subject_key(
        &self,
        tenant: TenantId,
        subject: Uuid,
    ) -> Result<(u32, Dek), KeyStoreError> {
        let client = self.pool.get().await?;
        if self.cached_index_key(tenant).is_none() {
            self.get_or_create_index_key(&client, tenant).await?;
        }
        let dek = Dek::generate();
        let wrapped = sealing::wrap_dek(&self.kek, tenant, subject, 1, &dek);
        let stmt = client.prepare_cached(CREATE_SUBJECT_KEY).await?;
        let inserted = client
            .query_opt(
                &stmt,
                &[&tenant.as_uuid(), &subject, &self.kek.id(), &wrapped],
            )
            .await?;
        if inserted.is_some() {
            let keys: SubjectKeys = Arc::from(vec![(1, dek.clone())]);
            self.subjects_cache()
                .insert((tenant, subject), keys, Instant::now());
            return Ok((1, dek));
        }
        // Someone else created it (we waited for their commit) — or the subject is erased.
        let keys = self.load_subject(&client, tenant, subject).await?;
        keys.last()
            .map(|(version, dek)| (*version, dek.clone()))
            .ok_or(KeyStoreError::SubjectErased)
    }

    /// A fresh key version 1 for a subject that does not exist yet, wrapped but not
    /// stored: seal the subject's first events with `dek`, then store it with
    /// [`KeyStore::insert_subject_key_tx`] in the transaction that appends them, so the
    /// key and the events commit (or roll back) together. Unlike
    /// [`KeyStore::create_subject_key`] this does not create the tenant's index key.
    pub fn prepare_subject_key(&self, tenant: TenantId, subject: Uuid) -> NewSubjectKey {
        let dek = Dek::generate();
        let wrapped = sealing::wrap_dek(&self.kek, tenant, subject, 1, &dek);
        NewSubjectKey {
            tenant,
            subject,
            version: 1,
            dek,
            kek_id: self.kek.id().to_owned(),
            wrapped,
        }
    }

    /// Stores a prepared key inside the caller's transaction (the key tables must live
    /// in the same database as that transaction). Never replaces a stored key: fails
    /// with [`KeyStoreError::SubjectKeyExists`] (the transaction is then aborted) or
    /// [`KeyStoreError::SubjectErased`]. The key is cached only when first read after
    /// commit.
    pub async fn insert_subject_key_tx(
        &self,
        tx: &impl GenericClient,
        key: &NewSubjectKey,
    ) -> Result<(), KeyStoreError> {
        let version = i32::try_from(key.version).map_err(|_| SealError::Malformed)?;
        let stmt = tx.prepare_cached(INSERT_SUBJECT_KEY).await?;
        let inserted = tx
            .query_opt(
                &stmt,
                &[
                    &key.tenant.as_uuid(),
                    &key.subject,
                    &version,
                    &key.kek_id,
                    &key.wrapped,
                ],
            )
            .await
            .map_err(|e| match e.code() {
                Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
                    KeyStoreError::SubjectKeyExists
                }
                _ => KeyStoreError::Db(e),
            })?;
        inserted.map(|_| ()).ok_or(KeyStoreError::SubjectErased)
    }

    /// The subject's key of that version, or `None` if it was destroyed (erasure) or never
    /// existed.
    pub async fn subject_key(
        &self,
        tenant: TenantId,
        subject: Uuid,
        key_version: u32,
    ) -> Result<Option<Dek>, KeyStoreError> {
        let cached = self
            .subjects_cache()
            .get(&(tenant, subject), Instant::now());
        if let Some(dek) = cached
            .as_deref()
            .and_then(|keys| find_version(keys, key_version))
        {
            return Ok(Some(dek));
        }
        let client = self.pool.get().await?;
        let keys = self.load_subject(&client, tenant, subject).await?;
        Ok(find_version(&keys, key_version))
    }

    /// Opens a sealed value of a subject with the key version it names;
    /// `Ok(Opened::Erased)` when that key is gone.
    pub async fn open(
        &self,
        ctx: &SealContext<'_>,
        sealed: &SealedValue,
    ) -> Result<Opened, KeyStoreError> {
        if sealed.v != SEALED_VALUE_VERSION {
            return Err(SealError::Version(sealed.v).into());
        }
        match self.subject_key(ctx.tenant, ctx.subject, sealed.kv).await? {
            Some(dek) => Ok(Opened::Plain(sealing::open(&dek, ctx, sealed)?)),
            None => Ok(Opened::Erased),
        }
    }

    /// The tenant's blind-index key, created on first use (`INSERT … ON CONFLICT DO
    /// NOTHING` then `SELECT`, so concurrent first uses agree). Creating needs the
    /// `belle_command` role; read-only roles use [`KeyStore::find_index_key`].
    pub async fn index_key(&self, tenant: TenantId) -> Result<IndexKey, KeyStoreError> {
        if let Some(key) = self.cached_index_key(tenant) {
            return Ok(key);
        }
        let client = self.pool.get().await?;
        self.get_or_create_index_key(&client, tenant).await
    }

    /// The tenant's blind-index key if it exists, never creating it (for read-only roles:
    /// `None` means no value of that tenant was ever indexed).
    pub async fn find_index_key(
        &self,
        tenant: TenantId,
    ) -> Result<Option<IndexKey>, KeyStoreError> {
        if let Some(key) = self.cached_index_key(tenant) {
            return Ok(Some(key));
        }
        let client = self.pool.get().await?;
        self.load_index_key(&client, tenant).await
    }

    /// Batch prefetch for projections: loads every key version of the given subjects
    /// (those not freshly cached) in one query into the cache. Subjects without keys are
    /// skipped; later lookups ask the database again.
    pub async fn prefetch(
        &self,
        tenant_subjects: &[(TenantId, Uuid)],
    ) -> Result<(), KeyStoreError> {
        let missing: Vec<(TenantId, Uuid)> = {
            let now = Instant::now();
            let cache = self.subjects_cache();
            let mut seen = HashSet::with_capacity(tenant_subjects.len());
            tenant_subjects
                .iter()
                .copied()
                .filter(|k| seen.insert(*k) && !cache.contains_fresh(k, now))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let (tenants, subjects): (Vec<Uuid>, Vec<Uuid>) =
            missing.iter().map(|(t, s)| (t.as_uuid(), *s)).unzip();
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(PREFETCH_SUBJECT_KEYS).await?;
        let rows = client.query(&stmt, &[&tenants, &subjects]).await?;
        drop(client);

        let mut loaded: HashMap<(TenantId, Uuid), Vec<(u32, Dek)>> = HashMap::new();
        for row in &rows {
            let tenant = TenantId::from_uuid(row.try_get(0)?);
            let subject: Uuid = row.try_get(1)?;
            let key = self.unwrap_subject_row(row, 2, tenant, subject)?;
            loaded.entry((tenant, subject)).or_default().push(key);
        }
        let now = Instant::now();
        let mut cache = self.subjects_cache();
        for (subject, keys) in loaded {
            cache.insert(subject, Arc::from(keys), now);
        }
        Ok(())
    }

    /// Drops a subject's keys from this process's cache, e.g. right after erasing it.
    pub fn forget_subject(&self, tenant: TenantId, subject: Uuid) {
        self.subjects_cache().remove(&(tenant, subject));
    }

    async fn load_subject(
        &self,
        client: &Client,
        tenant: TenantId,
        subject: Uuid,
    ) -> Result<SubjectKeys, KeyStoreError> {
        let stmt = client.prepare_cached(SUBJECT_KEYS).await?;
        let rows = client.query(&stmt, &[&tenant.as_uuid(), &subject]).await?;
        let keys = rows
            .iter()
            .map(|row| self.unwrap_subject_row(row, 0, tenant, subject))
            .collect::<Result<Vec<_>, _>>()?;
        let keys: SubjectKeys = Arc::from(keys);
        if !keys.is_empty() {
            self.subjects_cache()
                .insert((tenant, subject), keys.clone(), Instant::now());
        }
        Ok(keys)
    }

    /// Reads `key_version, kek_id, wrapped` starting at column `first` and unwraps.
    fn unwrap_subject_row(
        &self,
        row: &Row,
        first: usize,
        tenant: TenantId,
        subject: Uuid,
    ) -> Result<(u32, Dek), KeyStoreError> {
        let version: i32 = row.try_get(first)?;
        let version = u32::try_from(version).map_err(|_| SealError::Malformed)?;
        let (kek, wrapped) = self.wrapped_for_our_kek(row, first + 1)?;
        let dek = sealing::unwrap_dek(kek, tenant, subject, version, wrapped)?;
        Ok((version, dek))
    }

    /// Reads `kek_id, wrapped` starting at column `first`: the KEK that wrapped them
    /// (ours or, during a rotation, the previous one) and the wrapped bytes.
    fn wrapped_for_our_kek<'s, 'r>(
        &'s self,
        row: &'r Row,
        first: usize,
    ) -> Result<(&'s Kek, &'r [u8]), KeyStoreError> {
        let kek_id: &str = row.try_get(first)?;
        let kek = std::iter::once(&self.kek)
            .chain(self.previous.as_ref())
            .find(|k| k.id() == kek_id)
            .ok_or_else(|| KeyStoreError::UnknownKek {
                kek_id: kek_id.to_owned(),
            })?;
        Ok((kek, row.try_get(first + 1)?))
    }

    async fn get_or_create_index_key(
        &self,
        client: &Client,
        tenant: TenantId,
    ) -> Result<IndexKey, KeyStoreError> {
        if let Some(key) = self.load_index_key(client, tenant).await? {
            return Ok(key);
        }
        let wrapped = sealing::wrap_index_key(&self.kek, tenant, &IndexKey::generate());
        let stmt = client.prepare_cached(CREATE_TENANT_KEY).await?;
        client
            .execute(
                &stmt,
                &[
                    &tenant.as_uuid(),
                    &INDEX_KEY_PURPOSE,
                    &self.kek.id(),
                    &wrapped,
                ],
            )
            .await?;
        // Whether our row or a concurrent winner's: everyone uses the stored one.
        self.load_index_key(client, tenant)
            .await?
            .ok_or(KeyStoreError::NoIndexKey)
    }

    async fn load_index_key(
        &self,
        client: &Client,
        tenant: TenantId,
    ) -> Result<Option<IndexKey>, KeyStoreError> {
        let stmt = client.prepare_cached(TENANT_KEY).await?;
        let Some(row) = client
            .query_opt(&stmt, &[&tenant.as_uuid(), &INDEX_KEY_PURPOSE])
            .await?
        else {
            return Ok(None);
        };
        let (kek, wrapped) = self.wrapped_for_our_kek(&row, 0)?;
        let key = sealing::unwrap_index_key(kek, tenant, wrapped)?;
        self.index_cache()
            .insert(tenant, key.clone(), Instant::now());
        Ok(Some(key))
    }

    fn cached_index_key(&self, tenant: TenantId) -> Option<IndexKey> {
        self.index_cache().get(&tenant, Instant::now())
    }

    fn subjects_cache(&self) -> std::sync::MutexGuard<'_, TtlCache<(TenantId, Uuid), SubjectKeys>> {
        // The cache holds no invariant a panic could break half-way; keep using it.
        self.cache
            .subjects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn index_cache(&self) -> std::sync::MutexGuard<'_, TtlCache<TenantId, IndexKey>> {
        self.cache
            .index
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn find_version(keys: &[(u32, Dek)], key_version: u32) -> Option<Dek> {
    keys.iter()
        .find(|(version, _)| *version == key_version)
        .map(|(_, dek)| dek.clone())
}

/// What a KEK rotation re-wrapped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rotation {
    pub subject_keys: u64,
    pub tenant_keys: u64,
    /// Keys wrapped by neither KEK (left alone; they need the KEK that wrapped them).
    pub foreign: u64,
}

/// Re-wraps every data key and tenant key wrapped by `from` with `to`, in batches of
/// one transaction each (rows locked, so keys created meanwhile by services already
/// running with `to` are untouched, and a crash midway resumes where it stopped). No
/// event is rewritten: the data keys themselves do not change. Afterwards `from` is no
/// longer needed. Runs as the administrator (the services may not update key rows).
pub async fn rotate_kek(
    admin: &mut Client,
    from: &Kek,
    to: &Kek,
) -> Result<Rotation, KeyStoreError> {
    const BATCH: i64 = 1000;
    let mut done = Rotation::default();
    loop {
        let tx = admin.transaction().await?;
        let rows = tx
            .query(
                "SELECT tenant_id, subject_id, key_version, wrapped FROM keys.subject_keys
                 WHERE kek_id = $1 LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&from.id(), &BATCH],
            )
            .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let tenant = TenantId::from_uuid(row.try_get(0)?);
            let subject: Uuid = row.try_get(1)?;
            let version: i32 = row.try_get(2)?;
            let v = u32::try_from(version).map_err(|_| SealError::Malformed)?;
            let dek = sealing::unwrap_dek(from, tenant, subject, v, row.try_get(3)?)?;
            let wrapped = sealing::wrap_dek(to, tenant, subject, v, &dek);
            tx.execute(
                "UPDATE keys.subject_keys SET kek_id = $4, wrapped = $5
                 WHERE tenant_id = $1 AND subject_id = $2 AND key_version = $3",
                &[&tenant.as_uuid(), &subject, &version, &to.id(), &wrapped],
            )
            .await?;
            done.subject_keys += 1;
        }
        tx.commit().await?;
    }
    let tx = admin.transaction().await?;
    let rows = tx
        .query(
            "SELECT tenant_id, purpose, wrapped FROM keys.tenant_keys WHERE kek_id = $1 FOR UPDATE",
            &[&from.id()],
        )
        .await?;
    for row in &rows {
        let tenant = TenantId::from_uuid(row.try_get(0)?);
        let purpose: String = row.try_get(1)?;
        let key = sealing::unwrap_index_key(from, tenant, row.try_get(2)?)?;
        let wrapped = sealing::wrap_index_key(to, tenant, &key);
        tx.execute(
            "UPDATE keys.tenant_keys SET kek_id = $3, wrapped = $4 WHERE tenant_id = $1 AND purpose = $2",
            &[&tenant.as_uuid(), &purpose, &to.id(), &wrapped],
        )
        .await?;
        done.tenant_keys += 1;
    }
    tx.commit().await?;
    let foreign: i64 = admin
        .query_one(
            "SELECT (SELECT count(*) FROM keys.subject_keys WHERE kek_id <> $1)
                  + (SELECT count(*) FROM keys.tenant_keys WHERE kek_id <> $1)",
            &[&to.id()],
        )
        .await?
        .try_get(0)?;
    done.foreign = u64::try_from(foreign).unwrap_or(0);
    Ok(done)
}

/// A small time-bounded, size-bounded cache. Entries expire `ttl` after insertion; when
/// full, the oldest insertions go first. `order` lists insertions oldest first and may
/// hold stale entries for keys re-inserted since; those are skipped.
struct TtlCache<K, V> {
    map: HashMap<K, (V, Instant)>,
    order: VecDeque<(K, Instant)>,
    ttl: Duration,
    capacity: usize,
}

impl<K: Copy + Eq + Hash, V: Clone> TtlCache<K, V> {
    fn new(ttl: Duration, capacity: usize) -> Self {
        TtlCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            ttl,
            capacity: capacity.max(1),
        }
    }

    fn get(&mut self, key: &K, now: Instant) -> Option<V> {
        let (value, at) = self.map.get(key)?;
        if now.saturating_duration_since(*at) < self.ttl {
            return Some(value.clone());
        }
        self.map.remove(key);
        None
    }

    fn contains_fresh(&self, key: &K, now: Instant) -> bool {
        self.map
            .get(key)
            .is_some_and(|(_, at)| now.saturating_duration_since(*at) < self.ttl)
    }

    fn insert(&mut self, key: K, value: V, now: Instant) {
        self.map.insert(key, (value, now));
        self.order.push_back((key, now));
        self.evict(now);
        if self.order.len() > 2 * self.capacity {
            self.compact();
        }
    }

    fn remove(&mut self, key: &K) {
        self.map.remove(key);
    }

    fn evict(&mut self, now: Instant) {
        while let Some((key, at)) = self.order.front() {
            let live = self.map.get(key).is_some_and(|(_, t)| t == at);
            let expired = now.saturating_duration_since(*at) >= self.ttl;
            if live && !expired && self.map.len() <= self.capacity {
                break;
            }
            if live {
                self.map.remove(key);
            }
            self.order.pop_front();
        }
    }

    /// Rebuilds `order` from the live entries when stale ones pile up.
    fn compact(&mut self) {
        let mut live: Vec<(K, Instant)> = self.map.iter().map(|(k, (_, at))| (*k, *at)).collect();
        live.sort_by_key(|(_, at)| *at);
        self.order = live.into();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_expires_entries_after_the_ttl() {
        let start = Instant::now();
        let mut cache = TtlCache::new(Duration::from_secs(60), 10);
        cache.insert(1, "a", start);
        assert_eq!(cache.get(&1, start + Duration::from_secs(59)), Some("a"));
        assert!(cache.contains_fresh(&1, start + Duration::from_secs(59)));
        assert_eq!(cache.get(&1, start + Duration::from_secs(60)), None);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_cache_evicts_the_oldest_when_full_and_expired_ones_on_insert() {
        let start = Instant::now();
        let mut cache = TtlCache::new(Duration::from_secs(60), 3);
        for i in 0..5u64 {
            cache.insert(i, i, start + Duration::from_millis(i));
        }
        assert_eq!(cache.len(), 3);
        let later = start + Duration::from_millis(10);
        assert_eq!(cache.get(&0, later), None);
        assert_eq!(cache.get(&1, later), None);
        assert_eq!(cache.get(&4, later), Some(4));
        cache.insert(9, 9, start + Duration::from_secs(120));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn reinserting_refreshes_an_entry_and_stale_order_entries_stay_bounded() {
        let start = Instant::now();
        let mut cache = TtlCache::new(Duration::from_secs(60), 2);
        cache.insert(1, 1, start);
        cache.insert(2, 2, start + Duration::from_millis(1));
        for i in 2..1000u64 {
            cache.insert(1, 1, start + Duration::from_millis(i));
        }
        assert!(cache.order.len() <= 4);
        // Key 2 is now the oldest and goes first.
        cache.insert(3, 3, start + Duration::from_millis(2000));
        let later = start + Duration::from_millis(2001);
        assert_eq!(cache.get(&2, later), None);
        assert_eq!(cache.get(&1, later), Some(1));
        assert_eq!(cache.get(&3, later), Some(3));
        cache.remove(&1);
        assert_eq!(cache.get(&1, later), None);
    }
}
