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
    let reg = Registry::plain_with("shop/payment-app", "v2.1.2");
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

/// A deploy whose file name and references carry every character workflow commands and Markdown
/// tables must escape: `,`, `:` and `%` in the file name (a property), CR, LF, `%` and `|` in
/// messages (an invalid reference is quoted in its message).
fn awkward_deploy(dir: &std::path::Path, host: &str) -> std::path::PathBuf {
    let file = dir.join("deploy, 100%: v2.yaml");
    let yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: shop}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {host}/shop/payment-app:v2.1.3\n        - name: ok\n          image: {host}/shop/payment-app:latest\n        - name: bad\n          image: \"{host}/shop/50%|off\\r\\nx:1\"\n"
    );
    std::fs::write(&file, yaml).unwrap();
    file
}

fn awkward_run(format: &str, extra: &[&str]) -> (crate::common::Run, tempfile::TempDir) {
    let reg = Registry::plain();
    for tag in ["v2.1.2", "latest"] {
        seed::push(
            &reg.base_url(),
            None,
            None,
            "shop/payment-app",
            tag,
            ImageKind::OciManifest,
        );
    }
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let file = awkward_deploy(dir.path(), &host);
    let mut cmd = preflight();
    cmd.env("GITHUB_WORKSPACE", dir.path())
        .env_remove("CI_PROJECT_DIR")
        .args([
            "check",
            "--concurrency",
            "1",
            "-o",
            format,
            "--plain-http",
            &host,
        ])
        .args(extra)
        .args(["-f", path_str(&file)]);
    (run_cmd(&mut cmd), dir)
}

fn report_filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"127\.0\.0\.1(%3A|:)\d+", "[REGISTRY]"),
        (r"sha256:[0-9a-f]{64}", "[DIGEST]"),
    ]
}

#[test]
fn github_annotations_escape_percent_cr_lf_and_property_separators() {
    let (r, _dir) = awkward_run("github", &[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    // One workflow command per line: no raw CR or LF from a message breaks one in two.
    for line in r.stdout.lines() {
        assert!(
            line.starts_with("::error ")
                || line.starts_with("::warning ")
                || line.starts_with("preflight: "),
            "{line:?}"
        );
        assert!(!line.contains('\r'), "{line:?}");
    }
    assert!(
        r.stdout
            .contains("::error file=deploy%2C 100%25%3A v2.yaml,line=9,title=manifest-unknown::"),
        "file relative to GITHUB_WORKSPACE, with `,` `%` `:` escaped: {}",
        r.stdout
    );
    insta::with_settings!({ filters => report_filters() }, {
        insta::assert_snapshot!("github_annotations", r.stdout);
    });

    // --strict: the warnings fail the check, so they are errors too.
    let (r, _dir) = awkward_run("github", &["--strict"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("line=11,title=latest-tag::") && !r.stdout.contains("::warning"),
        "{}",
        r.stdout
    );
}

#[test]
fn markdown_summary_is_a_table_that_keeps_pipes_and_newlines_in_their_cells() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let (r, _deploy) = awkward_run(
        "json",
        &["--report", &format!("markdown={}", summary.display())],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.json()["summary"]["images"], 3, "JSON on stdout as asked");
    let md = std::fs::read_to_string(&summary).unwrap();
    // Every table row has its five cells: a `|` in a message is escaped, a newline is a <br>.
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(rows.len(), 2 + 3, "{md}");
    for row in &rows {
        let cells = row.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 6, "{row}");
    }
    insta::with_settings!({ filters => report_filters() }, {
        insta::assert_snapshot!("markdown_summary", md);
    });
}

#[test]
fn the_action_turns_its_inputs_into_a_check_and_writes_the_step_outputs() {
    let reg = Registry::plain_with("shop/payment-app", "v2.1.2");
    let host = reg.host();
    let workspace = tempfile::tempdir().unwrap();
    let manifests = workspace.path().join("k8s");
    std::fs::create_dir(&manifests).unwrap();
    deploy(&manifests, &host);
    let files = tempfile::tempdir().unwrap();
    let output = files.path().join("output");
    let summary = files.path().join("summary");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let mut cmd = preflight();
    cmd.arg("action")
        .current_dir(workspace.path())
        .env("GITHUB_WORKSPACE", workspace.path())
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("INPUT_MANIFESTS", "k8s/\n")
        .env("INPUT_IMAGES", format!("{host}/shop/payment-app:v2.1.2\n"))
        .env(
            "INPUT_ARGS",
            format!("--plain-http '{host}' --timeout \"10s\""),
        );
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("::error file=k8s/deploy.yaml,line=9,title=manifest-unknown::"),
        "{}",
        r.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "pullable=false\nreport=preflight-report.json\n"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace.path().join("preflight-report.json")).unwrap(),
    )
    .unwrap();
    // The image named twice (input and manifest) is checked once.
    assert_eq!(report["summary"]["images"], 2, "{report:#}");
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.starts_with("earlier step\n### ✗ preflight")
            && summary.contains("| k8s/deploy.yaml:9 |"),
        "appended, not replaced: {summary}"
    );

    // Bad inputs are bad input: exit 2, saying which.
    let mut cmd = preflight();
    cmd.arg("action")
        .env("GITHUB_WORKSPACE", workspace.path())
        .env("INPUT_ARGS", "--platform 'linux/arm64");
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unclosed '"), "{}", r.stderr);
    let mut cmd = preflight();
    cmd.arg("action")
        .env("GITHUB_WORKSPACE", workspace.path())
        .env("INPUT_IMAGES", "nginx:1.27")
        .env("INPUT_ARGS", "--no-such-flag");
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("not valid `preflight check` arguments")
            && r.stderr.contains("--no-such-flag"),
        "{}",
        r.stderr
    );
}
