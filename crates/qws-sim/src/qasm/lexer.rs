//! Tokens of OpenQASM 2 and 3 (the subset qws reads), with 1-based line:column positions.

use crate::error::{Pos, Result, SimError};

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    Int(u64),
    Float(f64),
    Str(String),
    /// Punctuation and operators, as written (`->`, `==`, `@`, …).
    Sym(&'static str),
    /// `$n`, an OpenQASM 3 hardware qubit.
    Hardware(u64),
    /// A duration literal such as `100ns` (recognised only to be refused clearly).
    Duration,
    Eof,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

/// Longest first, so `**` wins over `*` and `->` over `-`.
const SYMBOLS: &[&str] = &[
    "**", "->", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "++", "+=", "-=", "*=", "/=", ";",
    ",", "(", ")", "[", "]", "{", "}", "+", "-", "*", "/", "^", "%", "!", "~", "<", ">", "=", "@",
    ":", "&", "|", "#",
];

pub fn tokenize(src: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    // Advances over `n` characters, keeping line/column right.
    macro_rules! bump {
        ($n:expr) => {
            for _ in 0..$n {
                if chars[i] == '\n' {
                    line += 1;
                    col = 1;
                } else {
                    col += 1;
                }
                i += 1;
            }
        };
    }
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, col };
        if c.is_whitespace() {
            bump!(1);
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                bump!(1);
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            bump!(2);
            loop {
                if i >= chars.len() {
                    return Err(SimError::parse(pos.line, pos.col, "unterminated comment"));
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    bump!(2);
                    break;
                }
                bump!(1);
            }
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                bump!(1);
            }
            out.push(Token {
                tok: Tok::Ident(chars[start..i].iter().collect()),
                pos,
            });
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let (tok, len) = number(&chars[i..]).map_err(|m| SimError::parse(line, col, m))?;
            bump!(len);
            out.push(Token { tok, pos });
            continue;
        }
        if c == '"' || c == '\'' {
            bump!(1);
            let start = i;
            while i < chars.len() && chars[i] != c && chars[i] != '\n' {
                bump!(1);
            }
            if i >= chars.len() || chars[i] != c {
                return Err(SimError::parse(pos.line, pos.col, "unterminated string"));
            }
            let s: String = chars[start..i].iter().collect();
            bump!(1);
            out.push(Token {
                tok: Tok::Str(s),
                pos,
            });
            continue;
        }
        if c == '$' {
            bump!(1);
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                bump!(1);
            }
            let digits: String = chars[start..i].iter().collect();
            let n = digits
                .parse::<u64>()
                .map_err(|_| SimError::parse(pos.line, pos.col, "expected a number after '$'"))?;
            out.push(Token {
                tok: Tok::Hardware(n),
                pos,
            });
            continue;
        }
        let sym = SYMBOLS.iter().find(|s| {
            s.chars()
                .enumerate()
                .all(|(k, ch)| chars.get(i + k) == Some(&ch))
        });
        match sym {
            Some(s) => {
                bump!(s.len());
                out.push(Token {
                    tok: Tok::Sym(s),
                    pos,
                });
            }
            None => {
                return Err(SimError::parse(
                    pos.line,
                    pos.col,
                    format!("unexpected character '{}'", c.escape_debug()),
                ))
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: Pos { line, col },
    });
    Ok(out)
}

/// Reads an integer or floating-point literal (`12`, `1_000`, `0x1f`, `1.5`, `.5`, `2e-3`).
fn number(s: &[char]) -> std::result::Result<(Tok, usize), String> {
    if s.len() > 1 && s[0] == '0' && matches!(s[1], 'x' | 'X' | 'b' | 'B' | 'o' | 'O') {
        let radix = match s[1] {
            'x' | 'X' => 16,
            'b' | 'B' => 2,
            _ => 8,
        };
        let mut n = 2;
        while n < s.len() && (s[n].is_digit(radix) || s[n] == '_') {
            n += 1;
        }
        let digits: String = s[2..n].iter().filter(|c| **c != '_').collect();
        let v = u64::from_str_radix(&digits, radix).map_err(|_| "invalid integer literal")?;
        return Ok((Tok::Int(v), n));
    }
    let mut n = 0;
    let mut is_float = false;
    while n < s.len() && (s[n].is_ascii_digit() || s[n] == '_') {
        n += 1;
    }
    if n < s.len() && s[n] == '.' {
        is_float = true;
        n += 1;
        while n < s.len() && (s[n].is_ascii_digit() || s[n] == '_') {
            n += 1;
        }
    }
    if n < s.len() && (s[n] == 'e' || s[n] == 'E') {
        let mut m = n + 1;
        if m < s.len() && (s[m] == '+' || s[m] == '-') {
            m += 1;
        }
        if m < s.len() && s[m].is_ascii_digit() {
            while m < s.len() && s[m].is_ascii_digit() {
                m += 1;
            }
            is_float = true;
            n = m;
        }
    }
    if n < s.len() && (s[n].is_alphabetic() || s[n] == '_') {
        let mut m = n;
        while m < s.len() && s[m].is_alphabetic() {
            m += 1;
        }
        let unit: String = s[n..m].iter().collect();
        if matches!(unit.as_str(), "ns" | "us" | "µs" | "ms" | "s" | "dt") {
            return Ok((Tok::Duration, m));
        }
        return Err("a number must not run into a name".into());
    }
    let text: String = s[..n].iter().filter(|c| **c != '_').collect();
    if is_float {
        let v = text
            .parse::<f64>()
            .map_err(|_| "invalid number".to_string())?;
        Ok((Tok::Float(v), n))
    } else {
        match text.parse::<u64>() {
            Ok(v) => Ok((Tok::Int(v), n)),
            // Too large for an integer: keep it as a float (it can only be a parameter).
            Err(_) => Ok((
                Tok::Float(text.parse::<f64>().map_err(|_| "invalid number")?),
                n,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_kinds() {
        let t = tokenize("OPENQASM 2.0;\n  cx q[0],q[1]; // c\n/* x */ -> 1e-3 π").unwrap();
        assert_eq!(t[0].tok, Tok::Ident("OPENQASM".into()));
        assert_eq!(t[1].tok, Tok::Float(2.0));
        assert_eq!((t[3].pos.line, t[3].pos.col), (2, 3));
        let arrow = t.iter().find(|t| t.tok == Tok::Sym("->")).unwrap();
        assert_eq!((arrow.pos.line, arrow.pos.col), (3, 9));
        assert!(t.iter().any(|t| t.tok == Tok::Float(1e-3)));
        assert!(t.iter().any(|t| t.tok == Tok::Ident("π".into())));
    }

    #[test]
    fn errors_are_positioned() {
        let e = tokenize("h q;\n  `").unwrap_err();
        assert_eq!(e, SimError::parse(2, 3, "unexpected character '`'"));
        assert!(matches!(
            tokenize("/* never closed").unwrap_err(),
            SimError::Parse { .. }
        ));
        assert!(matches!(
            tokenize("\"abc").unwrap_err(),
            SimError::Parse { .. }
        ));
    }
}
