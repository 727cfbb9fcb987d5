//! Building and running the service: migrations, pools, JetStream, relay, HTTP.

use crate::app::group_commit::GroupCommit;
use crate::app::App;
use crate::config::Config;
use crate::http::{router, AppState};
use crate::relay::{ensure_stream, Relay};
use anyhow::Context;
use events_schema::keystore::KeyStore;
use events_schema::migrate::Migration;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;

/// Migrations owned by command-service (identity, consistency guards, images).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "iam_and_guards",
        sql: include_str!("../migrations/0001_iam_and_guards.sql"),
    },
    Migration {
        version: 2,
        name: "login_throttle",
        sql: include_str!("../migrations/0002_login_throttle.sql"),
    },
    Migration {
        version: 3,
        name: "refresh_tokens",
        sql: include_str!("../migrations/0003_refresh_tokens.sql"),
    },
    Migration {
        version: 4,
        name: "notifications_and_sign_in",
        sql: include_str!("../migrations/0004_notifications_and_sign_in.sql"),
    },
    Migration {
        version: 5,
        name: "staff_rota_reminders",
        sql: include_str!("../migrations/0005_staff_rota_reminders.sql"),
    },
    Migration {
        version: 6,
        name: "service_images",
        sql: include_str!("../migrations/0006_service_images.sql"),
    },
    Migration {
        version: 7,
        name: "bookings",
        sql: include_str!("../migrations/0007_bookings.sql"),
    },
    Migration {
        version: 8,
        name: "booking_lifecycle",
        sql: include_str!("../migrations/0008_booking_lifecycle.sql"),
    },
    Migration {
        version: 9,
        name: "waitlist",
        sql: include_str!("../migrations/0009_waitlist.sql"),
    },
    Migration {
        version: 10,
        name: "booked_services",
        sql: include_str!("../migrations/0010_booked_services.sql"),
    },
    Migration {
        version: 11,
        name: "booking_moves",
        sql: include_str!("../migrations/0011_booking_moves.sql"),
    },
    Migration {
        version: 12,
        name: "reservation_schedule",
        sql: include_str!("../migrations/0012_reservation_schedule.sql"),
    },
];

/// Every migration this service needs, in dependency order.
pub fn migrations() -> Vec<(&'static str, &'static [Migration])> {
    vec![
        ("es", events_schema::store::MIGRATIONS),
        ("keys", events_schema::keystore::MIGRATIONS),
        ("command", MIGRATIONS),
    ]
}

pub struct Application {
    addr: SocketAddr,
    app: App,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    relay: Option<JoinHandle<()>>,
    notifier: Option<JoinHandle<()>>,
    planner: Option<JoinHandle<()>>,
    sweeper: Option<JoinHandle<()>>,
}

/// Builds the application state (pools, keys) without serving.
pub async fn build_app(config: &Config) -> anyhow::Result<App> {
    events_schema::db::migrate(&config.database_url, &migrations()).await?;
    let pool = events_schema::db::app_pool(
        &config.database_url,
        &config.app_user,
        config.app_password.as_deref(),
        config.pool_size,
    )?;
    // The key store has its own small pool: code holding a connection of the main pool
    // may need a key, and must never wait on its own pool for it.
    let key_pool = events_schema::db::app_pool(
        &config.database_url,
        &config.app_user,
        config.app_password.as_deref(),
        4,
    )?;
    let keys =
        KeyStore::new(key_pool, (*config.kek).clone()).with_previous(config.previous_kek.clone());
    let hashers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    Ok(App {
        group_commit: GroupCommit::start(pool.clone()),
        pool,
        keys,
        tokens: config.token_secret.clone(),
        token_ttl: config.token_ttl,
        relay_wakeup: Arc::new(Notify::new()),
        hashing: Arc::new(Semaphore::new(hashers)),
        login_limits: crate::app::throttle::LoginLimits::default(),
        notifier: crate::app::notify::Notifier::new(config.notify_channel.clone())?,
        stream_turns: Arc::default(),
        availability_cache: Arc::default(),
    })
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let app = build_app(&config).await?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let relay = if config.relay {
            let nats = async_nats::connect(&config.nats_url)
                .await
                .context("connecting to NATS")?;
            let js = async_nats::jetstream::new(nats);
            ensure_stream(&js, &config.nats_prefix, config.nats_replicas).await?;
            // Its own small pool: the relay works one statement at a time, and must
            // neither wait behind commands for a connection nor take theirs.
            let relay_pool = events_schema::db::app_pool(
                &config.database_url,
                &config.app_user,
                config.app_password.as_deref(),
                2,
            )?;
            let relay = Relay {
                pool: relay_pool,
                admin_url: config.database_url.clone(),
                user: config.app_user.clone(),
                password: config.app_password.clone(),
                js,
                prefix: config.nats_prefix.clone(),
                wakeup: app.relay_wakeup.clone(),
            };
            Some(tokio::spawn(relay.run(shutdown_rx.clone())))
        } else {
            None
        };
        let notifier = config.notify_worker.then(|| {
            tokio::spawn(crate::app::notify::run_worker(
                app.clone(),
                shutdown_rx.clone(),
            ))
        });
        let planner = config.notify_worker.then(|| {
            tokio::spawn(crate::app::reminders::run_planner(
                app.clone(),
                shutdown_rx.clone(),
            ))
        });
        let sweeper = config.notify_worker.then(|| {
            tokio::spawn(crate::app::waitlist::run_sweeper(
                app.clone(),
                shutdown_rx.clone(),
            ))
        });
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        let addr = listener.local_addr()?;
        let router = router(AppState {
            app: std::sync::Arc::new(app.clone()),
        });
        let mut rx = shutdown_rx;
        let server = tokio::spawn(async move {
            let stop = async move {
                let _ = rx.wait_for(|stop| *stop).await;
            };
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, service)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        tracing::info!(%addr, "command-service listening");
        Ok(Application {
            addr,
            app,
            shutdown,
            server,
            relay,
            notifier,
            planner,
            sweeper,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// Stops accepting requests, lets in-flight ones finish, stops the relay.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        if let Some(relay) = self.relay {
            let _ = relay.await;
        }
        if let Some(notifier) = self.notifier {
            let _ = notifier.await;
        }
        if let Some(planner) = self.planner {
            let _ = planner.await;
        }
        if let Some(sweeper) = self.sweeper {
            let _ = sweeper.await;
        }
    }

    /// Waits for SIGTERM or Ctrl-C, then stops gracefully.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        events_schema::runtime::shutdown_signal().await;
        tracing::info!("shutting down");
        self.stop().await;
        Ok(())
    }
}
