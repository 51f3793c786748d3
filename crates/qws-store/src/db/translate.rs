//! SQLite statement text to PostgreSQL statement text, for the statements the store writes.

/// Translates one statement:
///
/// * `?N` becomes `$N`, and a bare `?` becomes `$k` with k one past the highest number so far
///   (SQLite's numbering);
/// * `INSERT OR IGNORE INTO …` becomes `INSERT INTO … ON CONFLICT DO NOTHING`;
/// * `instr(` becomes `strpos(` (same arguments, same 1-based answer).
///
/// String literals, quoted identifiers and `--` comments are copied unchanged.
pub fn translate(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut highest = 0usize;
    let mut ignore = false;
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' => {
                // Copy through the closing quote (a doubled quote stays inside).
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == c {
                        if chars.get(i + 1) == Some(&c) {
                            out.push(c);
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            '?' => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && chars[end].is_ascii_digit() {
                    end += 1;
                }
                let n = if end > start {
                    chars[start..end]
                        .iter()
                        .collect::<String>()
                        .parse()
                        .unwrap_or(0)
                } else {
                    highest + 1
                };
                highest = highest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
                i = end;
            }
            _ if word_at(&chars, i, "INSERT OR IGNORE INTO") => {
                out.push_str("INSERT INTO");
                ignore = true;
                i += "INSERT OR IGNORE INTO".len();
            }
            _ if word_at(&chars, i, "instr(") => {
                out.push_str("strpos(");
                i += "instr(".len();
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    if ignore {
        let trimmed = out.trim_end().trim_end_matches(';').len();
        out.truncate(trimmed);
        out.push_str(" ON CONFLICT DO NOTHING");
    }
    out
}

/// Whether `word` (ASCII, compared case-insensitively) starts at `i` and not inside a longer
/// identifier.
fn word_at(chars: &[char], i: usize, word: &str) -> bool {
    if i > 0 && (chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_') {
        return false;
    }
    let w: Vec<char> = word.chars().collect();
    chars.len() >= i + w.len()
        && chars[i..i + w.len()]
            .iter()
            .zip(&w)
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn numbered_and_bare_placeholders() {
        assert_eq!(
            translate("SELECT a FROM t WHERE b = ?1 AND c = ?2 OR d = ?1"),
            "SELECT a FROM t WHERE b = $1 AND c = $2 OR d = $1"
        );
        assert_eq!(translate("VALUES (?, ?, ?)"), "VALUES ($1, $2, $3)");
        assert_eq!(translate("x = ?3 AND y = ?"), "x = $3 AND y = $4");
    }

    #[test]
    fn literals_and_comments_are_untouched() {
        assert_eq!(
            translate("SELECT '?1 instr(' , \"a?\" FROM t -- why?\nWHERE x = ?1"),
            "SELECT '?1 instr(' , \"a?\" FROM t -- why?\nWHERE x = $1"
        );
        assert_eq!(translate("SELECT 'it''s ?'"), "SELECT 'it''s ?'");
    }

    #[test]
    fn insert_or_ignore_and_instr() {
        assert_eq!(
            translate("INSERT OR IGNORE INTO g (a, b) VALUES (?1, ?2)"),
            "INSERT INTO g (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            translate("WHERE instr(q_name, ?2) = 1 AND myinstr(x)"),
            "WHERE strpos(q_name, $2) = 1 AND myinstr(x)"
        );
    }
}
