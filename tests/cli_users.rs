//! `vkyc users add`: an operator creates an account from the command line (the server
//! stopped, the embedded store's file free); the account then signs in to a server on that
//! data dir.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

fn users_add(dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vkyc"))
        .args(["users", "add"])
        .args(args)
        .env("VKYC_PROFILE", "test")
        .env("VKYC_STORAGE__DATA_DIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn an_account_made_on_the_command_line_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let ok = users_add(
        dir.path(),
        &[
            "--email",
            "Cli@Bank.Example",
            "--name",
            "Cli Agent",
            "--role",
            "agent",
            "--role",
            "auditor",
            "--language",
            "hi",
        ],
        "a long cli password\n",
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("created cli@bank.example"), "{out}");
    assert!(
        !out.contains("a long cli password"),
        "the password is never printed back"
    );

    // Refused, with the reason, and nothing written: a taken email, a weak password, a bad role.
    for (args, stdin, why) in [
        (
            vec![
                "--email",
                "cli@bank.example",
                "--name",
                "Again",
                "--role",
                "agent",
            ],
            "another long password\n",
            "email",
        ),
        (
            vec![
                "--email",
                "two@bank.example",
                "--name",
                "Two",
                "--role",
                "agent",
            ],
            "short\n",
            "at least",
        ),
        (
            vec![
                "--email",
                "three@bank.example",
                "--name",
                "Three",
                "--role",
                "root",
            ],
            "a long cli password\n",
            "role",
        ),
    ] {
        let out = users_add(dir.path(), &args, stdin);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(why),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // No password given: one is generated and shown once.
    let gen = users_add(
        dir.path(),
        &[
            "--email",
            "gen@bank.example",
            "--name",
            "Gen",
            "--role",
            "supervisor",
        ],
        "",
    );
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let gen_out = String::from_utf8_lossy(&gen.stdout).to_string();
    let generated = gen_out
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("a generated password")
        .to_string();

    // A server on that data dir: both sign in with their roles and skills.
    let data = dir.path().to_path_buf();
    let app = spawn_app_with(move |f| f.merge(("storage.data_dir", data))).await;
    assert!(
        app.setup_url.is_none(),
        "accounts exist: no first-admin link"
    );
    let c = Console::try_sign_in(&app, "cli@bank.example", "a long cli password")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(c.user["roles"], serde_json::json!(["agent", "auditor"]));
    assert_eq!(c.user["skills"]["languages"], serde_json::json!(["hi"]));
    assert!(Console::try_sign_in(&app, "gen@bank.example", &generated)
        .await
        .is_ok());
    assert!(
        Console::try_sign_in(&app, "two@bank.example", "short")
            .await
            .is_err(),
        "the refused account does not exist"
    );
}
