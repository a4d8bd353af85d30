//! Versioned CQL migrations: `migrations/NNNN_name.cql`, compiled in, applied in order and
//! recorded in `schema_migrations` (version, name, checksum, applied_at). Every statement is
//! idempotent (`IF NOT EXISTS`), so a migration interrupted half-way is simply run again;
//! an applied migration whose file changed afterwards is refused.

use scylla::client::session::Session;
use scylla::value::CqlTimestamp;
use sha2::{Digest, Sha256};

use crate::config::ScyllaConfig;
use crate::store::StoreError;

pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub cql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_init",
        cql: include_str!("migrations/0001_init.cql"),
    },
    Migration {
        version: 2,
        name: "0002_recordings_webhooks",
        cql: include_str!("migrations/0002_recordings_webhooks.cql"),
    },
    Migration {
        version: 3,
        name: "0003_users",
        cql: include_str!("migrations/0003_users.cql"),
    },
    Migration {
        version: 4,
        name: "0004_question_banks",
        cql: include_str!("migrations/0004_question_banks.cql"),
    },
    Migration {
        version: 5,
        name: "0005_activity",
        cql: include_str!("migrations/0005_activity.cql"),
    },
];

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The statements of a migration file: `--` comments dropped, split on `;`.
pub fn statements(cql: &str) -> Vec<String> {
    let text: String = cql
        .lines()
        .map(|l| match l.find("--") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

pub fn checksum(cql: &str) -> String {
    let digest = Sha256::digest(cql.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The keyspace (NetworkTopologyStrategy, `replication_factor` in `datacenter`), if missing.
pub fn create_keyspace(cfg: &ScyllaConfig) -> String {
    format!(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {{'class': 'NetworkTopologyStrategy', '{}': {}}}",
        cfg.keyspace, cfg.datacenter, cfg.replication_factor
    )
}

/// Creates the keyspace if needed, makes it the session's, and applies the migrations not yet
/// recorded. Returns the versions applied now (empty: the schema was up to date).
pub async fn migrate(session: &Session, cfg: &ScyllaConfig) -> Result<Vec<i32>, StoreError> {
    session
        .query_unpaged(create_keyspace(cfg), ())
        .await
        .map_err(|e| backend(format!("create keyspace {}: {e}", cfg.keyspace)))?;
    await_agreement(session).await;
    session
        .use_keyspace(&cfg.keyspace, false)
        .await
        .map_err(|e| backend(format!("use keyspace {}: {e}", cfg.keyspace)))?;
    session
        .query_unpaged(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version int, name text, checksum text, applied_at timestamp, PRIMARY KEY (version))",
            (),
        )
        .await
        .map_err(|e| backend(format!("create schema_migrations: {e}")))?;
    await_agreement(session).await;
    let applied = applied(session).await?;
    let mut now_applied = Vec::new();
    for m in MIGRATIONS {
        let sum = checksum(m.cql);
        if let Some((_, name, old)) = applied.iter().find(|(v, _, _)| *v == m.version) {
            if *old != sum {
                return Err(backend(format!("migration {} ({name}) was applied with another checksum: never edit an applied migration, add a new one", m.version)));
            }
            continue;
        }
        for stmt in statements(m.cql) {
            session
                .query_unpaged(stmt.as_str(), ())
                .await
                .map_err(|e| backend(format!("migration {}: {e}\n  in: {stmt}", m.name)))?;
        }
        await_agreement(session).await;
        let insert = session
            .prepare("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)")
            .await
            .map_err(backend)?;
        session
            .execute_unpaged(
                &insert,
                (
                    m.version,
                    m.name,
                    sum.as_str(),
                    CqlTimestamp(chrono::Utc::now().timestamp_millis()),
                ),
            )
            .await
            .map_err(backend)?;
        tracing::info!(version = m.version, name = m.name, "migration applied");
        now_applied.push(m.version);
    }
    Ok(now_applied)
}

/// The recorded migrations: (version, name, checksum), by version.
pub async fn applied(session: &Session) -> Result<Vec<(i32, String, String)>, StoreError> {
    let rows = session
        .query_unpaged("SELECT version, name, checksum FROM schema_migrations", ())
        .await
        .map_err(backend)?;
    let rows = rows.into_rows_result().map_err(backend)?;
    let mut out: Vec<(i32, String, String)> = rows
        .rows::<(i32, String, String)>()
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    out.sort();
    Ok(out)
}

/// After DDL, wait until every node has the new schema (real clusters). A test server that
/// cannot answer the check (no schema versions in its system tables) is not waited for.
async fn await_agreement(session: &Session) {
    match session.check_schema_agreement().await {
        Ok(Some(_)) => {}
        Ok(None) => {
            if tokio::time::timeout(
                std::time::Duration::from_secs(60),
                session.await_schema_agreement(),
            )
            .await
            .is_err()
            {
                tracing::warn!("schema agreement not reached within 60 s");
            }
        }
        Err(e) => tracing::debug!(error = %e, "schema agreement cannot be checked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_files_split_into_statements() {
        let all = statements(MIGRATIONS[0].cql);
        assert!(
            all.iter()
                .all(|s| s.starts_with("CREATE TABLE IF NOT EXISTS")),
            "{all:?}"
        );
        assert!(all.iter().any(|s| s.contains("events_by_bucket")));
        assert!(!all.iter().any(|s| s.contains("--")));
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "versions are consecutive from 1");
            assert!(m.name.starts_with(&format!("{:04}_", m.version)));
        }
    }
}
