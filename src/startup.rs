//! Wiring: config → store, auth, SFU, actor tree → HTTP server. `Application::build` is what
//! `main` and the black-box tests call. Every actor runs under one
//! [`crate::supervision::ApplicationSupervisor`] (see that module for the tree and its policy).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use vkyc_call::room::RoomSettings;
use vkyc_call::Rooms;
use vkyc_media::sfu::Sfu;

use crate::auth::{secret_or_generate, Auth};
use crate::config::Config;
use crate::error::{json_error, path_error, query_error};
use crate::store::{EmbeddedStore, ScyllaStore, Store};
use crate::supervision::{ChildSpec, Restart, Tree};

pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub auth: Auth,
    pub rooms: Rooms,
    pub blobs: Arc<dyn vkyc_blob::BlobStore>,
    pub cases: vkyc_case::Cases,
    /// The verification engines; None when `inference.enabled` is false.
    pub inference: Option<std::sync::Arc<crate::verify::Inference>>,
    /// Base URL of this server for links (no trailing slash).
    pub public_url: String,
    /// Signs recording download URLs (derived from the token secret).
    pub recording_url_key: Vec<u8>,
    /// The supervision tree (its health is `/readyz`).
    pub tree: Tree,
    /// The running self-record processor.
    pub self_record: crate::self_record::ProcessorSlot,
    /// The agent desk's queue router (its handle).
    pub desk: vkyc_desk::Desk,
    /// The consoles' and waiting customers' sockets.
    pub sockets: Arc<crate::desk::live::Sockets>,
    /// The single sign-on client, discovered at its first use (`console.sso.enabled`).
    pub sso: tokio::sync::OnceCell<Arc<crate::desk::oidc::Oidc>>,
    /// Console sign-in rate limits (per address, per email).
    pub login_limits: crate::limits::LoginLimits,
    /// The activity log's sealing key (`storage.activity_key`).
    pub activity_key: vkyc_domain::activity::ChainKey,
    /// Every other rate limit (`[limits]`, applied by [`crate::limits::guard`]).
    pub limits: crate::limits::RateLimits,
}

pub struct Application {
    port: u16,
    public_url: String,
    api_key: String,
    /// The first-admin link, while there is no account.
    setup_url: Option<String>,
    server: Server,
    tree: Tree,
}

/// A child whose fault hook sends `msg` (fault injection; without the feature, no hook).
#[cfg(feature = "fault-injection")]
fn faulty<M: ractor::Message>(spec: ChildSpec, msg: fn() -> M) -> ChildSpec {
    spec.with_fault(move |cell| {
        let _ = cell.send_message(msg());
    })
}

/// An inference pool as a child of the tree: the pool started with the engines is linked
/// to the tree at first; after a failure a new pool is started in its place, and the
/// handle the HTTP layer holds reaches it.
fn pool_child<E: vkyc_vision::inference::Engine>(
    name: &'static str,
    pool: vkyc_vision::inference::Pool<E>,
) -> ChildSpec {
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let spec = ChildSpec::new(name, Restart::DEFAULT, move |sup| {
        let (pool, first) = (pool.clone(), first.clone());
        async move {
            if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                let cell = pool.cell();
                cell.link(sup);
                Ok(cell)
            } else {
                pool.restart_linked(sup).await.map_err(Into::into)
            }
        }
    });
    #[cfg(feature = "fault-injection")]
    let spec = faulty(spec, || vkyc_vision::inference::PoolMsg::<E>::Panic);
    spec
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let data_dir = config.storage.data_dir.clone();
        let store: Arc<dyn Store> = match config.storage.backend {
            crate::config::StorageBackend::Embedded => Arc::new(EmbeddedStore::open(&data_dir)?),
            crate::config::StorageBackend::Scylla => {
                let cfg = &config.storage.scylla;
                Arc::new(
                    ScyllaStore::connect(cfg, cfg.migrate_on_start)
                        .await
                        .map_err(|e| anyhow::anyhow!("storage.scylla: {e}"))?,
                )
            }
        };
        let api_key = secret_or_generate(config.auth.api_key.expose(), &data_dir, "api.key")?;
        let jwt_secret = secret_or_generate(config.auth.jwt_secret.expose(), &data_dir, "jwt.key")?;
        let auth = Auth::new(api_key.clone(), &jwt_secret);
        let blobs: Arc<dyn vkyc_blob::BlobStore> = Arc::new(crate::store::open_blobs(&config)?);

        let sfu = Arc::new(Sfu::new(config.rtc.clone())?);
        // Recordings cut off by a crash: their files are made readable and they are marked
        // failed before any new call starts.
        let repair_blobs = blobs.clone();
        match store
            .fail_interrupted_recordings(Box::new(move |key| {
                repair_blobs.repair_stream(key).ok().flatten()
            }))
            .await
        {
            Ok(failed) if !failed.is_empty() => {
                tracing::warn!(
                    count = failed.len(),
                    "recordings interrupted by a server stop were marked failed"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "interrupted recordings could not be checked"),
        }
        let settings = RoomSettings {
            max_peers: config.room.max_peers,
            empty_timeout: Duration::from_secs(config.room.empty_timeout_secs),
            recording: Some(vkyc_media::recording::RecordingSettings {
                blobs: blobs.clone(),
                config: config.recording.clone(),
            }),
        };
        let tree = Tree::start(store.clone())
            .await
            .map_err(|e| anyhow::anyhow!("application supervisor failed to start: {e}"))?;
        let sockets = Arc::new(crate::desk::live::Sockets::default());
        let desk = vkyc_desk::Desk::new(
            config.desk.clone(),
            Arc::new(crate::desk::live::StoreDesk(store.clone())),
            Arc::new(crate::desk::live::Notifier {
                sockets: sockets.clone(),
                store: store.clone(),
            }),
        );
        let d = desk.clone();
        tree.start_child(ChildSpec::new("desk", Restart::DEFAULT, move |sup| {
            let d = d.clone();
            async move { d.spawn_linked(Some(sup)).await.map_err(Into::into) }
        }))
        .await?;
        let tap = Arc::new(crate::desk::live::DeskTap {
            store: store.clone(),
            desk: desk.clone(),
        });
        let rooms = Rooms::new(sfu, tap, settings);
        let r = rooms.clone();
        tree.start_child(ChildSpec::new("rooms", Restart::DEFAULT, move |sup| {
            let r = r.clone();
            async move { r.spawn_root(Some(sup)).await }
        }))
        .await?;

        let inference = if config.inference.enabled {
            let inf = crate::verify::Inference::start(&config).await?;
            tree.start_child(pool_child("inference.face", inf.face.clone()))
                .await?;
            tree.start_child(pool_child("inference.liveness", inf.liveness.clone()))
                .await?;
            tree.start_child(pool_child("inference.document", inf.document.clone()))
                .await?;
            Some(std::sync::Arc::new(inf))
        } else {
            None
        };

        let ctx = vkyc_case::StepContext {
            blobs: blobs.clone(),
            face: inference.as_ref().map(|i| i.face.clone()),
            document: inference.as_ref().map(|i| i.document.clone()),
            liveness: inference.as_ref().map(|i| i.liveness.clone()),
            challenge: config.liveness.challenge.clone(),
            region: config.kyc.region.clone(),
            rules: config.kyc.rules.clone(),
            otp: config.kyc.otp.clone(),
            max_retries: config.kyc.max_retries,
            idle: Duration::from_secs(config.kyc.case_idle_secs),
            notifier: {
                let outbox = crate::notify::FileNotifier {
                    dir: data_dir.join("outbox"),
                };
                match config.kyc.otp_notifier.as_str() {
                    "file" => Arc::new(outbox),
                    _ => Arc::new(crate::notify::DevNotifier { outbox }),
                }
            },
        };
        // The case supervisor restarts its own case and step actors; the tree restarts the
        // case supervisor, and the handle the HTTP layer holds reaches the new one.
        let cases = vkyc_case::Cases::new(store.clone(), ctx);
        let handle = cases.clone();
        let spec = ChildSpec::new("cases", Restart::DEFAULT, move |sup| {
            let cases = handle.clone();
            async move {
                cases
                    .spawn_linked(Some(sup))
                    .await
                    .map_err(|e| format!("case actors failed to start: {e}").into())
            }
        });
        #[cfg(feature = "fault-injection")]
        let spec = faulty(spec, || vkyc_case::CaseSupMsg::InjectPanic);
        tree.start_child(spec).await?;

        let (st, dk, every) = (
            store.clone(),
            desk.clone(),
            Duration::from_secs(config.kyc.expiry_check_secs),
        );
        let expiry = ChildSpec::new("expiry", Restart::DEFAULT, move |sup| {
            let (st, dk) = (st.clone(), dk.clone());
            async move {
                Ok(ractor::Actor::spawn_linked(
                    None,
                    crate::lifecycle::ExpiryActor,
                    (st, dk, every),
                    sup,
                )
                .await?
                .0
                .get_cell())
            }
        });
        #[cfg(feature = "fault-injection")]
        let expiry = faulty(expiry, || crate::lifecycle::ExpiryMsg::InjectPanic);
        tree.start_child(expiry).await?;

        if config.events.backend == crate::config::EventsBackend::Kafka {
            let (st, cfg, health) = (
                store.clone(),
                config.events.kafka.clone(),
                tree.health.clone(),
            );
            let relay = ChildSpec::new("relay", Restart::DEFAULT, move |sup| {
                let args = crate::events::relay::RelayArgs {
                    store: st.clone(),
                    cfg: cfg.clone(),
                    health: health.clone(),
                };
                async move {
                    Ok(ractor::Actor::spawn_linked(
                        None,
                        crate::events::relay::KafkaRelay,
                        args,
                        sup,
                    )
                    .await?
                    .0
                    .get_cell())
                }
            });
            #[cfg(feature = "fault-injection")]
            let relay = faulty(relay, || crate::events::relay::RelayMsg::InjectPanic);
            tree.start_child(relay).await?;
        }

        if config.webhooks.enabled {
            let args = crate::webhooks::dispatcher::DispatcherArgs {
                store: store.clone(),
                cfg: config.webhooks.clone(),
                events: config.events.clone(),
                health: tree.health.clone(),
            };
            let webhooks = ChildSpec::new("webhooks", Restart::DEFAULT, move |sup| {
                let args = args.clone();
                async move {
                    Ok(ractor::Actor::spawn_linked(
                        None,
                        crate::webhooks::dispatcher::WebhookSupervisor,
                        args,
                        sup,
                    )
                    .await?
                    .0
                    .get_cell())
                }
            });
            #[cfg(feature = "fault-injection")]
            let webhooks = faulty(webhooks, || {
                crate::webhooks::dispatcher::SupMsg::InjectPanic
            });
            tree.start_child(webhooks).await?;
        }

        let listener =
            TcpListener::bind((config.server.host, config.server.port)).map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {}:{}: {e}",
                    config.server.host,
                    config.server.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let public_url = match &config.server.public_url {
            None => format!("http://{}:{}", config.server.host, port),
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
        };

        let seeded = crate::desk::setup::seed_users(store.as_ref(), &config)
            .await
            .map_err(|e| anyhow::anyhow!("console.seed_users: {e}"))?;
        if seeded > 0 {
            tracing::info!(count = seeded, "demo accounts created (console.seed_users)");
        }
        let banks = crate::questions_api::seed_banks(store.as_ref(), &config)
            .await
            .map_err(|e| anyhow::anyhow!("kyc.question_banks: {e}"))?;
        if banks > 0 {
            tracing::info!(count = banks, "question banks created (kyc.question_banks)");
        }
        let setup_url = crate::desk::setup::setup_secret(store.as_ref(), &config)
            .await
            .map_err(|e| anyhow::anyhow!("first-admin link: {e}"))?
            .map(|secret| format!("{public_url}/setup#token={secret}"));
        let max_body = config.server.max_body_bytes;
        let workers = config.server.workers;
        let recording_url_key =
            <sha2::Sha256 as sha2::Digest>::digest(format!("vkyc recording urls\n{jwt_secret}"))
                .to_vec();
        let login_limits = crate::limits::LoginLimits::new(
            config.console.login_per_ip_per_minute,
            config.console.login_per_email_per_minute,
        );
        let limits = crate::limits::RateLimits::new(&config.limits);
        let activity_key = crate::activity::chain_key(&config)
            .map_err(|e| anyhow::anyhow!("storage.activity_key: {e}"))?;
        let state = web::Data::new(AppState {
            config,
            store,
            auth,
            rooms: rooms.clone(),
            blobs,
            cases: cases.clone(),
            inference: inference.clone(),
            public_url: public_url.clone(),
            recording_url_key,
            tree: tree.clone(),
            self_record: Default::default(),
            desk,
            sockets,
            sso: Default::default(),
            login_limits,
            limits,
            activity_key,
        });
        // Last: it resumes the self-record checks a stop interrupted, with the whole server.
        let app = state.clone().into_inner();
        let processor = ChildSpec::new("self_record", Restart::DEFAULT, move |sup| {
            let app = app.clone();
            async move {
                Ok(ractor::Actor::spawn_linked(
                    None,
                    crate::self_record::SelfRecordProcessor,
                    app,
                    sup,
                )
                .await?
                .0
                .get_cell())
            }
        });
        #[cfg(feature = "fault-injection")]
        let processor = faulty(processor, || crate::self_record::ProcessMsg::InjectPanic);
        tree.start_child(processor).await?;
        let (app, every) = (
            state.clone().into_inner(),
            Duration::from_secs(state.config.retention.every_secs),
        );
        let purge = ChildSpec::new("retention", Restart::DEFAULT, move |sup| {
            let app = app.clone();
            async move {
                Ok(ractor::Actor::spawn_linked(
                    None,
                    crate::retention::PurgeActor,
                    (app, every),
                    sup,
                )
                .await?
                .0
                .get_cell())
            }
        });
        #[cfg(feature = "fault-injection")]
        let purge = faulty(purge, || crate::retention::PurgeMsg::InjectPanic);
        tree.start_child(purge).await?;
        crate::metrics::handle();
        let mut server = HttpServer::new(move || {
            App::new()
                // Nothing the API answers may be kept by a browser or a proxy (sessions,
                // cases and tokens carry personal data); pages and media set their own.
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add((actix_web::http::header::CACHE_CONTROL, "no-store")),
                )
                .wrap(actix_web::middleware::from_fn(crate::limits::guard))
                .wrap(actix_web::middleware::from_fn(crate::metrics::record))
                .app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(max_body)
                        .error_handler(json_error),
                )
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .app_data(web::PathConfig::default().error_handler(path_error))
                .app_data(web::PayloadConfig::default().limit(max_body))
                .configure(crate::supervision::routes)
                .configure(crate::api::routes)
                .configure(crate::web::routes)
                .default_service(web::to(crate::api::not_found))
        })
        // An idle connection is kept longer than the clients' and load balancers' own idle
        // limits (commonly 60 s), so the server is never the side that closes a connection
        // a client is about to reuse (actix's default 5 s raced clients that waited longer
        // for a slow step: the next request failed with an incomplete message).
        .keep_alive(std::time::Duration::from_secs(75))
        .listen(listener)?
        .shutdown_timeout(5);
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            public_url,
            api_key,
            setup_url,
            server: server.run(),
            tree,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The one-time link that creates the first admin (while there is no account).
    pub fn setup_url(&self) -> Option<&str> {
        self.setup_url.as_deref()
    }

    /// Serve until the process is asked to stop (Ctrl-C / SIGTERM), then stop the actors.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        // Newest first: self-record, webhooks, relay (it saves its cursor), expiry, cases,
        // pools, rooms.
        self.tree.stop().await;
        result
    }
}
