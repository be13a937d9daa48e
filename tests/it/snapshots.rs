//! The user-facing report, snapshot-tested: the JSON of a pullable and a failing image, and the
//! human text of the same run.

use crate::common::check;
use crate::common::{preflight, run_cmd};
use crate::support::registry::Registry;

fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"127\.0\.0\.1:\d+", "[REGISTRY]"),
        (r#""elapsed_ms": [0-9.]+"#, r#""elapsed_ms": "[MS]""#),
    ]
}

fn run_both() -> (String, String) {
    let reg = Registry::plain_with("shop/payment-app", "v2.1.2");
    let host = reg.host();
    let good = format!("{host}/shop/payment-app:v2.1.2");
    let bad = format!("{host}/shop/payment-app:v2.1.3");
    let json = check(&["--plain-http", &host, "--concurrency", "1", &good, &bad]);
    assert_eq!(json.code, 1);
    let mut cmd = preflight();
    cmd.args([
        "check",
        "--plain-http",
        &host,
        "--concurrency",
        "1",
        &good,
        &bad,
    ]);
    let human = run_cmd(&mut cmd);
    assert_eq!(human.code, 1);
    (json.stdout, human.stdout)
}

#[test]
fn report_of_a_pullable_and_a_missing_tag() {
    let (json, human) = run_both();
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!("json_report", json);
        insta::assert_snapshot!("human_report", human);
    });
}
