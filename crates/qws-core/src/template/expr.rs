//! The ARM template expression language, as far as qws evaluates it: string literals
//! (`'it''s'`), integers, function calls (`concat(a, b)`), property access (`.identity`) and
//! indexing (`[0]`, `['name']`).
//!
//! A JSON string is an expression when it starts with `[` and ends with `]`; a leading `[[`
//! escapes a literal string that starts with `[` ([`classify`]).

use super::TemplateError;

/// Longest expression text parsed (bounds work on hostile templates).
pub const MAX_EXPRESSION_LEN: usize = 16 * 1024;
/// Deepest nesting of calls and accessors.
const MAX_DEPTH: usize = 64;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `'text'`.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// `name(args…)`; names are compared case-insensitively.
    Call {
        /// Function name as written.
        name: String,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `value.property`.
    Member(Box<Expr>, String),
    /// `value[index]`.
    Index(Box<Expr>, Box<Expr>),
}

/// What a JSON string in a template is.
#[derive(Debug, PartialEq)]
pub enum StringKind<'a> {
    /// A plain string (with a `[[` escape already removed).
    Literal(std::borrow::Cow<'a, str>),
    /// The expression text between the outer brackets.
    Expression(&'a str),
}

/// Classifies a template string.
pub fn classify(s: &str) -> StringKind<'_> {
    if let Some(rest) = s.strip_prefix("[[") {
        return StringKind::Literal(format!("[{rest}").into());
    }
    match s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) => StringKind::Expression(inner),
        None => StringKind::Literal(s.into()),
    }
}

/// Parses the text of an expression (without the outer brackets).
pub fn parse(text: &str) -> Result<Expr, TemplateError> {
    if text.len() > MAX_EXPRESSION_LEN {
        return Err(TemplateError::invalid(format!(
            "The template language expression is longer than {MAX_EXPRESSION_LEN} characters."
        )));
    }
    let mut p = Parser {
        src: text,
        pos: 0,
        depth: 0,
    };
    let e = p.expr()?;
    p.skip_ws();
    if p.pos != text.len() {
        return Err(p.error("unexpected text after the expression"));
    }
    Ok(e)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> TemplateError {
        let clip: String = self.src.chars().take(200).collect();
        TemplateError::invalid(format!(
            "The template language expression '{clip}' is not valid: {what} at position {}.",
            self.pos
        ))
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Result<Expr, TemplateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.skip_ws();
        let mut e = match self.peek() {
            Some('\'') => Expr::Str(self.string()?),
            Some(c) if c.is_ascii_digit() || c == '-' => self.int()?,
            Some(c) if c.is_ascii_alphabetic() => self.call()?,
            _ => return Err(self.error("expected a string, a number or a function call")),
        };
        loop {
            if self.eat('.') {
                self.skip_ws();
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
                {
                    self.pos += 1;
                }
                if start == self.pos {
                    return Err(self.error("expected a property name after '.'"));
                }
                e = Expr::Member(Box::new(e), self.src[start..self.pos].to_string());
            } else if self.eat('[') {
                let index = self.expr()?;
                if !self.eat(']') {
                    return Err(self.error("expected ']'"));
                }
                e = Expr::Index(Box::new(e), Box::new(index));
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(e)
    }

    fn string(&mut self) -> Result<String, TemplateError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some('\'') => {
                    self.pos += 1;
                    if self.peek() == Some('\'') {
                        out.push('\'');
                        self.pos += 1;
                    } else {
                        return Ok(out);
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    fn int(&mut self) -> Result<Expr, TemplateError> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.src[start..self.pos]
            .parse()
            .map(Expr::Int)
            .map_err(|_| self.error("invalid number"))
    }

    fn call(&mut self) -> Result<Expr, TemplateError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            self.pos += 1;
        }
        let name = self.src[start..self.pos].to_string();
        if !self.eat('(') {
            return Err(self.error(&format!("expected '(' after '{name}'")));
        }
        let mut args = Vec::new();
        if !self.eat(')') {
            loop {
                args.push(self.expr()?);
                if self.eat(',') {
                    continue;
                }
                if self.eat(')') {
                    break;
                }
                return Err(self.error("expected ',' or ')'"));
            }
        }
        Ok(Expr::Call { name, args })
    }
}

/// Every function name called in `e` (as written), in order.
pub fn functions(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Str(_) | Expr::Int(_) => {}
        Expr::Call { name, args } => {
            out.push(name.clone());
            for a in args {
                functions(a, out);
            }
        }
        Expr::Member(inner, _) => functions(inner, out),
        Expr::Index(a, b) => {
            functions(a, out);
            functions(b, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Call {
            name: name.into(),
            args,
        }
    }

    #[test]
    fn classifies_strings() {
        assert_eq!(classify("[a()]"), StringKind::Expression("a()"));
        assert_eq!(classify("[[a]"), StringKind::Literal("[a]".into()));
        assert_eq!(classify("plain"), StringKind::Literal("plain".into()));
        assert_eq!(classify("[no end"), StringKind::Literal("[no end".into()));
    }

    #[test]
    fn parses_calls_members_and_literals() {
        let e =
            parse("reference(concat('a/', parameters('n')), '2020', 'Full').identity.principalId")
                .unwrap();
        assert_eq!(
            e,
            Expr::Member(
                Box::new(Expr::Member(
                    Box::new(call(
                        "reference",
                        vec![
                            call(
                                "concat",
                                vec![
                                    Expr::Str("a/".into()),
                                    call("parameters", vec![Expr::Str("n".into())])
                                ]
                            ),
                            Expr::Str("2020".into()),
                            Expr::Str("Full".into())
                        ]
                    )),
                    "identity".into()
                )),
                "principalId".into()
            )
        );
        assert_eq!(parse(" 'it''s' ").unwrap(), Expr::Str("it's".into()));
        assert_eq!(
            parse("x()[0]").unwrap(),
            Expr::Index(Box::new(call("x", vec![])), Box::new(Expr::Int(0)))
        );
        let mut names = Vec::new();
        functions(&e, &mut names);
        assert_eq!(names, ["reference", "concat", "parameters"]);
    }

    #[test]
    fn refuses_malformed_expressions() {
        for bad in [
            "concat('a'",
            "'open",
            "f(1,)",
            "f() g()",
            ".x",
            "f(1) .",
            &"f(".repeat(100),
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code, "InvalidTemplate", "{bad}");
        }
    }
}
