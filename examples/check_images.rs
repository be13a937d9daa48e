//! Embedding preflight: check the images named on the command line and print one line each.
//!
//! ```text
//! cargo run -p preflight-cli --example check_images -- nginx:1.27 ghcr.io/org/app:v1
//! PREFLIGHT_PLAIN_HTTP=localhost:5000 cargo run -p preflight-cli --example check_images -- localhost:5000/app:v1
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use preflight::{Checker, DockerConfig, ImageRequest};

#[tokio::main]
async fn main() -> ExitCode {
    let images: Vec<ImageRequest> = std::env::args().skip(1).map(ImageRequest::new).collect();
    if images.is_empty() {
        eprintln!("usage: check_images IMAGE...");
        return ExitCode::from(2);
    }

    let mut builder = Checker::builder().timeout(Duration::from_secs(10));
    for host in std::env::var("PREFLIGHT_PLAIN_HTTP")
        .unwrap_or_default()
        .split(',')
    {
        if !host.is_empty() {
            builder = builder.plain_http(host);
        }
    }
    // The same credentials `docker pull` would use, when there is a config.json.
    match DockerConfig::discover() {
        Ok(Some(config)) => builder = builder.credentials(Arc::new(config)),
        Ok(None) => {}
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let checker = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };

    let report = checker.check(images).await;
    for image in &report.images {
        match &image.diagnosis {
            None => println!(
                "ok    {} {}",
                image.reference,
                image.digest.as_deref().unwrap_or("")
            ),
            Some(d) => println!(
                "FAIL  {} {}: {}\n      hint: {}",
                image.reference, d.code, d.message, d.hint
            ),
        }
    }
    if report.pullable {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
