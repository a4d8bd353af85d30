//! JSON rows in redb tables. Every record the embedded store keeps (sessions, cases,
//! captures, recordings, webhook subscriptions and deliveries, events) is a JSON value under
//! a `u128` (or compound) key; these read and write one row, so the adapters only name the
//! table and the key.

use redb::{Key, ReadableTable, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::embedded::{backend, EmbeddedStore};
use super::StoreError;

/// Creates the tables that do not exist yet (opening a table in a write transaction does).
macro_rules! create_tables {
    ($tx:expr, $($table:expr),+ $(,)?) => {{
        $( $tx.open_table($table).map_err($crate::store::embedded::backend)?; )+
    }};
}
pub(super) use create_tables;

/// A table of JSON values.
pub(super) type JsonTable<K> = TableDefinition<'static, K, &'static [u8]>;

/// A stored JSON value, decoded; one that does not decode is a corrupt record.
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The value under `key` in an open table, decoded.
pub(super) fn get<'k, K: Key + 'static, T: DeserializeOwned>(
    table: &impl ReadableTable<K, &'static [u8]>,
    key: K::SelfType<'k>,
) -> Result<Option<T>, StoreError> {
    table
        .get(key)
        .map_err(backend)?
        .map(|v| decode(v.value()))
        .transpose()
}

/// The value under `key`, read inside a write transaction.
pub(super) fn read<'k, K: Key + 'static, T: DeserializeOwned>(
    tx: &WriteTransaction,
    table: JsonTable<K>,
    key: K::SelfType<'k>,
) -> Result<Option<T>, StoreError> {
    get(&tx.open_table(table).map_err(backend)?, key)
}

/// Stores `value` under `key` (replacing what was there).
pub(super) fn write<'k, K: Key + 'static, T: Serialize>(
    tx: &WriteTransaction,
    table: JsonTable<K>,
    key: K::SelfType<'k>,
    value: &T,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value).map_err(backend)?;
    tx.open_table(table)
        .map_err(backend)?
        .insert(key, bytes.as_slice())
        .map_err(backend)?;
    Ok(())
}

impl EmbeddedStore {
    /// The value under `key`, in a read transaction of its own.
    pub(super) async fn row<K, T>(
        &self,
        table: JsonTable<K>,
        key: K::SelfType<'static>,
    ) -> Result<Option<T>, StoreError>
    where
        K: Key + Send + 'static,
        K::SelfType<'static>: Send,
        T: DeserializeOwned + Send + 'static,
    {
        self.read_tx(move |tx| get(&tx.open_table(table).map_err(backend)?, key))
            .await
    }
}
