//! `docs/contract.md` and `docs/report.schema.json` against what they describe: the code table,
//! the commands' `--help`, and each other. The code list of the document and the code enums of
//! the schema are generated from the code table; run
//! `PREFLIGHT_BLESS=1 cargo nextest run -p preflight-cli -E 'test(contract)'` to rewrite them
//! after a change to the table. Everything else here is written by hand and only compared.
//!
//! That every JSON report the suite produces matches the schema is checked where the suite runs
//! the binary (`common::run_cmd`), so every test is also a schema test.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use preflight::diagnosis::Stages;
use preflight::{Code, Stage, WarningCode};
use serde_json::{Value, json};

use crate::common::{assert_valid_output, path_str, repo_root, report_schema, run};

const BEGIN: &str = "<!-- codes:begin -->";
const END: &str = "<!-- codes:end -->";
const BLESS: &str = "PREFLIGHT_BLESS=1 cargo nextest run -p preflight-cli -E 'test(contract)'";

fn blessing() -> bool {
    std::env::var_os("PREFLIGHT_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

fn read(rel: &str) -> String {
    let path = repo_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn contract() -> String {
    read("docs/contract.md")
}

/// Writes `want` over `rel` when blessing; otherwise fails with the difference.
fn compare_or_bless(rel: &str, have: &str, want: &str) {
    if have == want {
        return;
    }
    if blessing() {
        std::fs::write(repo_root().join(rel), want).expect("blessed file written");
        return;
    }
    panic!(
        "{rel} is not what the code table gives (- the file, + the table):\n{}\nrun {BLESS} to rewrite it",
        diff(have, want)
    );
}

/// A line diff (longest common subsequence), with a few lines of context around each change.
fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut lines = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i], i + 1));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            lines.push(('+', b[j], i + 1));
            j += 1;
        } else {
            lines.push(('-', a[i], i + 1));
            i += 1;
        }
    }
    let changed: Vec<usize> = (0..lines.len()).filter(|&k| lines[k].0 != ' ').collect();
    let mut out = String::new();
    let mut last = None;
    for (k, (mark, text, line)) in lines.iter().enumerate() {
        if changed.iter().any(|&c| c.abs_diff(k) <= 2) {
            if last.is_none_or(|l: usize| l + 1 != k) {
                let _ = writeln!(out, "@@ line {line}");
            }
            let _ = writeln!(out, "{mark} {text}");
            last = Some(k);
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn stages_cell(stages: Stages) -> String {
    match stages {
        Stages::Any => "any".to_owned(),
        Stages::Only(only) => only
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The generated part of `docs/contract.md`: every row of the code table.
fn codes_section() -> String {
    let mut s = format!(
        "{BEGIN}\n<!-- Generated from crates/preflight/src/diagnosis/codes.rs: do not edit here; \
         change the table and run {BLESS} -->\n\n"
    );
    s.push_str("### Failure codes\n\n");
    s.push_str(
        "A failure makes the image not pullable (exit 1). In the order of the code table.\n\n",
    );
    s.push_str("| code | stage | cause | hint |\n|---|---|---|---|\n");
    for c in Code::ALL {
        let also = if c.warning().is_some() {
            " (also a warning)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "| `{}`{also} | {} | {} | {} |",
            c.as_str(),
            stages_cell(c.stages()),
            cell(c.cause()),
            cell(c.hint())
        );
    }
    s.push_str("\n### Warning codes\n\n");
    s.push_str(
        "A warning does not fail the check, except under `--strict`. Reports carry its code and \
         message; its general hint is the one below.\n\n",
    );
    s.push_str("| code | stage | cause | hint |\n|---|---|---|---|\n");
    for w in WarningCode::ALL {
        let also = if w.failure().is_some() {
            " (also a failure)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "| `{}`{also} | {} | {} | {} |",
            w.as_str(),
            stages_cell(w.stages()),
            cell(w.cause()),
            cell(w.hint())
        );
    }
    s.push('\n');
    s.push_str(END);
    s
}

#[test]
fn contract_code_list_is_the_code_table() {
    let doc = contract();
    let (Some(start), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/contract.md has no {BEGIN} … {END} section for the code list");
    };
    assert!(start < end, "{BEGIN} comes after {END}");
    let want = format!(
        "{}{}{}",
        &doc[..start],
        codes_section(),
        &doc[end + END.len()..]
    );
    compare_or_bless("docs/contract.md", &doc, &want);
}

/// The schema's text with the `enum` list of `$defs/NAME` replaced by `values`, formatted as the
/// file is (one value a line), so blessing touches nothing else.
fn with_enum(text: &str, def: &str, values: &[&str]) -> String {
    let key = format!("\n    \"{def}\": {{");
    let at = text
        .find(&key)
        .unwrap_or_else(|| panic!("docs/report.schema.json has no $defs/{def}"));
    let open = at
        + text[at..]
            .find("\"enum\": [")
            .unwrap_or_else(|| panic!("$defs/{def} has no enum"));
    let list_start = open + "\"enum\": [".len();
    let close = list_start + text[list_start..].find(']').expect("enum closes");
    let line_start = text[..open].rfind('\n').map_or(0, |n| n + 1);
    let indent = &text[line_start..open];
    let items: Vec<String> = values
        .iter()
        .map(|v| format!("{indent}  {}", Value::from(*v)))
        .collect();
    format!(
        "{}\n{}\n{indent}{}",
        &text[..list_start],
        items.join(",\n"),
        &text[close..]
    )
}

#[test]
fn contract_schema_enums_are_the_code_table() {
    let text = read("docs/report.schema.json");
    let codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    let warnings: Vec<&str> = WarningCode::ALL.iter().map(|w| w.as_str()).collect();
    let stages: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
    let mut want = with_enum(&text, "code", &codes);
    want = with_enum(&want, "warning_code", &warnings);
    want = with_enum(&want, "stage", &stages);
    // Still the same JSON apart from those lists.
    let parsed: Value = serde_json::from_str(&want).expect("the rewritten schema is JSON");
    assert_eq!(parsed["$defs"]["code"]["enum"], json!(codes));
    assert_eq!(parsed["$defs"]["warning_code"]["enum"], json!(warnings));
    assert_eq!(parsed["$defs"]["stage"]["enum"], json!(stages));
    compare_or_bless("docs/report.schema.json", &text, &want);
}

/// `## ` sections of the document by title.
fn sections(doc: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut title: Option<String> = None;
    let mut body = String::new();
    let mut fenced = false;
    for line in doc.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && let Some(t) = line.strip_prefix("## ") {
            if let Some(t) = title.take() {
                out.insert(t, std::mem::take(&mut body));
            }
            title = Some(t.trim().to_owned());
            continue;
        }
        body.push_str(line);
        body.push('\n');
    }
    if let Some(t) = title {
        out.insert(t, body);
    }
    out
}

/// Every `--long` option named in a string.
fn long_flags(text: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        let before = rest[..at].chars().next_back();
        let name: String = rest[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
            && name.starts_with(|c: char| c.is_ascii_lowercase())
        {
            flags.insert(format!("--{name}"));
        }
        rest = &rest[at + 2 + name.len()..];
    }
    flags
}

/// The options documented in a section: the `--long` names in the first cell of its table rows.
fn documented_flags(section: &str) -> BTreeSet<String> {
    section
        .lines()
        .filter_map(|l| l.strip_prefix('|'))
        .filter_map(|l| l.split(" |").next())
        .flat_map(long_flags)
        .collect()
}

/// The options a `--help` lists: the `--long` name that starts an option's line.
fn help_flags(args: &[&str]) -> BTreeSet<String> {
    let mut all = args.to_vec();
    all.push("--help");
    let r = run(&all);
    assert_eq!(r.code, 0, "{all:?}: {}", r.stderr);
    r.stdout
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-') && !l.starts_with("- "))
        .filter_map(|l| {
            long_flags(l.split("  ").next().unwrap_or(l))
                .into_iter()
                .next()
        })
        .collect()
}

fn subcommands() -> Vec<String> {
    let r = run(&["--help"]);
    r.stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// The shared option sections and the anchor a command's section links them with.
const SHARED: &[(&str, &str)] = &[
    ("Input options", "](#input-options)"),
    ("Network options", "](#network-options)"),
];

#[test]
fn contract_documents_every_command_and_every_option() {
    let doc = contract();
    let sections = sections(&doc);
    let global = help_flags(&[]);
    let global_doc = documented_flags(
        sections
            .get("Global options")
            .expect("a `## Global options` section"),
    );
    assert_eq!(
        global, global_doc,
        "`## Global options` documents exactly the options of `preflight --help`"
    );
    let mut shared_users: BTreeMap<&str, Vec<BTreeSet<String>>> = BTreeMap::new();
    let commands = subcommands();
    assert!(commands.len() >= 4, "{commands:?}");
    for command in &commands {
        let title = format!("`preflight {command}`");
        let Some(own) = sections.get(&title) else {
            panic!("docs/contract.md has no `## {title}` section for the command {command}");
        };
        let help: BTreeSet<String> = help_flags(&[command.as_str()])
            .difference(&global)
            .cloned()
            .collect();
        let own_doc = documented_flags(own);
        let mut doc_flags = own_doc.clone();
        for (shared, anchor) in SHARED {
            if own.contains(anchor) {
                let shared_doc = documented_flags(&sections[*shared]);
                doc_flags.extend(shared_doc.iter().cloned());
                shared_users.entry(shared).or_default().push(help.clone());
            }
        }
        let missing: Vec<_> = help.difference(&doc_flags).collect();
        assert!(
            missing.is_empty(),
            "`preflight {command} --help` lists {missing:?}, which docs/contract.md does not \
             document in `## {title}` (or a shared section it links)"
        );
        let stale: Vec<_> = own_doc.difference(&help).collect();
        assert!(
            stale.is_empty(),
            "`## {title}` documents {stale:?}, which `preflight {command} --help` does not list"
        );
    }
    for (shared, anchor) in SHARED {
        let users = shared_users
            .get(shared)
            .unwrap_or_else(|| panic!("no command links `## {shared}` ({anchor})"));
        for flag in documented_flags(&sections[*shared]) {
            assert!(
                users.iter().all(|help| help.contains(&flag)),
                "`## {shared}` documents {flag}, which not every command linking it accepts"
            );
        }
    }
    // Options named anywhere in the text exist somewhere (a renamed flag leaves no trace).
    let mut known: BTreeSet<String> = global;
    for command in &commands {
        known.extend(help_flags(&[command.as_str()]));
    }
    let unknown: Vec<String> = long_flags(&doc)
        .into_iter()
        .filter(|f| !known.contains(f) && !FOREIGN_FLAGS.contains(&f.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/contract.md names options no command has: {unknown:?}"
    );
}

/// Options of other programs the document names (helm, docker buildx, crane, kubectl).
const FOREIGN_FLAGS: &[&str] = &[
    "--metadata-file",
    "--push",
    "--docker-server",
    "--docker-username",
    "--docker-password",
];

/// Every property name the schema gives anywhere (root, definitions, nested objects).
fn schema_fields(schema: &Value, out: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                out.extend(props.keys().cloned());
            }
            for v in map.values() {
                schema_fields(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| schema_fields(v, out)),
        _ => {}
    }
}

#[test]
fn contract_documents_every_report_field() {
    let doc = contract();
    let mut in_schema = BTreeSet::new();
    schema_fields(report_schema().root(), &mut in_schema);
    // The rows of the report's field tables: `| field | type | meaning |`.
    let mut in_doc = BTreeSet::new();
    let mut in_table = false;
    for line in doc.lines() {
        if line.starts_with("| field | type | meaning |") {
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if in_table && !line.starts_with("|---") {
            let first = line[1..].split(" |").next().unwrap_or_default().trim();
            let name = first.trim_matches('`');
            assert!(
                first.starts_with('`') && !name.is_empty(),
                "a report field table row must start with the field's name in backticks: {line}"
            );
            in_doc.insert(name.to_owned());
        }
    }
    let undocumented: Vec<_> = in_schema.difference(&in_doc).collect();
    assert!(
        undocumented.is_empty(),
        "docs/report.schema.json has fields docs/contract.md does not document: {undocumented:?}"
    );
    let unknown: Vec<_> = in_doc.difference(&in_schema).collect();
    assert!(
        unknown.is_empty(),
        "docs/contract.md documents fields docs/report.schema.json does not have: {unknown:?}"
    );
}

/// A real report, as the binary prints it: an image whose registry refuses the connection
/// (loopback port 1, where nothing listens).
fn refused_report() -> Value {
    let r = run(&[
        "check",
        "-o",
        "json",
        "--timeout",
        "5",
        "127.0.0.1:1/shop/app:v1",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.json()
}

fn schema_errors(pointer: &str, value: &Value) -> Vec<String> {
    report_schema()
        .validate(pointer, value)
        .err()
        .unwrap_or_default()
}

#[test]
fn contract_schema_rejects_an_unknown_field_a_wrong_type_and_an_unknown_code() {
    let good = refused_report();
    assert_eq!(schema_errors("#", &good), Vec::<String>::new());

    let mut extra = good.clone();
    extra["images"][0]["surprise"] = json!(1);
    let e = schema_errors("#", &extra);
    assert!(
        e.len() == 1 && e[0].contains("/images/0") && e[0].contains("\"surprise\" is not allowed"),
        "{e:?}"
    );

    let mut wrong_type = good.clone();
    wrong_type["summary"]["images"] = json!("1");
    let e = schema_errors("#", &wrong_type);
    assert!(
        e.len() == 1 && e[0].starts_with("/summary/images: \"1\" is not of type integer"),
        "{e:?}"
    );

    let mut unknown_code = good.clone();
    unknown_code["images"][0]["diagnosis"]["code"] = json!("tcp-refused-politely");
    let e = schema_errors("#", &unknown_code);
    assert!(
        e.len() == 1 && e[0].contains("/images/0/diagnosis") && e[0].contains("enum"),
        "{e:?}"
    );

    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("pullable");
    let e = schema_errors("#", &missing);
    assert_eq!(e, ["(root): the required property \"pullable\" is missing"]);

    let mut bad_stage = good.clone();
    bad_stage["images"][0]["stages"][0]["stage"] = json!("resolve");
    assert_eq!(schema_errors("#", &bad_stage).len(), 1);

    let mut negative = good;
    negative["images"][0]["stages"][0]["elapsed_ms"] = json!(-1.5);
    assert_eq!(schema_errors("#", &negative).len(), 1);
}

#[test]
fn contract_schema_rejects_a_registry_report_with_an_unknown_field() {
    let r = run(&["registry", "-o", "json", "--timeout", "5", "127.0.0.1:1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let good = r.json();
    assert_eq!(
        schema_errors("#/$defs/registry_output", &good),
        Vec::<String>::new()
    );
    let mut extra = good.clone();
    extra["addresses"][0]["rtt"] = json!(0.1);
    let e = schema_errors("#/$defs/registry_output", &extra);
    assert!(e.len() == 1 && e[0].contains("/addresses/0"), "{e:?}");
    let mut wrong = good;
    wrong["ok"] = json!("false");
    assert_eq!(schema_errors("#/$defs/registry_output", &wrong).len(), 1);
    // A check report is not a registry report, and the other way round.
    assert!(!schema_errors("#", &wrong).is_empty());
}

#[test]
fn contract_output_check_fails_the_test_on_a_report_off_the_schema() {
    let mut report = refused_report();
    report["images"][0]["unexpected"] = json!(true);
    let text = report.to_string();
    let caught = std::panic::catch_unwind(|| assert_valid_output("check", &text));
    let message = caught
        .expect_err("an output off the schema fails the test")
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(
        message.contains("does not match docs/report.schema.json")
            && message.contains("\"unexpected\" is not allowed"),
        "{message}"
    );
    // And a command whose JSON the schema does not describe is named.
    let caught = std::panic::catch_unwind(|| assert_valid_output("frobnicate", "{}"));
    assert!(caught.is_err());
}

/// `--report json=PATH` files are validated too (in `common::run_cmd`); this run makes sure one is
/// written, and that it is the same report as `-o json` prints.
#[test]
fn contract_report_file_matches_the_schema_and_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let spec = format!("json={}", path_str(&path));
    let r = run(&[
        "check",
        "-o",
        "json",
        "--timeout",
        "5",
        "--report",
        &spec,
        "127.0.0.1:1/shop/app:v1",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(file["images"][0]["diagnosis"]["code"], "tcp-refused");
    assert_eq!(file["summary"], r.json()["summary"]);
    assert!(Path::new(&path).exists());
}

#[test]
fn contract_images_and_ratelimit_outputs_are_described() {
    // `images` needs no network: every field of an inventory, an invalid reference included.
    let r = run(&[
        "images",
        "-o",
        "json",
        "-f",
        path_str(&repo_root().join("examples/manifests/shop.yaml")),
        "Not/A:Reference",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert!(
        j["images"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["diagnosis"]["code"] == "invalid-reference"),
        "{j}"
    );
    // `ratelimit` asks Docker Hub: here a loopback port where nothing listens stands in for it.
    let r = run(&[
        "ratelimit",
        "-o",
        "json",
        "--timeout",
        "5",
        "--docker-hub-registry",
        "127.0.0.1:1",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.json()["diagnosis"]["code"].is_string(), "{}", r.stdout);
    assert_eq!(
        schema_errors("#/$defs/ratelimit_output", &r.json()),
        Vec::<String>::new()
    );
}
