//! pantau-scoring: monthly points, scores and pay by decree rules.

use pantau_scoring::{
    app,
    config::{Config, DEFAULTS},
};

/// mimalloc: glibc's malloc costs a fifth of a busy service's CPU here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pantau_platform::health::dispatch("pantau-scoring", DEFAULTS, "PANTAU_SCORING_ADDR").await;
    let _telemetry = pantau_platform::telemetry::init("pantau-scoring")?;
    let settings = pantau_platform::Settings::load(DEFAULTS)?;
    tracing::info!(settings = %settings.describe(), "starting");
    let config = Config::from_settings(&settings)?;
    let running = app::start(config).await?;
    tracing::info!(addr = %running.addr, "scoring gRPC listening");
    pantau_platform::shutdown::signal().await;
    running.stop().await;
    Ok(())
}
