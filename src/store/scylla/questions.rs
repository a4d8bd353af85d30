//! Question banks in ScyllaDB: `question_banks`, one partition (`scope = 'bank'`) of JSON
//! documents keyed by bank id (migration 0004).

use scylla::client::session::Session as CqlSession;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency::LocalQuorum as QUORUM;
use vkyc_domain::questions::{BankId, QuestionBank};

use super::{backend, corrupt, prep, ScyllaStore};
use crate::store::{QuestionBankStore, StoreError};

const SCOPE: &str = "bank";

pub(super) struct Statements {
    list: PreparedStatement,
    get: PreparedStatement,
    put: PreparedStatement,
    delete: PreparedStatement,
}

pub(super) async fn prepare(s: &CqlSession) -> Result<Statements, StoreError> {
    Ok(Statements {
        list: prep(
            s,
            "SELECT id, doc FROM question_banks WHERE scope = ?",
            QUORUM,
        )
        .await?,
        get: prep(
            s,
            "SELECT doc FROM question_banks WHERE scope = ? AND id = ?",
            QUORUM,
        )
        .await?,
        put: prep(
            s,
            "INSERT INTO question_banks (scope, id, doc) VALUES (?, ?, ?)",
            QUORUM,
        )
        .await?,
        delete: prep(
            s,
            "DELETE FROM question_banks WHERE scope = ? AND id = ?",
            QUORUM,
        )
        .await?,
    })
}

#[async_trait::async_trait]
impl QuestionBankStore for ScyllaStore {
    async fn list_banks(&self) -> Result<Vec<QuestionBank>, StoreError> {
        let rows: Vec<(String, Option<String>)> =
            self.rows(&self.inner.st.banks.list, (SCOPE,)).await?;
        let mut banks = rows
            .into_iter()
            .filter_map(|(_, doc)| doc)
            .map(|d| serde_json::from_str::<QuestionBank>(&d).map_err(corrupt))
            .collect::<Result<Vec<_>, _>>()?;
        banks.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(banks)
    }

    async fn get_bank(&self, id: &BankId) -> Result<Option<QuestionBank>, StoreError> {
        // The id is checked on the document too: kassandra ignores a bound clustering-key
        // predicate.
        let rows: Vec<(Option<String>,)> = self
            .rows(&self.inner.st.banks.get, (SCOPE, id.as_str()))
            .await?;
        for doc in rows.into_iter().filter_map(|r| r.0) {
            let bank: QuestionBank = serde_json::from_str(&doc).map_err(corrupt)?;
            if &bank.id == id {
                return Ok(Some(bank));
            }
        }
        Ok(None)
    }

    async fn put_bank(&self, bank: &QuestionBank) -> Result<bool, StoreError> {
        let new = self.get_bank(&bank.id).await?.is_none();
        let doc = serde_json::to_string(bank).map_err(backend)?;
        self.inner
            .session
            .execute_unpaged(&self.inner.st.banks.put, (SCOPE, bank.id.as_str(), doc))
            .await
            .map_err(backend)?;
        Ok(new)
    }

    async fn delete_bank(&self, id: &BankId) -> Result<bool, StoreError> {
        if self.get_bank(id).await?.is_none() {
            return Ok(false);
        }
        self.inner
            .session
            .execute_unpaged(&self.inner.st.banks.delete, (SCOPE, id.as_str()))
            .await
            .map_err(backend)?;
        Ok(true)
    }
}
