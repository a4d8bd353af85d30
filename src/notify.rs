//! One-time-code notifiers (`kyc.otp_notifier`): how a code reaches the customer. Production
//! plugs an SMS gateway behind the same trait; the two here are for development and tests.
//! Neither ever hands a code to the log subscriber: logs are shipped and read by many, and a
//! code in them is a live credential.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use async_trait::async_trait;
use vkyc_case::Notifier;
use vkyc_domain::SessionId;

/// Development (`"dev"`): on a terminal the code is printed there, for the developer at it;
/// otherwise (a service, a container whose output is collected) it is written like
/// [`FileNotifier`]'s, where only the server's user can read it, and the log says where.
pub struct DevNotifier {
    pub outbox: FileNotifier,
}

#[async_trait]
impl Notifier for DevNotifier {
    async fn send_otp(&self, session_id: SessionId, code: &str) -> Result<(), String> {
        let err = std::io::stderr();
        if err.is_terminal() {
            let mut err = err.lock();
            let _ = writeln!(
                err,
                "one-time code for session {session_id}: {code}  (development notifier, on this terminal only)"
            );
            return Ok(());
        }
        self.outbox.send_otp(session_id, code).await?;
        tracing::warn!(session = %session_id, outbox = %self.outbox.dir.display(), "one-time code written to the outbox (development notifier: never in production)");
        Ok(())
    }
}

/// Writes the code to `<dir>/otp-<session>.txt` (mode 0600) for a gateway or a test to pick up.
pub struct FileNotifier {
    pub dir: PathBuf,
}

#[async_trait]
impl Notifier for FileNotifier {
    async fn send_otp(&self, session_id: SessionId, code: &str) -> Result<(), String> {
        let path = self.dir.join(format!("otp-{}.txt", session_id.simple()));
        let code = code.to_string();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&path, code)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot write the code: {e}"))
    }
}
