use std::io::{IsTerminal, Write};

use clap::{Parser, Subcommand};
use vkyc::config::{Config, LogFormat};
use vkyc::events::tail::TailArgs;
use vkyc::startup::Application;

const CONFIG_HELP: &str =
    "Configuration: config/default.toml (compiled in), then config/<VKYC_PROFILE>.toml, \
then the file named by VKYC_CONFIG, then environment variables VKYC_<TABLE>__<KEY> \
(e.g. VKYC_SERVER__PORT=9000). An invalid value stops the command with the key's name (exit 2).";

/// The vkyc video-KYC server and its operator commands.
#[derive(Debug, Parser)]
#[command(name = "vkyc", version, after_help = CONFIG_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default without a subcommand).
    #[command(after_help = CONFIG_HELP)]
    Serve,
    /// The Kafka topics of the event relay (events.backend = "kafka").
    #[command(subcommand)]
    Events(EventsCommand),
    /// Apply the ScyllaDB schema migrations (storage.backend = "scylla"); safe to repeat.
    ///
    /// Creates the keyspace if it does not exist, applies the pending migrations and prints
    /// every migration with "applied now" or "already applied".
    #[command(after_help = CONFIG_HELP)]
    Migrate,
    /// Staff accounts (agents, auditors, supervisors, admins).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Erase a session's personal data (a data subject's erasure request).
    ///
    /// Overwrites the applicant's details on the session, deletes the KYC case (OCR fields,
    /// scores) and the captures' metadata, then the captures', the self-recorded video's and
    /// the call recordings' files. The event log (which holds no personal data) and the
    /// recordings' metadata stay. Exit 1 if there is no such session.
    #[command(after_help = CONFIG_HELP)]
    Erase {
        /// The session's id (a UUID).
        #[arg(long = "session", value_name = "ID")]
        session: uuid::Uuid,
    },
    /// Rotate the key-encryption key: a new version in the keyring (`storage.kek_file`), and
    /// every session's data key rewrapped with it. Files are untouched and stay readable;
    /// the old versions stay in the keyring. Run it with the server stopped or not: a data
    /// key is replaced atomically.
    #[command(after_help = CONFIG_HELP)]
    RotateKeys,
    /// The activity log: who read personal data or decided, hash-chained per session.
    #[command(subcommand)]
    Activity(ActivityCommand),
}

#[derive(Debug, Subcommand)]
enum ActivityCommand {
    /// Check every session's chain with the sealing key (`storage.activity_key`): prints
    /// each broken chain and where it breaks (an entry changed, removed, moved or forged),
    /// then a summary. Exit 1 if any chain is broken.
    #[command(after_help = CONFIG_HELP)]
    Verify,
}

/// Staff accounts.
#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create an account (the server must be stopped when storage.backend = "embedded": the
    /// redb file has one writer). Reads the password from the first line of stdin; with none
    /// (stdin a terminal or empty) a random one is generated and printed once.
    ///
    /// Example: `echo 'a long password' | vkyc users add --email asha@bank.example --name "Asha Rao" --role agent --language hi --language en`
    #[command(after_help = CONFIG_HELP)]
    Add(vkyc::admin::NewAccount),
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Print a topic's events as they arrive, one line each: `partition:offset key event`.
    ///
    /// Reads with a throw-away consumer group, so it never moves anyone else's offsets.
    #[command(after_help = CONFIG_HELP)]
    Tail(TailArgs),
}

/// The configuration, or exit 2 with the reason (which names the key).
fn load_config() -> Config {
    match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vkyc: {e}");
            std::process::exit(2);
        }
    }
}

/// Prints `what: error` and exits 1 (a runtime error, not a usage error).
fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1)
}

#[tokio::main]
async fn main() {
    match Cli::parse().command {
        None | Some(Command::Serve) => serve().await,
        Some(Command::Events(EventsCommand::Tail(args))) => {
            let brokers = match &args.brokers {
                Some(b) => b.clone(),
                None => load_config().events.kafka.brokers,
            };
            if let Err(e) = vkyc::events::tail::run(args, &brokers).await {
                fail("vkyc events tail", format_args!("{e:#}"));
            }
        }
        Some(Command::Migrate) => match vkyc::admin::migrate(&load_config()).await {
            Ok((now, all)) => {
                for (v, name, _) in &all {
                    println!(
                        "{v:04} {name} {}",
                        if now.contains(v) {
                            "applied now"
                        } else {
                            "already applied"
                        }
                    );
                }
            }
            Err(e) => fail("vkyc migrate", format_args!("{e:#}")),
        },
        Some(Command::Users(UsersCommand::Add(new))) => {
            match vkyc::admin::add_user(&load_config(), new).await {
                Ok((user, generated)) => {
                    println!(
                        "created {} ({}) with roles {:?}: {}",
                        user.email, user.name, user.roles, user.id
                    );
                    if let Some(p) = generated {
                        println!("password (shown once): {p}");
                    }
                }
                Err(e) => fail("vkyc users add", format_args!("{e:#}")),
            }
        }
        Some(Command::Activity(ActivityCommand::Verify)) => {
            match vkyc::admin::verify_activity(&load_config()).await {
                Ok(v) => {
                    for (session, problem) in &v.broken {
                        println!("BROKEN session {session}: {problem}");
                    }
                    println!(
                        "activity log: {} chains, {} entries checked, {} broken",
                        v.chains,
                        v.entries,
                        v.broken.len()
                    );
                    if !v.broken.is_empty() {
                        std::process::exit(1);
                    }
                }
                Err(e) => fail("vkyc activity verify", format_args!("{e:#}")),
            }
        }
        Some(Command::RotateKeys) => match vkyc::admin::rotate_keys(&load_config()) {
            Ok((id, n)) => println!("key-encryption key is now {id}; {n} data keys rewrapped"),
            Err(e) => fail("vkyc rotate-keys", format_args!("{e:#}")),
        },
        Some(Command::Erase { session: id }) => {
            match vkyc::admin::erase(&load_config(), id.into()).await {
                Ok(Some(n)) => println!("erased personal data of session {id} ({n} blobs deleted)"),
                Ok(None) => fail("vkyc erase", format_args!("no session {id}")),
                Err(e) => fail("vkyc erase", format_args!("{e:#}")),
            }
        }
    }
}

/// Writes `text` to a new file readable by this user only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    // A new file, so the mode applies (an old one may have been readable by others).
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new();
    f.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        f.mode(0o600);
    }
    let mut file = f.open(path)?;
    writeln!(file, "{text}")
}

async fn serve() {
    let config = load_config();
    let data_dir = config.storage.data_dir.clone();
    let filter = config.log.level.env_filter();
    match config.log.format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => fail("vkyc: cannot start", format_args!("{e:#}")),
    };
    let url = app.public_url().to_string();
    // Write errors are ignored: a closed stdout must not stop the server.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "vkyc listening on {url}");
    match app.setup_url() {
        // The link is a credential: on a terminal it is shown; where the output is collected
        // (a service, a container) it goes to a file only this user can read.
        Some(setup) if out.is_terminal() => {
            let _ = writeln!(out, "  first start:    open {setup}");
            let _ = writeln!(
                out,
                "                  (one-time link: it creates the first admin and signs you in)"
            );
        }
        Some(setup) => {
            let path = data_dir.join("setup-link.txt");
            match write_private(&path, setup) {
                Ok(()) => {
                    let _ = writeln!(
                        out,
                        "  first start:    the one-time link that creates the first admin is in {} (readable by this user only)",
                        path.display()
                    );
                }
                Err(e) => fail("vkyc: cannot write the first-admin link", e),
            }
        }
        None => {
            let _ = writeln!(
                out,
                "  agent console:  {url}/agent  (sign in; admins add accounts at {url}/admin)"
            );
        }
    }
    let _ = writeln!(
        out,
        "  customer page:  create a session in the console, then open the customer link it shows"
    );
    let _ = writeln!(
        out,
        "  API:            {url}/v1  (Authorization: Bearer <api key>, kept in <data_dir>/api.key)"
    );
    let _ = out.flush();
    drop(out);
    if let Err(e) = app.run_until_stopped().await {
        fail("vkyc: server error", e);
    }
}
