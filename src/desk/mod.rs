//! The agent desk at the edge: staff accounts, their signed-in consoles and single sign-on.
//!
//! - [`passwords`]: Argon2id hashing and checking (off the async threads).
//! - [`console`]: console sessions — the cookie, the CSRF token, the idle and absolute
//!   timeouts — and the staff member a request comes from ([`console::Staff`]).
//! - [`auth_api`]: `/v1/auth/*` — sign in with a password, sign out, who am I, the first
//!   admin's one-time setup link, single sign-on's start and callback.
//! - [`users_api`]: `/v1/users` — the admin's account management.
//! - [`live`]: the queue's live edge — the consoles' and customers' sockets, the notifier
//!   and store adapters of the `vkyc-desk` router, the tap that ends an agent's call.
//! - [`desk_api`]: the sockets' protocol and the supervisor's endpoints.
//! - [`oidc`]: the OpenID Connect client (discovery, authorization code + PKCE, ID-token
//!   validation, groups → roles).
//! - [`setup`]: what the server does with accounts at start (demo accounts of a dev profile,
//!   the first-admin link).
//!
//! The rules about accounts (what a valid email, name, role or skill is) are
//! `vkyc_domain::desk::user`'s; the records are kept through the store's `UserStore` port.

pub mod auth_api;
pub mod console;
pub mod desk_api;
pub mod live;
pub mod oidc;
pub mod passwords;
pub mod setup;
pub mod users_api;
