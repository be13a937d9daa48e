//! Reports CI systems read: JUnit XML (one testcase per image, a suite per registry), GitLab
//! Code Quality JSON (an issue per failing image or warning, at its manifest's file and line),
//! SARIF (the same findings, for code scanning), GitHub Actions workflow commands (the same
//! findings as annotations on the manifest lines of a pull request) and a Markdown summary (a
//! table of the images, for a job summary or a merge-request note).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

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

/// One thing to show on a manifest line: a failure or a warning of one image.
struct Finding<'a> {
    image: &'a ImageReport,
    code: &'static str,
    /// The reference, the code and the message (and the hint, for a failure).
    text: String,
    failure: bool,
}

/// Every failure and warning of the report, in report order.
fn findings(report: &Report) -> Vec<Finding<'_>> {
    let mut out = Vec::new();
    for image in &report.images {
        if let Some(d) = &image.diagnosis {
            out.push(Finding {
                image,
                code: d.code.as_str(),
                text: format!(
                    "{} — {}: {} (hint: {})",
                    image.reference, d.code, d.message, d.hint
                ),
                failure: true,
            });
        }
        for w in &image.warnings {
            out.push(Finding {
                image,
                code: w.code.as_str(),
                text: format!("{} — {}: {}", image.reference, w.code.as_str(), w.message),
                failure: false,
            });
        }
    }
    out
}

/// The manifest files and lines where an image is used, the files relative to the project.
fn places(image: &ImageReport, root: &ProjectRoot) -> Vec<(String, usize)> {
    image
        .sources
        .iter()
        .map(|s| (root.relative(&s.file), s.line.unwrap_or(1)))
        .collect()
}

/// The directory CI systems show report paths from: GitLab's checkout (`CI_PROJECT_DIR`), else
/// GitHub's (`GITHUB_WORKSPACE`), else the current directory. Code Quality and SARIF paths are
/// relative to it, whether the manifests were named absolute or from elsewhere.
#[derive(Debug)]
pub(crate) struct ProjectRoot {
    root: PathBuf,
    cwd: PathBuf,
}

impl ProjectRoot {
    pub(crate) fn from_env() -> ProjectRoot {
        ProjectRoot::from_vars(&["CI_PROJECT_DIR", "GITHUB_WORKSPACE"])
    }

    /// For GitHub's own formats: its checkout first, should a GitLab variable leak into the job.
    pub(crate) fn for_github() -> ProjectRoot {
        ProjectRoot::from_vars(&["GITHUB_WORKSPACE", "CI_PROJECT_DIR"])
    }

    fn from_vars(vars: &[&str]) -> ProjectRoot {
        let cwd = std::env::current_dir().unwrap_or_default();
        let root = vars
            .iter()
            .filter_map(std::env::var_os)
            .find(|v| !v.is_empty())
            .map_or_else(|| cwd.clone(), |v| cwd.join(v));
        ProjectRoot { root, cwd }
    }

    /// `file` relative to the root; as given when it is outside (or not a file, like `<stdin>`).
    fn relative(&self, file: &str) -> String {
        if file.starts_with('<') {
            return file.to_owned();
        }
        let path = normalize(&self.cwd.join(file));
        let root = normalize(&self.root);
        // Lexically first; then with symbolic links resolved, for a root or a current directory
        // named through one (`/builds` → `/mnt/builds`).
        let resolved = |p: &Path| std::fs::canonicalize(p).ok();
        let found = path
            .strip_prefix(&root)
            .ok()
            .map(Path::to_path_buf)
            .or_else(|| {
                let (p, r) = (resolved(&path)?, resolved(&root)?);
                p.strip_prefix(r).ok().map(Path::to_path_buf)
            });
        match found {
            Some(rel) if !rel.as_os_str().is_empty() => {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                parts.join("/")
            }
            _ => file.to_owned(),
        }
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The report as GitLab Code Quality JSON: merge requests show each issue on its manifest line.
/// Images named on the command line have no file: they point at the pipeline definition.
pub(crate) fn gitlab(out: &mut impl Write, report: &Report, root: &ProjectRoot) -> io::Result<()> {
    let mut issues = Vec::new();
    for f in findings(report) {
        let mut places = places(f.image, root);
        if places.is_empty() {
            places.push((".gitlab-ci.yml".to_owned(), 1));
        }
        for (path, line) in places {
            issues.push(serde_json::json!({
                "description": f.text,
                "check_name": format!("preflight/{}", f.code),
                "fingerprint": fingerprint(&[f.code, &f.image.reference, &path, &line.to_string()]),
                "severity": if f.failure { "critical" } else { "minor" },
                "location": { "path": path, "lines": { "begin": line } },
            }));
        }
    }
    serde_json::to_writer_pretty(&mut *out, &issues).map_err(io::Error::other)?;
    writeln!(out)
}

/// The report as SARIF 2.1.0, for code scanning (GitHub and others): a rule per code, a result
/// per failure (`error`) or warning (`warning`) at each manifest line where the image is used.
pub(crate) fn sarif(out: &mut impl Write, report: &Report, root: &ProjectRoot) -> io::Result<()> {
    let findings = findings(report);
    let mut rules: Vec<&str> = findings.iter().map(|f| f.code).collect();
    rules.sort_unstable();
    rules.dedup();
    let mut results = Vec::new();
    for f in &findings {
        // A result per place, as code scanning shows one location per result; an image named on
        // the command line has no file, and gets one result without a location.
        let places = places(f.image, root);
        let located = if places.is_empty() {
            vec![None]
        } else {
            places.into_iter().map(Some).collect()
        };
        for place in located {
            let (locations, fingerprint) = match place {
                Some((path, line)) => (
                    serde_json::json!([{ "physicalLocation": {
                        "artifactLocation": { "uri": path },
                        "region": { "startLine": line },
                    }}]),
                    fingerprint(&[f.code, &f.image.reference, &path, &line.to_string()]),
                ),
                None => (
                    serde_json::json!([]),
                    fingerprint(&[f.code, &f.image.reference]),
                ),
            };
            results.push(serde_json::json!({
                "ruleId": f.code,
                "ruleIndex": rules.binary_search(&f.code).unwrap_or_default(),
                "level": if f.failure { "error" } else { "warning" },
                "message": { "text": f.text },
                "locations": locations,
                "partialFingerprints": { "preflight/v1": fingerprint },
            }));
        }
    }
    let rules: Vec<serde_json::Value> = rules
        .iter()
        .map(|code| {
            serde_json::json!({
                "id": code,
                "name": code,
                "shortDescription": { "text": format!("preflight {code}") },
            })
        })
        .collect();
    let sarif = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "preflight",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &sarif).map_err(io::Error::other)?;
    writeln!(out)
}

/// The report as GitHub Actions workflow commands: `::error` for a failure (and, with `strict`, a
/// warning), `::warning` for a warning, one per manifest line where the image is used (`file=`,
/// `line=`, relative to the project root) so the pull request shows it there; an image named on
/// the command line gets one without a file. A plain summary line ends the output.
pub(crate) fn github(
    out: &mut impl Write,
    report: &Report,
    root: &ProjectRoot,
    strict: bool,
) -> io::Result<()> {
    for f in findings(report) {
        let command = if f.failure || strict {
            "error"
        } else {
            "warning"
        };
        let message = match (&f.image.diagnosis, f.failure) {
            (Some(d), true) => format!("{}: {}\nhint: {}", f.image.reference, d.message, d.hint),
            _ => f.text.clone(),
        };
        let places = places(f.image, root);
        let located = if places.is_empty() {
            vec![None]
        } else {
            places.into_iter().map(Some).collect()
        };
        for place in located {
            let mut properties = Vec::new();
            if let Some((file, line)) = place {
                properties.push(format!("file={}", escape_property(&file)));
                properties.push(format!("line={line}"));
            }
            properties.push(format!("title={}", escape_property(f.code)));
            writeln!(
                out,
                "::{command} {}::{}",
                properties.join(","),
                escape_data(&message)
            )?;
        }
    }
    let s = &report.summary;
    writeln!(
        out,
        "preflight: {} image{}, {} pullable, {} not pullable, {} warning{}",
        s.images,
        if s.images == 1 { "" } else { "s" },
        s.pullable,
        s.not_pullable,
        s.warnings,
        if s.warnings == 1 { "" } else { "s" }
    )
}

/// A workflow command's message: `%`, CR and LF are percent-encoded (the runner decodes them; a
/// raw newline would end the command).
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as [`escape_data`], and `:` and `,`, which separate the
/// properties from each other and from the message.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The report as a Markdown summary: a heading with the verdict, then a table with a row per
/// image (verdict, image, code and warnings, where it is used, what to do). GitHub's job summary
/// (`$GITHUB_STEP_SUMMARY`) and GitLab notes both render it.
pub(crate) fn markdown(
    out: &mut impl Write,
    report: &Report,
    root: &ProjectRoot,
    strict: bool,
) -> io::Result<()> {
    let s = &report.summary;
    let failed = !report.pullable || (strict && s.warnings > 0);
    let verdict = if failed {
        "✗ preflight: the deploy would not pull"
    } else {
        "✓ preflight: every image can be pulled"
    };
    writeln!(out, "### {verdict}\n")?;
    writeln!(
        out,
        "{} image{}: {} pullable, {} not pullable, {} warning{}{}\n",
        s.images,
        if s.images == 1 { "" } else { "s" },
        s.pullable,
        s.not_pullable,
        s.warnings,
        if s.warnings == 1 { "" } else { "s" },
        if strict && s.warnings > 0 {
            " (warnings fail the check: --strict)"
        } else {
            ""
        }
    )?;
    if report.images.is_empty() {
        return Ok(());
    }
    writeln!(out, "| | image | code | where | hint |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    for image in &report.images {
        let mark = match (&image.diagnosis, image.warnings.is_empty()) {
            (Some(_), _) => "✗",
            (None, true) => "✓",
            (None, false) => "⚠",
        };
        let mut codes = Vec::new();
        let mut hints = Vec::new();
        if let Some(d) = &image.diagnosis {
            codes.push(format!("`{}` {}", d.code, cell(&d.message)));
            hints.push(cell(&d.hint));
        }
        for w in &image.warnings {
            codes.push(format!("⚠ `{}` {}", w.code.as_str(), cell(&w.message)));
        }
        if codes.is_empty() {
            codes.push(
                image
                    .digest
                    .as_deref()
                    .map_or_else(|| "pullable".to_owned(), cell),
            );
        }
        let places: Vec<String> = places(image, root)
            .into_iter()
            .map(|(file, line)| cell(&format!("{file}:{line}")))
            .collect();
        writeln!(
            out,
            "| {mark} | {} | {} | {} | {} |",
            cell(&image.reference),
            codes.join("<br>"),
            places.join("<br>"),
            hints.join("<br>")
        )?;
    }
    Ok(())
}

/// Text for a Markdown table cell: a `|` would end the cell and a newline the row; HTML and
/// Markdown markup in a message or a manifest's reference must show as written.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' => out.push_str("\\|"),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\n' => out.push_str("<br>"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_paths_from_the_project_root() {
        let root = ProjectRoot {
            root: PathBuf::from("/builds/x"),
            cwd: PathBuf::from("/builds/x/deploy"),
        };
        for (given, shown) in [
            ("/builds/x/m.yaml", "m.yaml"),
            ("./m.yaml", "deploy/m.yaml"),
            ("../k8s/./a/m.yaml", "k8s/a/m.yaml"),
            ("/etc/m.yaml", "/etc/m.yaml"),
            ("../../y/m.yaml", "../../y/m.yaml"),
            ("/builds/xy/m.yaml", "/builds/xy/m.yaml"),
            ("<stdin>", "<stdin>"),
        ] {
            assert_eq!(root.relative(given), shown, "{given}");
        }
    }

    #[test]
    fn workflow_command_escaping() {
        assert_eq!(escape_data("50% a\r\nb:c,d"), "50%25 a%0D%0Ab:c,d");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn markdown_cells_keep_to_their_cell() {
        assert_eq!(cell("a|b\r\nc\nd"), "a\\|b<br>c<br>d");
        assert_eq!(
            cell("<stdin> & `x` *y* my_app"),
            "&lt;stdin&gt; &amp; \\`x\\` \\*y\\* my\\_app"
        );
    }
}
