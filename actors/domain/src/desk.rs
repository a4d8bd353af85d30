//! The agent desk: who works in vkyc and how a waiting customer reaches one of them.
//!
//! - [`user`]: staff accounts ([`user::User`]), their roles ([`user::StaffRole`]: agent,
//!   auditor, supervisor, admin), validated emails and names, and an agent's [`user::Skills`].

pub mod user;
