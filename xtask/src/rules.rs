//! The rule-id check: every Istio rule id the tree cites (`G-1`, `V-18`, `E-3`, `S-2`, …) must
//! be defined in `docs/semantics.md`, exactly once.
//!
//! Tests, diagnostics and doc comments name the rule they follow by id, so a reader can look the
//! rule up. An id that the catalogue does not define is a dangling reference: a typo, a rule
//! that was renamed, or one that never got written down. This check keeps the catalogue and the
//! citations in step.
//!
//! An id is one of `G`, `V`, `E`, `S`, a `-`, then ASCII digits, standing alone as a word: no
//! letter, digit or `_` directly before or after it. So `G-10` cites G-10 (never G-1), while
//! `XG-1`, `G-1a` and `G-1_x` cite nothing. A definition is a markdown heading whose text starts
//! with the id in bold: `### **G-1** — Gateway selector`.
//!
//! The scan is written by hand on `std::fs` so that xtask keeps its single dependency.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The catalogue, relative to the repository root.
const CATALOGUE: &str = "docs/semantics.md";

/// Extensions of the files whose citations count: code, docs, examples, generated schema.
const EXTENSIONS: [&str; 5] = ["rs", "md", "yaml", "yml", "json"];

/// The letters that start a rule id: Gateway, VirtualService, Egress, Security.
const SERIES: [u8; 4] = [b'G', b'V', b'E', b'S'];

/// Fails unless every rule id cited under `root` is defined in `root/docs/semantics.md` and no
/// id is defined there twice. The error lists each problem with the place to fix it.
pub fn check(root: &Path) -> Result<()> {
    let catalogue = root.join(CATALOGUE);
    let doc = fs::read_to_string(&catalogue)
        .with_context(|| format!("reading the rule catalogue {}", catalogue.display()))?;
    let defined = defined_ids(&doc);
    let cited = cited_ids(root)?;
    let problems = problems(&defined, &cited);
    if problems.is_empty() {
        return Ok(());
    }
    let mut message = format!("{CATALOGUE} does not match the rule ids the tree cites:");
    for problem in &problems {
        let _ = write!(message, "\n  {problem}");
    }
    bail!(message)
}

/// The rule ids in one line of text, in order, repeats included.
fn rule_ids(line: &str) -> Vec<&str> {
    let bytes = line.as_bytes();
    let mut ids = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let Some(end) = id_end(bytes, i) else {
            i += 1;
            continue;
        };
        // Series letters are ASCII, so `i` and `end` are char boundaries.
        let before = line[..i].chars().next_back();
        let after = line[end..].chars().next();
        if !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char) {
            ids.push(&line[i..end]);
        }
        i = end;
    }
    ids
}

/// Where an id starting at `start` ends (`G-12` → the index after `2`), ignoring boundaries.
fn id_end(bytes: &[u8], start: usize) -> Option<usize> {
    if !SERIES.contains(bytes.get(start)?) || bytes.get(start + 1) != Some(&b'-') {
        return None;
    }
    let digits = bytes
        .get(start + 2..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    (digits > 0).then_some(start + 2 + digits)
}

/// A word character in the sense of a regex `\b`: letters and digits of any script, and `_`.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The ids the catalogue defines, with their 1-based line numbers, in document order.
///
/// Lines inside fenced code blocks are skipped: a shell comment there starts with `#` too.
fn defined_ids(doc: &str) -> Vec<(&str, usize)> {
    let mut defined = Vec::new();
    let mut in_fence = false;
    for (index, line) in doc.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if let Some(id) = heading_id(trimmed) {
            defined.push((id, index + 1));
        }
    }
    defined
}

/// The id a heading line defines: its text must start with `**<id>**`.
fn heading_id(line: &str) -> Option<&str> {
    let text = line.strip_prefix('#')?.trim_start_matches('#');
    // `#hashtag` is not a heading in CommonMark: the hashes need a space after them.
    if !text.starts_with([' ', '\t']) {
        return None;
    }
    let bold = text.trim_start().strip_prefix("**")?;
    let end = id_end(bold.as_bytes(), 0)?;
    bold[end..].starts_with("**").then(|| &bold[..end])
}

/// Every id cited in the scanned files under `root`, with the first place citing it
/// (`path:line`, path relative to `root`). Files are read in sorted order, so "first" is stable.
fn cited_ids(root: &Path) -> Result<BTreeMap<String, String>> {
    let mut files = Vec::new();
    collect_files(root, &mut files)?;
    let mut cited = BTreeMap::new();
    for file in files {
        // Lossy: one stray non-UTF-8 byte must not hide the citations around it.
        let bytes = fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for (index, line) in text.lines().enumerate() {
            for id in rule_ids(line) {
                cited
                    .entry(id.to_string())
                    .or_insert_with(|| format!("{shown}:{}", index + 1));
            }
        }
    }
    Ok(cited)
}

/// The files to scan under `dir`, depth first in name order. Build output (`target/`), `.git/`
/// and other hidden directories are skipped: they hold copies and tool state, not sources.
/// Symbolic links are not followed.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries = fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let file_type = entry
            .file_type()
            .with_context(|| format!("reading the type of {}", path.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if file_type.is_dir() {
            if name != "target" && !name.starts_with('.') {
                collect_files(&path, out)?;
            }
        } else if file_type.is_file()
            && path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// One line per problem: ids defined twice, then ids cited but not defined, each in rule order.
fn problems(defined: &[(&str, usize)], cited: &BTreeMap<String, String>) -> Vec<String> {
    let mut lines_of: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &(id, line) in defined {
        lines_of.entry(id).or_default().push(line);
    }
    let mut duplicates: Vec<(&str, &Vec<usize>)> = lines_of
        .iter()
        .filter(|(_, lines)| lines.len() > 1)
        .map(|(id, lines)| (*id, lines))
        .collect();
    duplicates.sort_by_key(|(id, _)| rule_order(id));
    let mut undefined: Vec<(&str, &str)> = cited
        .iter()
        .filter(|(id, _)| !lines_of.contains_key(id.as_str()))
        .map(|(id, at)| (id.as_str(), at.as_str()))
        .collect();
    undefined.sort_by_key(|(id, _)| rule_order(id));

    let mut out = Vec::new();
    for (id, lines) in duplicates {
        let lines: Vec<String> = lines.iter().map(|l| format!("{CATALOGUE}:{l}")).collect();
        out.push(format!(
            "{id} is defined more than once: {}",
            lines.join(", ")
        ));
    }
    for (id, at) in undefined {
        out.push(format!("{id} is not defined (first cited at {at})"));
    }
    out
}

/// Sort key for ids: by series letter, then numerically (`G-2` before `G-10`).
fn rule_order(id: &str) -> (&str, u64) {
    let (series, number) = id.split_once('-').unwrap_or((id, ""));
    (series, number.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a failing test should stop at the failing line"
)]
mod tests {
    //! This file is scanned like any other, so its fixtures only cite ids that the real
    //! catalogue defines.

    use super::*;

    #[test]
    fn finds_ids_in_prose() {
        assert_eq!(rule_ids("Gateway selection (G-1, V-3)."), ["G-1", "V-3"]);
        assert_eq!(rule_ids("S-2/G-9: port ignored"), ["S-2", "G-9"]);
        assert_eq!(rule_ids("(G-5 … G-13, S-2)"), ["G-5", "G-13", "S-2"]);
        assert_eq!(rule_ids("Some(\"E-5\"),"), ["E-5"]);
        assert_eq!(rule_ids("`V-18`"), ["V-18"]);
        assert_eq!(rule_ids("G-1 G-1"), ["G-1", "G-1"]);
        assert_eq!(rule_ids("—G-1—"), ["G-1"]);
    }

    /// `G-10` is G-10, never G-1; the digits run to the end of the number.
    #[test]
    fn number_is_taken_whole() {
        assert_eq!(rule_ids("G-10"), ["G-10"]);
        assert_eq!(rule_ids("V-26."), ["V-26"]);
        assert!(!rule_ids("G-10").contains(&"G-1"));
    }

    /// A word character on either side means the text is something else: an identifier, a
    /// number in exponent notation, a longer token.
    #[test]
    fn word_boundaries() {
        assert!(rule_ids("XG-1").is_empty());
        assert!(rule_ids("G-1a").is_empty());
        assert!(rule_ids("G-1_x").is_empty());
        assert!(rule_ids("_G-1").is_empty());
        assert!(rule_ids("1E-10").is_empty());
        assert!(rule_ids("éG-1").is_empty());
        assert!(rule_ids("G-1é").is_empty());
        // Punctuation is a boundary, as in a regex `\b`.
        assert_eq!(rule_ids("x-G-1-y"), ["G-1"]);
    }

    #[test]
    fn not_ids() {
        for text in ["G-", "G--1", "G1", "g-1", "A-1", "F.12", "G-*", "-", ""] {
            assert!(rule_ids(text).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn definitions_are_bold_ids_at_the_start_of_headings() {
        let doc = "\
# Semantics
Intro citing **G-9** in prose.
## Gateway (G-*)
### **G-1** — Gateway selector
#### **G-10**: host not served
### G-2 — not bold, not a definition
### **G-3 — unclosed bold
### Selector, see **G-4**
#**G-5** no space after the hashes
###\t**V-1** — binding
";
        assert_eq!(defined_ids(doc), [("G-1", 4), ("G-10", 5), ("V-1", 10)]);
    }

    #[test]
    fn headings_inside_code_fences_are_not_definitions() {
        let doc = "```sh\n# **G-1** a shell comment\n```\n### **G-2** — real\n";
        assert_eq!(defined_ids(doc), [("G-2", 4)]);
    }

    #[test]
    fn problems_name_duplicates_and_first_citations() {
        let defined = [("G-1", 3), ("G-2", 5), ("G-1", 9)];
        let cited = BTreeMap::from([
            ("G-1".to_string(), "a.rs:1".to_string()),
            ("G-10".to_string(), "b.rs:7".to_string()),
            ("G-9".to_string(), "c.md:2".to_string()),
        ]);
        assert_eq!(
            problems(&defined, &cited),
            [
                "G-1 is defined more than once: docs/semantics.md:3, docs/semantics.md:9",
                "G-9 is not defined (first cited at c.md:2)",
                "G-10 is not defined (first cited at b.rs:7)",
            ]
        );
        assert!(problems(&[("G-1", 1)], &BTreeMap::new()).is_empty());
    }

    /// A scratch tree under the system temp directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("xtask-rules-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn write(&self, path: &str, text: &str) {
            let path = self.0.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn check_reports_undefined_ids_with_their_first_citation() {
        let tree = Scratch::new("undefined");
        tree.write(CATALOGUE, "### **G-1** — selector\n");
        tree.write("src/a.rs", "// G-1\n\n// V-7 and V-7 again\n");
        tree.write("src/b.yaml", "# V-7\n");
        tree.write("notes.txt", "S-3 is in a file type that is not scanned\n");
        tree.write("target/debug/x.rs", "// S-1 in build output\n");
        tree.write(".ci/run.yml", "# S-2 in a hidden directory\n");
        let error = check(&tree.0).unwrap_err().to_string();
        assert!(
            error.contains("V-7 is not defined (first cited at src/a.rs:3)"),
            "{error}"
        );
        for skipped in ["G-1", "S-3", "S-1", "S-2"] {
            assert!(!error.contains(skipped), "{skipped} in {error}");
        }
    }

    #[test]
    fn check_reports_duplicate_definitions() {
        let tree = Scratch::new("duplicate");
        tree.write(CATALOGUE, "### **G-1** — one\n\n### **G-1** — two\n");
        let error = check(&tree.0).unwrap_err().to_string();
        assert!(error.contains("G-1 is defined more than once"), "{error}");
    }

    #[test]
    fn check_needs_the_catalogue() {
        let tree = Scratch::new("missing");
        let error = format!("{:#}", check(&tree.0).unwrap_err());
        assert!(error.contains(CATALOGUE), "{error}");
    }

    /// The repository itself: every id it cites is defined, none twice.
    #[test]
    fn repository_cites_only_defined_ids() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        check(root).unwrap();
    }
}
