//! The documentation cannot drift from the repository.
//!
//! * Every relative link and image in the Markdown files (README.md,
//!   CONTRIBUTING.md, docs/, slurm/README.md, …) names a file or directory
//!   that exists, and every `#anchor` into a Markdown file names one of its
//!   headings (GitHub's slugs).
//! * docs/faults.md, the "What happens when…" table, is a contract: each row
//!   names in its last column a test of the file its section heading names
//!   (a `#[test]` of `tests/faults.rs` or `tests/interrupts.rs`, a pytest
//!   `def test_…` of `scripts/tests/test_nodes.py`), and every test of the two
//!   Rust files has exactly one row (test_nodes.py also tests runs that are
//!   not faults).
//! * The README stays a front page: at most 250 lines, with the two commands.
//!
//! Plain std, no MPI: `cargo test --test docs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// The files whose tests the fault table lists, one table section each, and
/// whether every test of the file must have a row.
const FAULT_TEST_FILES: [(&str, bool); 3] = [
    ("tests/faults.rs", true),
    ("tests/interrupts.rs", true),
    ("scripts/tests/test_nodes.py", false),
];
const FAULT_TABLE: &str = "docs/faults.md";
const README_MAX_LINES: usize = 250;

fn root() -> PathBuf {
    PathBuf::from(option_env!("CARGO_MANIFEST_DIR").unwrap_or("."))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every Markdown file of the repository, build output and hidden folders
/// (`.git`, virtual environments) aside.
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || (dir == root() && name == "target") {
            continue;
        }
        if path.is_dir() {
            markdown_files(&path, out);
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// The text outside fenced code blocks, as paragraphs with their first line
/// number; fenced lines become blank lines so paragraphs stay apart.
fn prose(text: &str) -> Vec<(usize, String)> {
    let mut paragraphs = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    let mut fence: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|&c| c == '`' || c == '~')
            .collect();
        let opens = marker.len() >= 3 && marker.chars().all(|c| c == marker.as_bytes()[0] as char);
        let blank = match &fence {
            Some(open) => {
                if opens
                    && marker.starts_with(open.as_str())
                    && trimmed[marker.len()..].trim().is_empty()
                {
                    fence = None;
                }
                true
            }
            None if opens => {
                fence = Some(marker);
                true
            }
            None => line.trim().is_empty(),
        };
        if blank {
            if !current.is_empty() {
                paragraphs.push((start, std::mem::take(&mut current)));
            }
        } else {
            if current.is_empty() {
                start = i + 1;
            }
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.is_empty() {
        paragraphs.push((start, current));
    }
    paragraphs
}

/// `text` with every inline code span blanked out (a run of n backticks up to
/// the next run of exactly n), so `[a](b)` inside code is no link.
fn without_code_spans(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|&&c| c == '`').count();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let n = run_at(i);
        let mut j = i + n;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let m = run_at(j);
                if m == n {
                    close = Some(j);
                    break;
                }
                j += m;
            } else {
                j += 1;
            }
        }
        match close {
            Some(j) => {
                for &c in &chars[i..j + n] {
                    out.push(if c == '\n' { '\n' } else { ' ' });
                }
                i = j + n;
            }
            None => {
                for _ in 0..n {
                    out.push('`');
                }
                i += n;
            }
        }
    }
    out
}

/// The destinations of the inline links and images `[text](dest "title")`
/// and of the link reference definitions `[id]: dest` of a Markdown file,
/// with their line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (first_line, paragraph) in prose(text) {
        let plain = without_code_spans(&paragraph);
        let bytes = plain.as_bytes();
        let mut search = 0;
        while let Some(at) = plain[search..].find("](") {
            let open = search + at + 2;
            let line = first_line + plain[..open].matches('\n').count();
            let mut depth = 0usize;
            let mut end = None;
            let mut in_angle = false;
            for (k, &b) in bytes.iter().enumerate().skip(open) {
                match b {
                    b'<' if k == open => in_angle = true,
                    b'>' if in_angle => in_angle = false,
                    b'(' if !in_angle => depth += 1,
                    b')' if !in_angle && depth == 0 => {
                        end = Some(k);
                        break;
                    }
                    b')' if !in_angle => depth -= 1,
                    b'\n' => break,
                    _ => {}
                }
            }
            let Some(end) = end else {
                panic!("line {line}: a link whose destination never closes");
            };
            let inner = plain[open..end].trim();
            let dest = if let Some(rest) = inner.strip_prefix('<') {
                rest.split('>').next().unwrap_or("")
            } else {
                inner.split_whitespace().next().unwrap_or("")
            };
            found.push((line, dest.to_string()));
            search = end;
        }
        for (k, l) in plain.lines().enumerate() {
            let t = l.trim_start();
            if t.starts_with('[') && !t.starts_with("[^") {
                let close = t.find(']').unwrap_or(0);
                if close > 0 && t[close + 1..].starts_with(':') {
                    if let Some(dest) = t[close + 2..].split_whitespace().next() {
                        found.push((first_line + k, dest.trim_matches(['<', '>']).to_string()));
                    }
                }
            }
        }
    }
    found
}

/// GitHub's anchor of a heading: lowercase, markup removed, every character
/// but letters, digits, spaces, `-` and `_` dropped, spaces turned into `-`.
fn slug(heading: &str) -> String {
    // [text](url) renders as text
    let mut text = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        match rest[open..].find("](").and_then(|mid| {
            rest[open + mid..]
                .find(')')
                .map(|close| (open + mid, open + mid + close))
        }) {
            Some((mid, close)) => {
                text.push_str(&rest[..open]);
                text.push_str(&rest[open + 1..mid]);
                rest = &rest[close + 1..];
            }
            None => break,
        }
    }
    text.push_str(rest);
    text.chars()
        .flat_map(char::to_lowercase)
        .filter(|&c| c.is_alphanumeric() || c == '-' || c == '_' || c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a Markdown file offers: one per ATX heading (duplicates get
/// `-1`, `-2`, … as on GitHub), plus explicit `<a name=…>` / `id=…`.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let hashes = trimmed.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
            let title = trimmed[hashes..].trim().trim_end_matches('#').trim();
            let base = slug(title);
            let n = seen.entry(base.clone()).or_insert(0);
            out.insert(if *n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            });
            *n += 1;
        }
        for key in ["name=\"", "id=\""] {
            let mut rest = line;
            while let Some(at) = rest.find(key) {
                rest = &rest[at + key.len()..];
                if let Some(end) = rest.find('"') {
                    out.insert(rest[..end].to_string());
                }
            }
        }
    }
    out
}

/// `%20` and friends, as a browser would decode them in a path.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `base/rel` with `.` and `..` resolved lexically; None if it climbs out of
/// the repository.
fn join(root: &Path, base: &Path, rel: &str) -> Option<PathBuf> {
    let start = if rel.starts_with('/') { root } else { base };
    let mut parts: Vec<_> = start.components().collect();
    let floor = root.components().count();
    for c in Path::new(rel.trim_start_matches('/')).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.len() <= floor {
                    return None;
                }
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    Some(parts.iter().collect())
}

/// Every broken relative link of the repository's Markdown, as messages.
fn broken_links(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    markdown_files(root, &mut files);
    let mut broken = Vec::new();
    let mut anchor_cache: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let text = read(file);
        let shown = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        for (line, dest) in links(&text) {
            let lower = dest.to_ascii_lowercase();
            if dest.is_empty() {
                broken.push(format!("{shown}:{line}: a link with no destination"));
                continue;
            }
            if lower.contains("://") || lower.starts_with("mailto:") || lower.starts_with("tel:") {
                continue;
            }
            let (path_part, anchor) = match dest.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (dest.as_str(), None),
            };
            let path_part = percent_decode(path_part.split('?').next().unwrap_or(""));
            let target = if path_part.is_empty() {
                file.clone()
            } else {
                match join(root, file.parent().unwrap(), &path_part) {
                    Some(t) => t,
                    None => {
                        broken.push(format!("{shown}:{line}: {dest} leaves the repository"));
                        continue;
                    }
                }
            };
            if !target.exists() {
                broken.push(format!("{shown}:{line}: {dest}: no such file or directory"));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if target.extension().is_some_and(|e| e == "md") {
                let known = anchor_cache
                    .entry(target.clone())
                    .or_insert_with(|| anchors(&read(&target)));
                let anchor = percent_decode(anchor);
                if !known.contains(&anchor) {
                    broken.push(format!(
                        "{shown}:{line}: {dest}: no heading with the anchor #{anchor} (there are: {})",
                        known.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    broken
}

/// The names of the tests of a test file: `#[test]` functions in Rust,
/// top-level `def test_…` functions in Python (pytest).
fn tests_of(file: &str, source: &str) -> Vec<String> {
    if file.ends_with(".py") {
        return python_test_functions(source);
    }
    test_functions(source)
}

/// The names of pytest's test functions: top-level `def test_…(`.
fn python_test_functions(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|line| line.strip_prefix("def "))
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
        })
        .map(String::from_iter)
        .filter(|name| name.starts_with("test_"))
        .collect()
}

/// The names of the `#[test]` functions of a Rust test file.
fn test_functions(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut pending = false;
    for line in source.lines() {
        let t = line.trim();
        if t.starts_with("#[test]") {
            pending = true;
        } else if pending {
            if let Some(at) = t.find("fn ") {
                let name: String = t[at + 3..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.push(name);
                pending = false;
            } else if !(t.starts_with("#[") || t.starts_with("//") || t.is_empty()) {
                pending = false;
            }
        }
    }
    names
}

/// The cells of a Markdown table row, `\|` kept inside a cell.
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = vec![String::new()];
    let mut escaped = false;
    for c in inner.chars() {
        if c == '|' && !escaped {
            out.push(String::new());
        } else {
            out.last_mut().unwrap().push(c);
        }
        escaped = c == '\\';
    }
    out.iter().map(|c| c.trim().to_string()).collect()
}

/// The fault table's rows: (line, test file its section names, test name or
/// the offending cell).
fn fault_rows(text: &str) -> Vec<(usize, Option<String>, Result<String, String>)> {
    let mut rows = Vec::new();
    let mut section: Option<String> = None;
    let lines: Vec<&str> = text.lines().collect();
    let mut in_fence = false;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence {
            continue;
        }
        if t.starts_with('#') {
            section = FAULT_TEST_FILES
                .iter()
                .find(|(f, _)| t.contains(*f))
                .map(|(f, _)| f.to_string());
            continue;
        }
        if !t.starts_with('|') {
            continue;
        }
        let is_delimiter = t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '));
        let next_is_delimiter = lines.get(i + 1).is_some_and(|n| {
            let n = n.trim();
            n.starts_with('|') && n.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
        });
        if is_delimiter || next_is_delimiter {
            continue; // the delimiter row, and the header row above it
        }
        let last = cells(t).pop().unwrap_or_default();
        let name = last
            .strip_prefix('`')
            .and_then(|s| s.strip_suffix('`'))
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_'))
            .map(str::to_string)
            .ok_or(last);
        rows.push((i + 1, section.clone(), name));
    }
    rows
}

/// Every disagreement between the fault table and the tests, as messages.
fn fault_table_mismatches(root: &Path) -> Vec<String> {
    let table = read(&root.join(FAULT_TABLE));
    let mut problems = Vec::new();
    let mut tests: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (file, _) in FAULT_TEST_FILES {
        let names = tests_of(file, &read(&root.join(file)));
        assert!(
            !names.is_empty(),
            "{file} has no tests: is it still the file the table names?"
        );
        tests.insert(file, names);
    }
    let mut listed: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows_per_file: BTreeMap<String, usize> = BTreeMap::new();
    for (line, section, name) in fault_rows(&table) {
        let Some(file) = section else {
            problems.push(format!(
                "{FAULT_TABLE}:{line}: a table row outside a section whose heading names {}",
                FAULT_TEST_FILES.map(|(f, _)| f).join(" or ")
            ));
            continue;
        };
        let name = match name {
            Ok(name) => name,
            Err(cell) => {
                problems.push(format!(
                    "{FAULT_TABLE}:{line}: the last column must be one test name in backticks, not {cell:?}"
                ));
                continue;
            }
        };
        *rows_per_file.entry(file.clone()).or_default() += 1;
        if let Some(first) = listed.insert(name.clone(), line) {
            problems.push(format!(
                "{FAULT_TABLE}:{line}: `{name}` is already the test of line {first}: one test per row"
            ));
        }
        if !tests[file.as_str()].contains(&name) {
            let elsewhere = tests
                .iter()
                .find(|(_, names)| names.contains(&name))
                .map(|(f, _)| format!(" (it is in {f})"))
                .unwrap_or_default();
            problems.push(format!(
                "{FAULT_TABLE}:{line}: `{name}` is not a test in {file}{elsewhere}"
            ));
        }
    }
    for (file, every_test) in FAULT_TEST_FILES {
        if !rows_per_file.contains_key(file) {
            problems.push(format!("{FAULT_TABLE}: no section of rows for {file}"));
        }
        if !every_test {
            continue;
        }
        for name in &tests[file] {
            if !listed.contains_key(name) {
                problems.push(format!(
                    "{file}: the test `{name}` has no row in {FAULT_TABLE}"
                ));
            }
        }
    }
    problems
}

#[test]
fn every_relative_link_in_the_markdown_resolves() {
    let broken = broken_links(&root());
    assert!(
        broken.is_empty(),
        "broken links:\n  {}",
        broken.join("\n  ")
    );
}

#[test]
fn every_fault_table_row_names_a_test_and_every_test_has_a_row() {
    let problems = fault_table_mismatches(&root());
    assert!(
        problems.is_empty(),
        "the fault table and the tests disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_readme_is_a_front_page() {
    let readme = read(&root().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines; keep it at most {README_MAX_LINES} and move the reference to docs/"
    );
    for command in ["scripts/run.sh", "scripts/test.sh"] {
        assert!(readme.contains(command), "README.md must show {command}");
    }
}

// The checkers themselves, on small inputs, so a lenient parser cannot make
// the tests above pass vacuously.

#[test]
fn slugs_follow_github() {
    assert_eq!(slug("What happens when…"), "what-happens-when");
    assert_eq!(
        slug("Input and output: `tests/faults.rs`"),
        "input-and-output-testsfaultsrs"
    );
    assert_eq!(slug("`/engines`"), "engines");
    assert_eq!(
        slug("Timings, and what they mean"),
        "timings-and-what-they-mean"
    );
    assert_eq!(
        slug("Launchers: srun or mpirun"),
        "launchers-srun-or-mpirun"
    );
    assert_eq!(
        slug("snake_case and [a link](x.md)"),
        "snake_case-and-a-link"
    );
    let a = anchors("# A\n## A\n```\n# not a heading\n```\n### B #\n");
    assert_eq!(
        a.into_iter().collect::<Vec<_>>(),
        ["a", "a-1", "b"].map(String::from)
    );
}

#[test]
fn links_are_found_outside_code_only() {
    let text = "See [a](a.md#x) and ![fig](img/f.png \"title\")\nand `[no](code.md)`, \
                [wrapped\ntext](b.md), [web](https://example.org).\n\n```\n[no](fenced.md)\n```\n\
                [ref]: c.md\n";
    let found: Vec<String> = links(text).into_iter().map(|(_, d)| d).collect();
    assert_eq!(
        found,
        ["a.md#x", "img/f.png", "b.md", "https://example.org", "c.md"].map(String::from)
    );
}

#[test]
fn fault_rows_know_their_file() {
    let text = "# T\n\n## One: `tests/faults.rs`\n\n| a | test |\n|---|---|\n| x | `f_one` |\n\n\
                ## Two: `tests/interrupts.rs`\n\n| a | test |\n|---|---|\n| y | `i_one` |\n| z | none |\n";
    let rows = fault_rows(text);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].1.as_deref(), Some("tests/faults.rs"));
    assert_eq!(rows[0].2, Ok("f_one".to_string()));
    assert_eq!(rows[1].1.as_deref(), Some("tests/interrupts.rs"));
    assert!(rows[2].2.is_err());
    let source = "#[test]\nfn a() {}\nfn helper() {}\n#[test]\n#[ignore]\nfn b() {}\n";
    assert_eq!(tests_of("tests/x.rs", source), ["a", "b"]);
    let python = "def test_a(x):\n    def test_inner():\n        pass\ndef helper():\n    pass\n\
                  @pytest.mark.skipif(True, reason='')\ndef test_b():\n    pass\n";
    assert_eq!(
        tests_of("scripts/tests/test_x.py", python),
        ["test_a", "test_b"]
    );
}
