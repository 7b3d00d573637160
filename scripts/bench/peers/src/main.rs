// `hk-bench-kafka-backup <config.yaml>`: one backup or restore run of kafka-backup's engine, as its CLI's `backup`
// and `restore` commands do it (the config's `mode` says which), then exit.
use kafka_backup_core::{backup::BackupEngine, config::Mode, Config, RestoreEngine};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: hk-bench-kafka-backup CONFIG"))?;
    let config: Config = serde_yaml::from_str(&std::fs::read_to_string(&path)?)?;
    if config.mode == Mode::Backup {
        BackupEngine::new(config).await?.run().await?;
    } else {
        let report = RestoreEngine::new(config)?.run().await?;
        eprintln!("restored {} records", report.records_restored);
    }
    Ok(())
}
