//! Reports CI systems read: `JUnit` (parsed back with a `JUnit` parser), GitLab Code Quality and
//! SARIF (their schemas' required fields), several written in one run with `--report`.

use crate::common::{path_str, preflight, run, run_cmd};
use crate::support::registry::Registry;
use crate::support::seed::{self, ImageKind};

fn deploy(dir: &std::path::Path, host: &str) -> std::path::PathBuf {
    let file = dir.join("deploy.yaml");
    let yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: payment-app, namespace: shop}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {host}/shop/payment-app:v2.1.3\n        - name: ok\n          image: {host}/shop/payment-app:v2.1.2\n"
    );
    std::fs::write(&file, yaml).unwrap();
    file
}

#[test]
fn junit_and_code_quality_in_one_run() {
    let reg = Registry::plain();
    seed::push(
        &reg.base_url(),
        None,
        None,
        "shop/payment-app",
        "v2.1.2",
        ImageKind::OciManifest,
    );
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let file = deploy(dir.path(), &host);
    let junit_path = dir.path().join("preflight.xml");
    let quality_path = dir.path().join("codequality.json");
    let sarif_path = dir.path().join("preflight.sarif");
    let mut cmd = preflight();
    cmd.args(["check", "--plain-http", &host, "-f", path_str(&file)])
        .arg("--report")
        .arg(format!("junit={}", junit_path.display()))
        .arg("--report")
        .arg(format!("gitlab={}", quality_path.display()))
        .arg("--report")
        .arg(format!("sarif={}", sarif_path.display()));
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("manifest-unknown"),
        "human output on stdout: {}",
        r.stdout
    );

    let xml = std::fs::read_to_string(&junit_path).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit");
    assert_eq!(junit.test_suites.len(), 1);
    let suite = &junit.test_suites[0];
    assert_eq!(suite.name.as_str(), host);
    assert_eq!(suite.test_cases.len(), 2);
    assert_eq!(suite.failures, 1);
    let failed = suite
        .test_cases
        .iter()
        .find(|c| c.name.as_str().ends_with(":v2.1.3"))
        .unwrap();
    match &failed.status {
        quick_junit::TestCaseStatus::NonSuccess {
            message,
            ty,
            description,
            ..
        } => {
            assert_eq!(
                ty.as_ref().map(quick_junit::XmlString::as_str),
                Some("manifest-unknown")
            );
            assert!(
                message
                    .as_ref()
                    .unwrap()
                    .as_str()
                    .contains("tag v2.1.3 does not exist")
            );
            let text = description.as_ref().unwrap().as_str();
            assert!(
                text.contains("did you mean v2.1.2") && text.contains("deploy.yaml:9"),
                "{text}"
            );
        }
        other => panic!("not a failure: {other:?}"),
    }

    let quality: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&quality_path).unwrap()).unwrap();
    let issues = quality.as_array().unwrap();
    assert_eq!(issues.len(), 1, "{quality}");
    let issue = &issues[0];
    assert_eq!(issue["check_name"], "preflight/manifest-unknown");
    assert_eq!(issue["severity"], "critical");
    assert!(
        issue["location"]["path"]
            .as_str()
            .unwrap()
            .ends_with("deploy.yaml")
    );
    assert_eq!(issue["location"]["lines"]["begin"], 9);
    assert_eq!(issue["fingerprint"].as_str().unwrap().len(), 32);
    assert!(issue["description"].as_str().unwrap().contains("v2.1.3"));

    // SARIF 2.1.0: the fields code scanning requires, and the same finding at the same line.
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif_path).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run0 = &sarif["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "preflight");
    assert_eq!(run0["tool"]["driver"]["rules"][0]["id"], "manifest-unknown");
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{sarif}");
    assert_eq!(results[0]["ruleId"], "manifest-unknown");
    assert_eq!(results[0]["ruleIndex"], 0);
    assert_eq!(results[0]["level"], "error");
    assert!(
        results[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("did you mean v2.1.2")
    );
    let location = &results[0]["locations"][0]["physicalLocation"];
    assert!(
        location["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("deploy.yaml")
    );
    assert_eq!(location["region"]["startLine"], 9);

    // The same run again gives the same fingerprints, so GitLab sees the same issue.
    let r2 = run(&[
        "check",
        "-o",
        "gitlab",
        "--plain-http",
        &host,
        "-f",
        path_str(&file),
    ]);
    let again: serde_json::Value = serde_json::from_str(&r2.stdout).unwrap();
    assert_eq!(again[0]["fingerprint"], issue["fingerprint"]);
}

#[test]
fn ci_formats_are_for_check_only_and_bad_reports_exit_2() {
    let r = run(&["images", "-o", "junit", "nginx"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("preflight check"), "{}", r.stderr);
    let r = run(&["check", "--report", "xml=out.xml", "nginx"]);
    assert_eq!(r.code, 2);
    let r = run(&[
        "check",
        "--report",
        "junit=/nonexistent/dir/out.xml",
        "Bad:Ref:X",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("/nonexistent/dir/out.xml"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_image_used_in_two_places_is_reported_at_both_and_a_command_line_image_without_a_file() {
    let reg = Registry::plain();
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deploy.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: {host}/shop/app:v1\n        - name: b\n          image: {host}/shop/app:v1\n"
        ),
    )
    .unwrap();
    let args = |format| {
        run(&[
            "check",
            "-o",
            format,
            "--plain-http",
            &host,
            "-f",
            path_str(&file),
            &format!("{host}/shop/other:v1"),
        ])
    };

    let r = args("sarif");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let sarif: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let lines: Vec<Option<u64>> = results
        .iter()
        .map(|r| r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64())
        .collect();
    assert_eq!(lines, [None, Some(9), Some(11)], "{sarif:#}");
    assert_eq!(results[0]["locations"], serde_json::json!([]), "{sarif:#}");
    let fingerprints: std::collections::HashSet<&str> = results
        .iter()
        .map(|r| r["partialFingerprints"]["preflight/v1"].as_str().unwrap())
        .collect();
    assert_eq!(fingerprints.len(), 3, "one per place: {sarif:#}");

    let r = args("gitlab");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let issues: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let places: Vec<(String, u64)> = issues
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let path = i["location"]["path"].as_str().unwrap();
            let name = path.rsplit('/').next().unwrap().to_owned();
            (name, i["location"]["lines"]["begin"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        places,
        [
            (".gitlab-ci.yml".to_owned(), 1),
            ("deploy.yaml".to_owned(), 9),
            ("deploy.yaml".to_owned(), 11),
        ],
        "{issues:#}"
    );
}
