use clap::Parser;
use clap::error::ErrorKind;
use herald::cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: .env: {e}");
        return ExitCode::from(2);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ValueValidation | ErrorKind::InvalidValue
            ) =>
        {
            // One line naming the setting, not clap's usage block.
            eprintln!(
                "{}",
                e.to_string()
                    .lines()
                    .next()
                    .unwrap_or("error: invalid setting")
            );
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    herald::telemetry::init(cli.log_format);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(herald::commands::dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
