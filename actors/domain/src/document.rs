//! An identity document as the KYC case records it: its kind (PAN, Aadhaar) and the fields
//! read from it. The vision crate's OCR fills [`DocumentFields`]; the document step's
//! attempt keeps them ([`crate::step_data::DocumentRead`]).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Pan,
    Aadhaar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
    Transgender,
}

/// What was read from a card. A field is `None` (and absent from the JSON) when it is not
/// on this kind of document or could not be read; the latter are listed in `missing`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentFields {
    pub kind: DocumentKind,
    /// PAN: `AAAAA9999A`, OCR confusions corrected by position.
    pub pan_number: Option<String>,
    /// Aadhaar: `XXXX XXXX 1234` — the full number is never kept.
    pub aadhaar_masked: Option<String>,
    /// Aadhaar: whether the 12 digits read pass the Verhoeff checksum (a misread digit almost
    /// always fails it).
    pub aadhaar_checksum_ok: Option<bool>,
    pub name: Option<String>,
    /// PAN only.
    pub father_name: Option<String>,
    /// ISO 8601: `yyyy-mm-dd`, or just `yyyy` when the card has only the year of birth.
    pub date_of_birth: Option<String>,
    /// Aadhaar only.
    pub gender: Option<Gender>,
    /// Fields of this kind of document that were not found, by their JSON name.
    pub missing: Vec<String>,
}

impl DocumentFields {
    /// Nothing read yet.
    pub fn empty(kind: DocumentKind) -> Self {
        Self {
            kind,
            pan_number: None,
            aadhaar_masked: None,
            aadhaar_checksum_ok: None,
            name: None,
            father_name: None,
            date_of_birth: None,
            gender: None,
            missing: Vec::new(),
        }
    }

    /// The document's number was found (the key field; without it the card was not read).
    pub fn has_number(&self) -> bool {
        self.pan_number.is_some() || self.aadhaar_masked.is_some()
    }
}
