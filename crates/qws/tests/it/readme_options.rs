//! The README's option table and `qws serve --help` name the same flags: every flag the server
//! accepts is documented, and every documented flag exists.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::QWS;
const README: &str = include_str!("../../../../README.md");

/// The `--flag` words at the start of `--help`'s option lines (`-h`/`--help` excluded).
fn help_flags() -> BTreeSet<String> {
    let out = Command::new(QWS)
        .args(["serve", "--help"])
        .output()
        .expect("run qws serve --help");
    assert!(out.status.success(), "qws serve --help failed");
    String::from_utf8(out.stdout)
        .expect("help is UTF-8")
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("-h, ").unwrap_or(l);
            let flag: String = l
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            Some(format!("--{flag}"))
        })
        .filter(|f| f != "--help")
        .collect()
}

/// The first `` `--flag `` of each row of the option table (the table after "Running the
/// server" whose header is `| Option | Default | Meaning |`).
fn readme_flags() -> BTreeSet<String> {
    let start = README
        .find("| Option | Default | Meaning |")
        .expect("README has the option table");
    README[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cell = row.split('|').nth(1).expect("a first cell").trim();
            let flag: String = cell
                .strip_prefix("`--")
                .unwrap_or_else(|| panic!("row does not start with a flag: {row}"))
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            format!("--{flag}")
        })
        .collect()
}

#[test]
fn readme_documents_exactly_the_serve_flags() {
    let help = help_flags();
    let readme = readme_flags();
    assert!(
        help.len() > 20,
        "parsed too few flags from --help: {help:?}"
    );
    let undocumented: Vec<_> = help.difference(&readme).collect();
    let unknown: Vec<_> = readme.difference(&help).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "flags of `qws serve --help` missing from the README table: {undocumented:?}; \
         README rows for flags that do not exist: {unknown:?}"
    );
}
