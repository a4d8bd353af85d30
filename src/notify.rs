//! One-time-code notifiers (`kyc.otp_notifier`): how a code reaches the customer. Production
//! plugs an SMS gateway behind the same trait; the two here are for development and tests.

use std::path::PathBuf;

use async_trait::async_trait;
use vkyc_case::Notifier;
use vkyc_domain::SessionId;

/// Development only: the code goes to the server log (a secret in a log; never in
/// production).
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn send_otp(&self, session_id: SessionId, code: &str) -> Result<(), String> {
        tracing::warn!(session = %session_id, "one-time code {code} (log notifier: development only)");
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
