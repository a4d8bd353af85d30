//! Question banks (`/v1/question-banks`): one JSON row per bank, keyed by its id. A session
//! copies what it draws, so replacing or deleting a bank never changes a session's record.

use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition};
use vkyc_domain::questions::{BankId, QuestionBank};

use super::embedded::{backend, EmbeddedStore};
use super::rows::{self, JsonTable};
use super::StoreError;

const BANKS: JsonTable<&str> = TableDefinition::new("question_banks");

/// The question banks' port (both back ends).
#[async_trait]
pub trait QuestionBankStore: Send + Sync + 'static {
    /// Every bank, by id.
    async fn list_banks(&self) -> Result<Vec<QuestionBank>, StoreError>;
    async fn get_bank(&self, id: &BankId) -> Result<Option<QuestionBank>, StoreError>;
    /// Creates or replaces the bank; `true` when it is new.
    async fn put_bank(&self, bank: &QuestionBank) -> Result<bool, StoreError>;
    /// `false` when there was no such bank.
    async fn delete_bank(&self, id: &BankId) -> Result<bool, StoreError>;
}

pub(super) fn create_tables(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
    rows::create_tables!(tx, BANKS);
    Ok(())
}

#[async_trait]
impl QuestionBankStore for EmbeddedStore {
    async fn list_banks(&self) -> Result<Vec<QuestionBank>, StoreError> {
        self.read_tx(|tx| {
            let t = tx.open_table(BANKS).map_err(backend)?;
            let mut out = Vec::new();
            for row in t.iter().map_err(backend)? {
                let (_, v) = row.map_err(backend)?;
                out.push(rows::decode(v.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn get_bank(&self, id: &BankId) -> Result<Option<QuestionBank>, StoreError> {
        let id = id.clone();
        self.read_tx(move |tx| rows::get(&tx.open_table(BANKS).map_err(backend)?, id.as_str()))
            .await
    }

    async fn put_bank(&self, bank: &QuestionBank) -> Result<bool, StoreError> {
        let bank = bank.clone();
        self.write_tx(move |tx| {
            let new = rows::read::<_, QuestionBank>(tx, BANKS, bank.id.as_str())?.is_none();
            rows::write(tx, BANKS, bank.id.as_str(), &bank)?;
            Ok(new)
        })
        .await
    }

    async fn delete_bank(&self, id: &BankId) -> Result<bool, StoreError> {
        let id = id.clone();
        self.write_tx(move |tx| {
            let mut t = tx.open_table(BANKS).map_err(backend)?;
            let removed = t.remove(id.as_str()).map_err(backend)?.is_some();
            Ok(removed)
        })
        .await
    }
}
