use std::io::Write;

use tracing_subscriber::EnvFilter;
use vkyc::config::{Config, LogFormat};
use vkyc::startup::Application;

fn usage() -> ! {
    eprintln!(
        "usage: vkyc [serve]\n       vkyc events tail --topic NAME [--from-beginning] [--brokers HOST:PORT] [--max N]\n       vkyc migrate\n       vkyc erase --session ID\n\n\
         Runs the vkyc server, prints a Kafka topic's events (one line each: partition:offset key event),\n\
         applies the ScyllaDB schema migrations (storage.backend = \"scylla\"), or erases a session's personal data.\n\
         Configuration: config/default.toml, VKYC_PROFILE, VKYC_CONFIG, VKYC_<TABLE>__<KEY>."
    );
    std::process::exit(2)
}

fn load_config() -> Config {
    match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vkyc: {e}");
            std::process::exit(2);
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => {}
        Some("events") if args.get(1).map(String::as_str) == Some("tail") => {
            let brokers = || Config::load().map(|c| c.events.kafka.brokers).map_err(|e| e.to_string());
            let tail = match vkyc::events::tail::TailArgs::parse(&args[2..], brokers) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("vkyc events tail: {e}");
                    usage()
                }
            };
            if let Err(e) = vkyc::events::tail::run(tail).await {
                eprintln!("vkyc events tail: {e:#}");
                std::process::exit(1);
            }
            return;
        }
        Some("migrate") if args.len() == 1 => {
            let config = load_config();
            match vkyc::admin::migrate(&config).await {
                Ok((now, all)) => {
                    for (v, name, _) in &all {
                        println!("{v:04} {name} {}", if now.contains(v) { "applied now" } else { "already applied" });
                    }
                }
                Err(e) => {
                    eprintln!("vkyc migrate: {e:#}");
                    std::process::exit(1);
                }
            }
            return;
        }
        Some("erase") if args.len() == 3 && args[1] == "--session" => {
            let Ok(id) = args[2].parse::<uuid::Uuid>() else {
                eprintln!("vkyc erase: --session needs a session id (UUID)");
                usage()
            };
            let config = load_config();
            match vkyc::admin::erase(&config, id.into()).await {
                Ok(Some(n)) => println!("erased personal data of session {id} ({n} blobs deleted)"),
                Ok(None) => {
                    eprintln!("vkyc erase: no session {id}");
                    std::process::exit(1);
                }
                Err(e) => {
                    eprintln!("vkyc erase: {e:#}");
                    std::process::exit(1);
                }
            }
            return;
        }
        Some("-h") | Some("--help") | Some(_) => usage(),
    }
    let config = load_config();
    let filter = EnvFilter::new(&config.log.level);
    match config.log.format {
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init(),
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init(),
    }
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("vkyc: cannot start: {e:#}");
            std::process::exit(1);
        }
    };
    let url = app.public_url().to_string();
    // Write errors are ignored: a closed stdout must not stop the server.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "vkyc listening on {url}");
    let _ = writeln!(out, "  agent console:  {url}/agent#key={}", app.api_key());
    let _ = writeln!(out, "  customer page:  create a session in the console, then open the customer link it shows");
    let _ = writeln!(out, "  API:            {url}/v1  (Authorization: Bearer <api key>)");
    let _ = out.flush();
    drop(out);
    if let Err(e) = app.run_until_stopped().await {
        eprintln!("vkyc: server error: {e}");
        std::process::exit(1);
    }
}
