//! `steward`: the command line. Parses flags, loads settings, starts
//! telemetry and hands over to the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use steward::app::Application;
use steward::config::{Role, Secret, Settings};
use steward::core::clients::NewClient;
use steward::core::users::NewUser;
use steward::core::{Core, CorePolicy, SystemClock};
use steward::domain::Error;
use steward::domain::secret::OsEntropy;
use steward::store::{DatabaseLimits, Store};

#[derive(Parser)]
#[command(
    name = "steward",
    version,
    about = "A User-Managed Access (UMA) authorization server"
)]
struct Cli {
    /// TOML settings file (overridden by STEWARD_* environment variables).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP façade and the gRPC core (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Drive a running Steward with load and compare it with no-op baselines.
    Bench(steward::loadtest::BenchArgs),
    /// Manage OAuth clients.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Manage the token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage Steward's own user accounts (for its sign-in page).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Sign new tokens with a new key now. The old key stays published and
    /// verifying until every token it signed has expired; running servers
    /// switch within one cache refresh.
    Rotate,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from standard input (one
    /// line), never from the command line, so it stays out of shell history
    /// and the process list.
    Create {
        /// The username (also the user's subject in Steward's tokens).
        #[arg(long)]
        username: String,
        /// Read the password from standard input (required).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The user's email address (a claim policies can test).
        #[arg(long)]
        email: Option<String>,
        /// Mark the email address as verified.
        #[arg(long)]
        email_verified: bool,
        /// The user's display name.
        #[arg(long)]
        name: Option<String>,
        /// A group the user belongs to (repeatable).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
    },
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Which parts to run.
    #[arg(long, value_enum)]
    role: Option<Role>,
    /// The core's gRPC URL, for `--role facade`.
    #[arg(long, value_name = "URL")]
    core_url: Option<String>,
    /// HTTP listen address (overrides STEWARD_HTTP_ADDR).
    #[arg(long, value_name = "ADDR")]
    http_addr: Option<SocketAddr>,
    /// gRPC listen address (overrides STEWARD_GRPC_ADDR).
    #[arg(long, value_name = "ADDR")]
    grpc_addr: Option<SocketAddr>,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client and print it, with its one-time secret, as JSON.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// The resource owner this client acts for (its PATs' subject).
        #[arg(long, value_name = "SUBJECT")]
        owner: Option<String>,
        /// A scope the client may be granted (repeatable; default uma_protection).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// A grant type the client may use (repeatable; default client_credentials).
        #[arg(long = "grant-type", value_name = "TYPE")]
        grant_types: Vec<String>,
        /// A redirect URI (repeatable).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// A public client (no secret; authorization_code with PKCE only).
        #[arg(long)]
        public: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("steward: {}", e.description());
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => {
            if let Some(role) = args.role {
                settings.role = role;
            }
            if args.core_url.is_some() {
                settings.core_url = args.core_url;
            }
            if let Some(addr) = args.http_addr {
                settings.http_addr = addr;
            }
            if let Some(addr) = args.grpc_addr {
                settings.grpc_addr = addr;
            }
            serve(settings).await
        }
        Command::Bench(args) => steward::loadtest::run(args).await,
        Command::Migrate => {
            let store = Store::connect_with(
                settings.database_url.expose(),
                &DatabaseLimits::from_settings(&settings),
            )
            .await?;
            store.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Client {
            command:
                ClientCommand::Create {
                    name,
                    owner,
                    scopes,
                    grant_types,
                    redirect_uris,
                    public,
                },
        } => {
            let core = offline_core(&settings).await?;
            let created = core
                .create_client(NewClient {
                    name,
                    owner,
                    scopes,
                    grant_types,
                    redirect_uris,
                    public,
                    ..NewClient::default()
                })
                .await?;
            let json = serde_json::to_string(&created)
                .map_err(|e| Error::Internal(format!("cannot render client: {e}")))?;
            println!("{json}");
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let core = offline_core(&settings).await?;
            let kid = core.rotate_keys().await?;
            println!("signing key rotated: new kid {kid}");
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Create {
                    username,
                    password_stdin: _,
                    email,
                    email_verified,
                    name,
                    groups,
                },
        } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .map_err(|e| Error::invalid_request(format!("cannot read the password: {e}")))?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            let mut claims = serde_json::Map::new();
            if let Some(email) = email {
                claims.insert("email".into(), email.into());
                claims.insert("email_verified".into(), email_verified.into());
            }
            if let Some(name) = name {
                claims.insert("name".into(), name.into());
            }
            if !groups.is_empty() {
                claims.insert("groups".into(), groups.into());
            }
            let core = offline_core(&settings).await?;
            core.create_user(NewUser {
                username: username.clone(),
                password: Secret::new(password),
                claims,
            })
            .await?;
            println!("user {username} created");
            Ok(())
        }
    }
}

/// A core on the configured database, for one administrative command.
async fn offline_core(settings: &Settings) -> Result<Core, Error> {
    let store = Store::connect_with(
        settings.database_url.expose(),
        &DatabaseLimits::from_settings(settings),
    )
    .await?;
    store.migrate().await?;
    let issuer = settings
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.http_addr));
    let mut policy = CorePolicy::from_settings(settings, issuer);
    // Administrative commands print their own results on stdout.
    policy.audit = steward::core::audit::AuditSink::Off;
    store.refresh_cache().await?;
    Core::new(store, policy, Arc::new(SystemClock), Arc::new(OsEntropy)).await
}

async fn serve(settings: Settings) -> Result<(), Error> {
    let _telemetry = steward::telemetry::init(&settings)?;
    // Handlers are in place before the ports are announced, so a SIGTERM
    // that follows the banner is always a graceful shutdown.
    let shutdown = shutdown_signal()?;
    let settings_tls = settings.serves_tls();
    let app = Application::build(settings).await?;
    let http = app
        .http_addr()
        .map_or_else(|| "-".to_string(), |a| a.to_string());
    let grpc = app
        .grpc_addr()
        .map_or_else(|| "-".to_string(), |a| a.to_string());
    let health = app
        .health_addr()
        .map_or_else(|| "-".to_string(), |a| a.to_string());
    println!(
        "steward listening: http={http} grpc={grpc} health={health} tls={} issuer={}",
        if settings_tls { "on" } else { "off" },
        app.issuer()
    );
    tracing::info!(%http, %grpc, issuer = app.issuer(), "steward started");
    app.run(shutdown).await
}

/// Registers SIGINT and SIGTERM handlers now; the future completes on either.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let register = |kind: SignalKind| {
        signal(kind).map_err(|e| Error::Internal(format!("cannot install a signal handler: {e}")))
    };
    let mut interrupt = register(SignalKind::interrupt())?;
    let mut terminate = register(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static, Error> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
