//! Rough edges a new user hit on the command line, each reproduced before it was fixed: reports
//! that threw the result away, host flags that swallowed images, options shown where they do
//! nothing, durations, `--strict` without a reason, unrendered templates, CI paths.

use crate::common::{path_str, run};

#[test]
fn an_unwritable_report_path_keeps_the_result_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.sarif");
    let r = run(&[
        "check",
        "-o",
        "json",
        "--report",
        &format!("sarif={}", path_str(&ok)),
        "--report",
        "junit=/no/such/dir/x.xml",
        "Bad:Ref:X",
    ]);
    assert_eq!(r.code, 2, "still a failed run: {}", r.stderr);
    let j = r.json();
    assert_eq!(j["images"][0]["diagnosis"]["code"], "invalid-reference");
    assert!(
        r.stderr.contains("junit report") && r.stderr.contains("/no/such/dir/x.xml"),
        "names which report failed: {}",
        r.stderr
    );
    assert!(ok.exists(), "the other reports are still written");
}
