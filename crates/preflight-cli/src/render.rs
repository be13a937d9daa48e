//! Renders a [`Report`]: text for people, JSON for programs. Rendering only — no decisions.

use std::fmt::Write as _;
use std::io::{self, Write};

use preflight::plan::Inventory;
use preflight::report::{HubBudget, RegistryReport, StageResult};
use preflight::{ImageReport, Report};

/// How human text is drawn: ANSI colour only when asked (a terminal without `NO_COLOR`), and
/// in quiet mode no line for an image that is fine.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Style {
    pub(crate) color: bool,
    pub(crate) quiet: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn ok(self, text: &str) -> String {
        self.paint("32", text)
    }
    fn bad(self, text: &str) -> String {
        self.paint("1;31", text)
    }
    fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }
    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// One line per image (✓ pullable, ⚠ pullable with warnings, ✗ not), then each failure with its
/// stage, message and `hint:`, the warnings (with `strict`, which of them fail the check), and a
/// summary line.
pub(crate) fn human(
    out: &mut impl Write,
    report: &Report,
    notes: &[String],
    style: Style,
    strict: bool,
) -> io::Result<()> {
    for image in &report.images {
        if style.quiet && image.pullable && image.warnings.is_empty() {
            continue;
        }
        line(out, image, style)?;
    }
    let failed: Vec<&ImageReport> = report.images.iter().filter(|i| !i.pullable).collect();
    for image in &failed {
        writeln!(out)?;
        if let Some(d) = &image.diagnosis {
            writeln!(
                out,
                "{} {} — {} (stage {})",
                style.bad("✗"),
                image.reference,
                style.bad(d.code.as_str()),
                d.stage
            )?;
            writeln!(out, "  {}", d.message)?;
            for s in &image.sources {
                writeln!(out, "  in {}", source(s))?;
            }
            writeln!(
                out,
                "  credentials: {}",
                image.credential.as_deref().unwrap_or("none (anonymous)")
            )?;
            writeln!(out, "  {} {}", style.ok("hint:"), d.hint)?;
        }
    }
    let warned: Vec<&ImageReport> = report
        .images
        .iter()
        .filter(|i| !i.warnings.is_empty())
        .collect();
    if !warned.is_empty() {
        writeln!(out)?;
        for image in &warned {
            for w in &image.warnings {
                writeln!(
                    out,
                    "{} {} — {}: {}",
                    style.warn("⚠"),
                    image.reference,
                    style.warn(w.code.as_str()),
                    w.message
                )?;
            }
        }
    }
    if strict && !warned.is_empty() {
        writeln!(out)?;
        for (image, code) in strict_failures(report) {
            writeln!(
                out,
                "{} {image} — {} fails the check under --strict",
                style.bad("✗"),
                style.bad(code)
            )?;
        }
    }
    for n in notes {
        writeln!(out, "note: {n}")?;
    }
    let s = &report.summary;
    writeln!(out)?;
    write!(
        out,
        "{} image{}: {} pullable, {} not pullable, {} warning{}",
        s.images,
        plural(s.images),
        s.pullable,
        s.not_pullable,
        s.warnings,
        plural(s.warnings)
    )?;
    if s.hub_pulls_spent > 0 {
        write!(
            out,
            ", {} Docker Hub pull{} spent",
            s.hub_pulls_spent,
            plural(usize::try_from(s.hub_pulls_spent).unwrap_or(2))
        )?;
    }
    // Whose pull the verdicts predict (--runtime): the same for every image of a check.
    if let Some(runtime) = report.images.iter().find_map(|i| i.runtime.as_deref()) {
        write!(out, " (as {runtime} pulls)")?;
    }
    writeln!(out)
}

/// The warnings that fail a check under `--strict`: (image, code).
pub(crate) fn strict_failures(report: &Report) -> impl Iterator<Item = (&str, &'static str)> {
    report.images.iter().flat_map(|i| {
        i.warnings
            .iter()
            .map(|w| (i.reference.as_str(), w.code.as_str()))
    })
}

fn line(out: &mut impl Write, image: &ImageReport, style: Style) -> io::Result<()> {
    match &image.diagnosis {
        None => {
            let digest = image.digest.as_deref().unwrap_or("(no digest sent)");
            let via = image
                .credential
                .as_deref()
                .map(|c| format!(" via {c}"))
                .unwrap_or_default();
            let mark = if image.warnings.is_empty() {
                style.ok("✓")
            } else {
                style.warn("⚠")
            };
            writeln!(
                out,
                "{mark} {}  {}",
                image.reference,
                style.dim(&format!("{digest}{via}"))
            )
        }
        Some(d) => writeln!(
            out,
            "{} {}  {}",
            style.bad("✗"),
            image.reference,
            style.bad(d.code.as_str())
        ),
    }
}

pub(crate) fn source(s: &preflight::Source) -> String {
    let mut text = s.file.clone();
    if let Some(l) = s.line {
        let _ = write!(text, ":{l}");
    }
    if let Some(o) = &s.object {
        let _ = write!(text, " {o}");
    }
    if let Some(c) = &s.container {
        let _ = write!(text, " container {c}");
    }
    text
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What `preflight images` found: one line per image, then its sources and credentials.
/// Quiet: only the images that are invalid or warn, and the summary.
pub(crate) fn inventory_human(
    out: &mut impl Write,
    inventory: &Inventory,
    style: Style,
) -> io::Result<()> {
    for image in &inventory.images {
        if style.quiet && image.diagnosis.is_none() && image.warnings.is_empty() {
            continue;
        }
        let name = image.canonical.as_deref().unwrap_or(&image.reference);
        match &image.diagnosis {
            Some(d) => writeln!(
                out,
                "{} {}  {}: {}",
                style.bad("✗"),
                image.reference,
                style.bad(d.code.as_str()),
                d.message
            )?,
            None => writeln!(out, "  {name}")?,
        }
        for s in &image.sources {
            writeln!(out, "    in {}", source(s))?;
        }
        if !image.credentials.is_empty() {
            writeln!(
                out,
                "    credentials: {}",
                image.credentials.join(", then ")
            )?;
        }
        if !image.credential_providers.is_empty() {
            writeln!(
                out,
                "    credential providers (asked by `check`, not run here): {}",
                image.credential_providers.join(", then ")
            )?;
        }
        for w in &image.warnings {
            writeln!(
                out,
                "    {} {}: {}",
                style.warn("⚠"),
                style.warn(w.code.as_str()),
                w.message
            )?;
        }
    }
    let s = &inventory.summary;
    writeln!(
        out,
        "\n{} image{}, {} invalid, {} warning{}",
        s.images,
        plural(s.images),
        s.invalid,
        s.warnings,
        plural(s.warnings)
    )
}

/// A report as one JSON object.
pub(crate) fn json(out: &mut impl Write, report: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
    writeln!(out)
}

/// The walk of one registry, stage by stage with timings, in one table: every row (the
/// registry's stages, each address, the token service's stages) has its detail in the same
/// column, whatever its indent and however many digits its timing has. Quiet: only the rows that
/// failed, the warnings and the verdict.
pub(crate) fn registry_human(
    out: &mut impl Write,
    r: &RegistryReport,
    style: Style,
) -> io::Result<()> {
    // A failing stage records no detail: the diagnosis says why (only one stage fails).
    let why = r
        .diagnosis
        .as_ref()
        .map_or_else(|| "failed".to_owned(), |d| d.message.clone());
    let stage_row = |indent: usize, s: &StageResult| Row {
        indent,
        ok: s.ok,
        name: s.stage.as_str().to_owned(),
        ms: format!("{:.1}", s.elapsed_ms),
        detail: match &s.detail {
            Some(d) => d.clone(),
            None if s.ok => "done".to_owned(),
            None => why.clone(),
        },
    };
    let mut lines = Vec::new();
    for stage in &r.stages {
        lines.push(Line::Row(stage_row(2, stage)));
        if stage.stage.as_str() == "tcp" && r.addresses.len() > 1 {
            for a in &r.addresses {
                lines.push(Line::Row(Row {
                    indent: 4,
                    ok: a.ok,
                    name: a.address.clone(),
                    ms: format!("{:.1}", a.elapsed_ms),
                    detail: a.error.clone().unwrap_or_else(|| "connected".to_owned()),
                }));
            }
        }
        if stage.stage.as_str() == "ping"
            && let Some(realm) = &r.realm
        {
            let failed = realm.stages.iter().any(|s| !s.ok);
            lines.push(Line::Text {
                text: format!("  token service {}", realm.url),
                failed,
            });
            for s in &realm.stages {
                lines.push(Line::Row(stage_row(4, s)));
            }
        }
    }
    let rows = || {
        lines.iter().filter_map(|l| match l {
            Line::Row(row) => Some(row),
            Line::Text { .. } => None,
        })
    };
    // The columns are as wide as the names need (a stage name at least), and the timing column
    // fits any timing up to 99 999.9 ms, so a slow stage shifts nothing.
    let label = rows()
        .map(|row| row.indent + row.name.chars().count())
        .chain([2 + "manifest".len()])
        .max()
        .unwrap_or(0);
    let ms = rows()
        .map(|row| row.ms.len())
        .chain(["99999.9".len()])
        .max()
        .unwrap_or(0);

    if !style.quiet {
        if r.endpoint.is_empty() {
            writeln!(out, "registry {}", r.registry)?;
        } else {
            writeln!(out, "registry {} at {}", r.registry, r.endpoint)?;
        }
    }
    for line in &lines {
        match line {
            Line::Text { text, failed } => {
                if !style.quiet || *failed {
                    writeln!(out, "{text}")?;
                }
            }
            Line::Row(row) if style.quiet && row.ok => {}
            Line::Row(row) => {
                let mark = if row.ok {
                    style.ok("✓")
                } else {
                    style.bad("✗")
                };
                let pad = label - row.indent;
                writeln!(
                    out,
                    "{:indent$}{mark} {:<pad$}  {}  {}",
                    "",
                    row.name,
                    style.dim(&format!("{:>ms$} ms", row.ms)),
                    row.detail,
                    indent = row.indent,
                )?;
            }
        }
    }
    if let Some(c) = &r.credential
        && !style.quiet
    {
        writeln!(out, "  credentials: {c}")?;
    }
    for w in &r.warnings {
        writeln!(
            out,
            "{} {}: {}",
            style.warn("⚠"),
            style.warn(w.code.as_str()),
            w.message
        )?;
    }
    if !style.quiet {
        writeln!(out)?;
    }
    match &r.diagnosis {
        None => writeln!(out, "{} {} can serve pulls", style.ok("✓"), r.registry),
        Some(d) => {
            writeln!(
                out,
                "{} {} (stage {})",
                style.bad("✗"),
                style.bad(d.code.as_str()),
                d.stage
            )?;
            writeln!(out, "  {}", d.message)?;
            writeln!(out, "  {} {}", style.ok("hint:"), d.hint)
        }
    }
}

/// A line of the registry walk: a row of the table, or a heading between rows.
enum Line {
    Row(Row),
    Text { text: String, failed: bool },
}

/// One step of the registry walk: a stage, or the connect to one address.
struct Row {
    indent: usize,
    ok: bool,
    name: String,
    ms: String,
    detail: String,
}

/// Docker Hub's budget, in one or two lines.
pub(crate) fn budget_human(out: &mut impl Write, b: &HubBudget, style: Style) -> io::Result<()> {
    let who = b
        .credential
        .as_deref()
        .unwrap_or("anonymous (this IP address)");
    if let Some(d) = &b.diagnosis {
        writeln!(
            out,
            "{} Docker Hub budget unknown — {} (stage {})",
            style.bad("✗"),
            style.bad(d.code.as_str()),
            d.stage
        )?;
        writeln!(out, "  {}", d.message)?;
        return writeln!(out, "  {} {}", style.ok("hint:"), d.hint);
    }
    match &b.rate_limit {
        None => writeln!(
            out,
            "Docker Hub sent no rate-limit headers: {who} is not limited"
        ),
        Some(rl) => writeln!(out, "Docker Hub budget for {who}: {}", rl.describe()),
    }
}
