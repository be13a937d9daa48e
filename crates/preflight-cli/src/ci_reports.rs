//! Reports CI systems read: JUnit XML (one testcase per image, a suite per registry) and GitLab
//! Code Quality JSON (an issue per failing image or warning, at its manifest's file and line).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use preflight::{ImageReport, Report};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

/// The report as JUnit XML.
pub(crate) fn junit(out: &mut impl Write, report: &Report) -> io::Result<()> {
    let mut suites: BTreeMap<String, Vec<&ImageReport>> = BTreeMap::new();
    for image in &report.images {
        let registry = image
            .registry
            .clone()
            .unwrap_or_else(|| "invalid references".to_owned());
        suites.entry(registry).or_default().push(image);
    }
    let mut junit = quick_junit::Report::new("preflight");
    for (registry, images) in suites {
        let mut suite = TestSuite::new(registry.clone());
        for image in images {
            let status = match &image.diagnosis {
                None => TestCaseStatus::success(),
                Some(d) => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_type(d.code.as_str())
                        .set_message(format!("{}: {}", d.code, d.message))
                        .set_description(details(image, &d.hint));
                    s
                }
            };
            let mut case = TestCase::new(image.reference.clone(), status);
            case.set_classname(registry.clone());
            let ms: f64 = image.stages.iter().map(|s| s.elapsed_ms).sum();
            case.set_time(std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0));
            if !image.warnings.is_empty() {
                let text: Vec<String> = image
                    .warnings
                    .iter()
                    .map(|w| format!("warning {}: {}", w.code.as_str(), w.message))
                    .collect();
                case.set_system_out(text.join("\n"));
            }
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit.serialize(&mut *out).map_err(io::Error::other)?;
    writeln!(out)
}

/// The hint, then where the image is used and with what credentials, for a failure's text.
fn details(image: &ImageReport, hint: &str) -> String {
    let mut text = format!("hint: {hint}");
    for s in &image.sources {
        let _ = write!(text, "\nin {}", crate::render::source(s));
    }
    if let Some(c) = &image.credential {
        let _ = write!(text, "\ncredentials: {c}");
    }
    text
}

/// The report as GitLab Code Quality JSON: merge requests show each issue on its manifest line.
/// Images named on the command line have no file: they point at the pipeline definition.
pub(crate) fn gitlab(out: &mut impl Write, report: &Report) -> io::Result<()> {
    let mut issues = Vec::new();
    for image in &report.images {
        let mut places: Vec<(String, usize)> = image
            .sources
            .iter()
            .map(|s| (s.file.clone(), s.line.unwrap_or(1)))
            .collect();
        if places.is_empty() {
            places.push((".gitlab-ci.yml".to_owned(), 1));
        }
        let mut findings: Vec<(&str, String, &str)> = Vec::new();
        if let Some(d) = &image.diagnosis {
            findings.push((
                d.code.as_str(),
                format!(
                    "{} — {}: {} (hint: {})",
                    image.reference, d.code, d.message, d.hint
                ),
                "critical",
            ));
        }
        for w in &image.warnings {
            findings.push((
                w.code.as_str(),
                format!("{} — {}: {}", image.reference, w.code.as_str(), w.message),
                "minor",
            ));
        }
        for (code, description, severity) in findings {
            for (path, line) in &places {
                issues.push(serde_json::json!({
                    "description": description,
                    "check_name": format!("preflight/{code}"),
                    "fingerprint": fingerprint(&[code, &image.reference, path, &line.to_string()]),
                    "severity": severity,
                    "location": { "path": path, "lines": { "begin": line } },
                }));
            }
        }
    }
    serde_json::to_writer_pretty(&mut *out, &issues).map_err(io::Error::other)?;
    writeln!(out)
}

/// A stable fingerprint (FNV-1a, 128 bits as two 64-bit halves), so GitLab can tell an issue
/// that stays from one that is new.
fn fingerprint(parts: &[&str]) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for p in parts {
        for byte in p.bytes().chain(std::iter::once(0)) {
            a = (a ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            b = (b ^ u64::from(byte))
                .wrapping_mul(0x0000_0100_0000_01b3)
                .rotate_left(5);
        }
    }
    format!("{a:016x}{b:016x}")
}
