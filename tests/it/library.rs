//! The library used directly, as an embedding program would: a long-lived `Checker`.

use preflight::{Checker, Code, DnsConfig, ImageRequest};

use crate::support::registry::Registry;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_lived_checker_does_not_keep_old_answers() {
    let reg = Registry::plain_with("shop/app", "v1");
    let host = reg.host();
    let checker = Checker::builder()
        .plain_http(host.as_str())
        .build()
        .unwrap();
    let image = format!("{host}/shop/app:v1");

    let first = checker.check(vec![ImageRequest::new(image.as_str())]).await;
    assert!(first.pullable, "{first:?}");
    assert!(
        first.images[0]
            .digest
            .as_deref()
            .unwrap()
            .starts_with("sha256:")
    );

    // The registry goes away: the next check must see it, not reuse the first answer.
    drop(reg);
    let second = checker.check_one(&image).await;
    assert_eq!(second.diagnosis.map(|d| d.code), Some(Code::TcpRefused));
}

#[tokio::test]
async fn the_report_is_data_that_serializes_to_the_contract() {
    let checker = Checker::builder().build().unwrap();
    let report = checker.check(vec!["Not/A:Reference:At:All".into()]).await;
    assert!(!report.pullable);
    let json = serde_json::to_value(&report).unwrap();
    crate::common::assert_valid_output("check", &json.to_string());
    assert_eq!(json["version"], 1);
    assert_eq!(json["summary"]["not_pullable"], 1);
    assert_eq!(json["images"][0]["diagnosis"]["code"], "invalid-reference");
    assert_eq!(json["images"][0]["diagnosis"]["stage"], "reference");
}

/// Building a `Checker` reads no resolver configuration: without one, IP literals are checked and
/// each named registry is `dns-config`, in the same check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checker_builds_without_a_resolver_configuration() {
    let reg = Registry::plain_with("shop/app", "v1");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("resolv.conf");
    let host = reg.host();
    let named = format!("registry.preflight.test:{}", reg.addr.port());
    let checker = Checker::builder()
        .dns(DnsConfig::ResolvConf(missing.clone()))
        .plain_http(host.as_str())
        .plain_http(named.as_str())
        .build()
        .unwrap();
    let report = checker
        .check(vec![
            ImageRequest::new(format!("{host}/shop/app:v1")),
            ImageRequest::new(format!("{named}/shop/app:v1")),
        ])
        .await;
    let by_registry = |r: &str| {
        report
            .images
            .iter()
            .find(|i| i.registry.as_deref() == Some(r))
            .unwrap()
    };
    assert!(by_registry(&host).pullable, "{report:?}");
    let d = by_registry(&named).diagnosis.as_ref().unwrap();
    assert_eq!(d.code, Code::DnsConfig);
    assert!(d.message.contains(&missing.display().to_string()), "{d:?}");
}
