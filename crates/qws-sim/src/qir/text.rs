//! Reader for textual LLVM IR (`.ll`), restricted to what QIR programs use.
//!
//! The grammar is handled token by token with newlines kept as tokens: every tool that writes
//! QIR puts one instruction per line, and keeping line ends lets us skip top-level entities we
//! do not need (metadata, `source_filename`, type definitions) without understanding them.
//! Anything inside a function body that we do not understand is an error naming the construct.

use super::model::*;
use crate::error::{Result, SimError};
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Newline,
    Local(String),
    Global(String),
    AttrRef(u32),
    Meta(String),
    Ident(String),
    Int(i128),
    Float(f64),
    /// `0x…` IEEE bit pattern (LLVM's exact double syntax).
    HexFloat(u64),
    Str(Vec<u8>),
    CStr(Vec<u8>),
    Punct(char),
    Eof,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: u32,
    col: u32,
}

fn perr(line: u32, col: u32, msg: impl Into<String>) -> SimError {
    SimError::parse(line, col, msg)
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'$' | b'-')
}

fn lex(src: &str) -> Result<Vec<Token>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line, mut line_start) = (0usize, 1u32, 0usize);
    while i < b.len() {
        let c = b[i];
        let col = (i - line_start + 1) as u32;
        let push = |out: &mut Vec<Token>, tok| out.push(Token { tok, line, col });
        match c {
            b'\n' => {
                push(&mut out, Tok::Newline);
                i += 1;
                line += 1;
                line_start = i;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b';' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'%' | b'@' | b'!' => {
                i += 1;
                let name = if i < b.len() && b[i] == b'"' {
                    let (s, n) = lex_string(b, i, line, col)?;
                    i = n;
                    String::from_utf8_lossy(&s).into_owned()
                } else {
                    let s = i;
                    while i < b.len() && is_ident_char(b[i]) {
                        i += 1;
                    }
                    src[s..i].to_string()
                };
                let tok = match c {
                    b'%' => Tok::Local(name),
                    b'@' => Tok::Global(name),
                    _ => Tok::Meta(name),
                };
                if matches!(&tok, Tok::Local(n) | Tok::Global(n) if n.is_empty()) {
                    return Err(perr(line, col, "expected a name after '%' or '@'"));
                }
                push(&mut out, tok);
            }
            b'#' => {
                i += 1;
                let s = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let n = src[s..i]
                    .parse::<u32>()
                    .map_err(|_| perr(line, col, "expected an attribute group number after '#'"))?;
                push(&mut out, Tok::AttrRef(n));
            }
            b'"' => {
                let (s, n) = lex_string(b, i, line, col)?;
                i = n;
                push(&mut out, Tok::Str(s));
            }
            b'c' if b.get(i + 1) == Some(&b'"') => {
                let (s, n) = lex_string(b, i + 1, line, col)?;
                i = n;
                push(&mut out, Tok::CStr(s));
            }
            b'0' if matches!(b.get(i + 1), Some(b'x')) => {
                i += 2;
                let s = i;
                while i < b.len() && b[i].is_ascii_hexdigit() {
                    i += 1;
                }
                let bits = u64::from_str_radix(&src[s..i], 16)
                    .map_err(|_| perr(line, col, "malformed hexadecimal constant"))?;
                push(&mut out, Tok::HexFloat(bits));
            }
            b'-' | b'0'..=b'9' => {
                let s = i;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let mut is_float = false;
                if i < b.len() && b[i] == b'.' {
                    is_float = true;
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                    is_float = true;
                    i += 1;
                    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                        i += 1;
                    }
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                let text = &src[s..i];
                if text == "-" {
                    return Err(perr(line, col, "unexpected '-'"));
                }
                let tok = if is_float {
                    Tok::Float(
                        text.parse()
                            .map_err(|_| perr(line, col, format!("malformed number {text}")))?,
                    )
                } else {
                    Tok::Int(
                        text.parse()
                            .map_err(|_| perr(line, col, format!("integer {text} is too large")))?,
                    )
                };
                push(&mut out, tok);
            }
            b'.' if b.get(i..i + 3) == Some(b"...") => {
                i += 3;
                push(&mut out, Tok::Ident("...".into()));
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c == b'.' => {
                let s = i;
                while i < b.len() && is_ident_char(b[i]) {
                    i += 1;
                }
                push(&mut out, Tok::Ident(src[s..i].to_string()));
            }
            b'(' | b')' | b'[' | b']' | b'{' | b'}' | b',' | b'=' | b'*' | b':' | b'<' | b'>'
            | b'|' => {
                i += 1;
                push(&mut out, Tok::Punct(c as char));
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(perr(line, col, format!("unexpected character {ch:?}")));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
        col: (b.len() - line_start + 1) as u32,
    });
    Ok(out)
}

/// Lexes a `"…"` string starting at the quote; LLVM escapes are `\XX` hex and `\\`.
fn lex_string(b: &[u8], start: usize, line: u32, col: u32) -> Result<(Vec<u8>, usize)> {
    let mut i = start + 1;
    let mut s = Vec::new();
    while i < b.len() {
        match b[i] {
            b'"' => return Ok((s, i + 1)),
            b'\n' => break,
            b'\\' => {
                if b.get(i + 1) == Some(&b'\\') {
                    s.push(b'\\');
                    i += 2;
                } else {
                    let hex = b
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or_else(|| perr(line, col, "malformed escape in string"))?;
                    s.push(hex);
                    i += 3;
                }
            }
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
    Err(perr(line, col, "unterminated string"))
}

/// Parses a textual QIR module.
pub fn parse(src: &str) -> Result<Module> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        module: Module::default(),
        func_index: HashMap::new(),
        global_index: HashMap::new(),
        attr_groups: HashMap::new(),
        pending_attr_refs: Vec::new(),
        depth: 0,
    };
    p.module_body()?;
    // Resolve `#N` attribute references now that every group is known.
    for (fi, groups) in std::mem::take(&mut p.pending_attr_refs) {
        for g in groups {
            if let Some(attrs) = p.attr_groups.get(&g) {
                p.module.functions[fi].attrs.extend(attrs.iter().cloned());
            }
        }
    }
    Ok(p.module)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    module: Module,
    func_index: HashMap<String, usize>,
    global_index: HashMap<String, usize>,
    attr_groups: HashMap<u32, Vec<(String, Option<String>)>>,
    pending_attr_refs: Vec<(usize, Vec<u32>)>,
    /// Open nested types and constant expressions (both parsed recursively).
    depth: usize,
}

/// Deepest nesting of types (`[2 x [2 x i8]]`) and constant expressions
/// (`bitcast (ptr inttoptr (…) to ptr)`) accepted. Compilers write a few levels; the bound keeps
/// hostile input from overflowing the stack.
pub const MAX_NESTING: usize = 32;

/// Per-function name tables: SSA values and blocks may be used before they are defined.
#[derive(Default)]
struct FnScope {
    values: HashMap<String, usize>,
    defined: Vec<bool>,
    first_use: Vec<(u32, u32)>,
    blocks: HashMap<String, usize>,
    block_defined: Vec<Option<Block>>,
    block_first_use: Vec<(u32, u32)>,
    block_names: Vec<String>,
}

impl FnScope {
    fn value(&mut self, name: &str, at: (u32, u32)) -> usize {
        if let Some(&i) = self.values.get(name) {
            return i;
        }
        let i = self.defined.len();
        self.values.insert(name.to_string(), i);
        self.defined.push(false);
        self.first_use.push(at);
        i
    }
    fn define(&mut self, name: &str, at: (u32, u32)) -> Result<usize> {
        let i = self.value(name, at);
        if self.defined[i] {
            return Err(perr(at.0, at.1, format!("%{name} is defined twice")));
        }
        self.defined[i] = true;
        Ok(i)
    }
    fn block(&mut self, name: &str, at: (u32, u32)) -> usize {
        if let Some(&i) = self.blocks.get(name) {
            return i;
        }
        let i = self.block_defined.len();
        self.blocks.insert(name.to_string(), i);
        self.block_defined.push(None);
        self.block_first_use.push(at);
        self.block_names.push(name.to_string());
        i
    }
}

const PARAM_ATTRS_WITH_ARG: &[&str] = &[
    "align",
    "dereferenceable",
    "dereferenceable_or_null",
    "captures",
    "nofpclass",
    "range",
    "memory",
    "allocsize",
    "initializes",
];

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }
    fn here(&self) -> (u32, u32) {
        let t = &self.toks[self.pos];
        (t.line, t.col)
    }
    fn loc(&self) -> Loc {
        let (line, col) = self.here();
        Loc::Text { line, col }
    }
    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].tok.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn err<T>(&self, msg: impl Into<String>) -> Result<T> {
        let (l, c) = self.here();
        Err(perr(l, c, msg))
    }

    /// After one item of a parenthesised list: consumes a `,`, or leaves the closing `)` for
    /// the caller; anything else is an error naming the list (`what`).
    fn list_separator(&mut self, what: &str) -> Result<()> {
        if self.is_punct(',') {
            self.next();
        } else if !self.is_punct(')') {
            return self.err(format!(
                "expected ',' or ')' in {what}, found {}",
                self.describe()
            ));
        }
        Ok(())
    }

    /// Skips to the `close` that matches an `open` just read (nested pairs included), all on
    /// one line; `unterminated` is the error when the line ends first.
    fn skip_nested(&mut self, open: char, close: char, unterminated: &str) -> Result<()> {
        let mut depth = 1;
        while depth > 0 {
            match self.next() {
                Tok::Punct(c) if c == open => depth += 1,
                Tok::Punct(c) if c == close => depth -= 1,
                Tok::Newline | Tok::Eof => return self.err(unterminated),
                _ => {}
            }
        }
        Ok(())
    }
    fn describe(&self) -> String {
        match self.peek() {
            Tok::Newline => "end of line".into(),
            Tok::Eof => "end of input".into(),
            Tok::Local(n) => format!("%{n}"),
            Tok::Global(n) => format!("@{n}"),
            Tok::AttrRef(n) => format!("#{n}"),
            Tok::Meta(n) => format!("!{n}"),
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(i) => i.to_string(),
            Tok::Float(f) => f.to_string(),
            Tok::HexFloat(b) => format!("0x{b:X}"),
            Tok::Str(_) => "a string".into(),
            Tok::CStr(_) => "a c-string".into(),
            Tok::Punct(c) => format!("'{c}'"),
        }
    }
    fn is_punct(&self, c: char) -> bool {
        *self.peek() == Tok::Punct(c)
    }
    fn is_ident(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x == s)
    }
    fn expect_punct(&mut self, c: char) -> Result<()> {
        if self.is_punct(c) {
            self.next();
            Ok(())
        } else {
            self.err(format!("expected '{c}', found {}", self.describe()))
        }
    }
    fn expect_ident(&mut self, s: &str) -> Result<()> {
        if self.is_ident(s) {
            self.next();
            Ok(())
        } else {
            self.err(format!("expected `{s}`, found {}", self.describe()))
        }
    }
    fn eat_ident(&mut self, s: &str) -> bool {
        if self.is_ident(s) {
            self.next();
            true
        } else {
            false
        }
    }
    fn skip_newlines(&mut self) {
        while *self.peek() == Tok::Newline {
            self.next();
        }
    }
    fn skip_line(&mut self) {
        while !matches!(self.peek(), Tok::Newline | Tok::Eof) {
            self.next();
        }
    }
    /// Skips a balanced `( … )` group, if one starts here.
    fn skip_parens(&mut self) -> Result<()> {
        if !self.is_punct('(') {
            return Ok(());
        }
        let mut depth = 0usize;
        loop {
            match self.next() {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Tok::Eof => return self.err("unbalanced parentheses"),
                _ => {}
            }
        }
    }

    fn module_body(&mut self) -> Result<()> {
        loop {
            self.skip_newlines();
            let tok = self.peek().clone();
            match tok {
                Tok::Eof => return Ok(()),
                Tok::Ident(kw) if kw == "define" => self.function(true)?,
                Tok::Ident(kw) if kw == "declare" => self.function(false)?,
                Tok::Ident(kw) if kw == "attributes" => self.attribute_group()?,
                Tok::Ident(kw)
                    if matches!(
                        kw.as_str(),
                        "source_filename" | "target" | "module" | "uselistorder"
                    ) =>
                {
                    self.skip_line()
                }
                Tok::Meta(_) | Tok::Local(_) => self.skip_line(), // metadata, type definitions
                Tok::Global(name) => self.global(name)?,
                Tok::Ident(ref s) if s.starts_with('$') => self.skip_line(), // comdat
                _ => return self.err(format!("unexpected {} at top level", self.describe())),
            }
        }
    }

    fn global(&mut self, name: String) -> Result<()> {
        self.next();
        self.expect_punct('=')?;
        let mut bytes = None;
        // linkage, visibility, unnamed_addr, … then `constant`/`global`, a type and an initializer.
        while !matches!(self.peek(), Tok::Newline | Tok::Eof) {
            if let Tok::CStr(s) = self.peek() {
                bytes = Some(s.clone());
            }
            self.next();
        }
        if self.global_index.contains_key(&name) {
            return self.err(format!("@{name} is defined twice"));
        }
        self.global_index
            .insert(name.clone(), self.module.globals.len());
        self.module.globals.push(Global { name, bytes });
        Ok(())
    }

    fn attribute_group(&mut self) -> Result<()> {
        self.next();
        let n = match self.next() {
            Tok::AttrRef(n) => n,
            _ => return self.err("expected #N after `attributes`"),
        };
        self.expect_punct('=')?;
        self.expect_punct('{')?;
        let mut attrs = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::Punct('}') => {
                    self.next();
                    break;
                }
                Tok::Str(k) => {
                    self.next();
                    let key = String::from_utf8_lossy(&k).into_owned();
                    let mut value = None;
                    if self.is_punct('=') {
                        self.next();
                        match self.next() {
                            Tok::Str(v) => value = Some(String::from_utf8_lossy(&v).into_owned()),
                            _ => return self.err("expected a string attribute value"),
                        }
                    }
                    attrs.push((key, value));
                }
                Tok::Newline | Tok::Eof => return self.err("unterminated attribute group"),
                Tok::Punct('(') => self.skip_parens()?,
                _ => {
                    self.next();
                    if self.is_punct('=') {
                        self.next();
                        self.next();
                    }
                }
            }
        }
        self.attr_groups.insert(n, attrs);
        Ok(())
    }

    fn function_slot(&mut self, name: &str) -> usize {
        if let Some(&i) = self.func_index.get(name) {
            return i;
        }
        let i = self.module.functions.len();
        self.func_index.insert(name.to_string(), i);
        self.module.functions.push(Function {
            name: name.to_string(),
            is_declaration: true,
            ..Default::default()
        });
        i
    }

    fn function(&mut self, is_define: bool) -> Result<()> {
        let loc = self.loc();
        self.next();
        // Linkage, attributes and the return type come before the name.
        let name = loop {
            match self.peek().clone() {
                Tok::Global(n) => {
                    self.next();
                    break n;
                }
                Tok::Newline | Tok::Eof => return self.err("expected a function name"),
                Tok::Punct('(') => self.skip_parens()?,
                _ => {
                    self.next();
                }
            }
        };
        let fi = self.function_slot(&name);
        if !self.module.functions[fi].is_declaration
            || self.module.functions[fi].loc != Loc::Unknown
        {
            return self.err(format!("@{name} is defined twice"));
        }
        self.module.functions[fi].loc = loc;
        let mut scope = FnScope::default();
        // Parameters.
        self.expect_punct('(')?;
        let mut num_params = 0usize;
        while !self.is_punct(')') {
            if self.is_ident("...") {
                self.next();
                continue;
            }
            self.parse_type()?;
            self.skip_param_attrs()?;
            let at = self.here();
            if let Tok::Local(n) = self.peek().clone() {
                self.next();
                scope.define(&n, at)?;
            } else {
                // Unnamed parameters take the next number.
                scope.define(&num_params.to_string(), at)?;
            }
            num_params += 1;
            self.list_separator("parameters")?;
        }
        self.next();
        // Function attributes up to `{` (definitions) or end of line (declarations).
        let mut groups = Vec::new();
        let mut inline_attrs = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::AttrRef(n) => {
                    groups.push(n);
                    self.next();
                }
                Tok::Str(k) => {
                    self.next();
                    let key = String::from_utf8_lossy(&k).into_owned();
                    let mut value = None;
                    if self.is_punct('=') {
                        self.next();
                        if let Tok::Str(v) = self.next() {
                            value = Some(String::from_utf8_lossy(&v).into_owned());
                        }
                    }
                    inline_attrs.push((key, value));
                }
                Tok::Punct('{') if is_define => {
                    self.next();
                    break;
                }
                Tok::Newline | Tok::Eof => {
                    if is_define {
                        return self.err("expected '{' to start the function body");
                    }
                    break;
                }
                Tok::Punct('(') => self.skip_parens()?,
                _ => {
                    self.next();
                }
            }
        }
        {
            let f = &mut self.module.functions[fi];
            f.num_params = num_params;
            f.attrs.extend(inline_attrs);
        }
        self.pending_attr_refs.push((fi, groups));
        if !is_define {
            return Ok(());
        }
        self.body(fi, scope, num_params)
    }

    fn skip_param_attrs(&mut self) -> Result<()> {
        loop {
            let Tok::Ident(s) = self.peek().clone() else {
                return Ok(());
            };
            if matches!(
                s.as_str(),
                "true"
                    | "false"
                    | "null"
                    | "undef"
                    | "poison"
                    | "zeroinitializer"
                    | "inttoptr"
                    | "getelementptr"
                    | "bitcast"
                    | "addrspacecast"
                    | "ptrtoint"
                    | "to"
            ) {
                return Ok(());
            }
            self.next();
            if self.is_punct('(') {
                self.skip_parens()?;
            } else if PARAM_ATTRS_WITH_ARG.contains(&s.as_str()) {
                if let Tok::Int(_) = self.peek() {
                    self.next();
                }
            }
        }
    }

    /// Runs `f` one nesting level deeper, failing past [`MAX_NESTING`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_NESTING {
            return self.err(format!(
                "types or constant expressions are nested deeper than {MAX_NESTING} levels"
            ));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// Parses a type; pointer types of any flavour become [`Ty::Ptr`].
    fn parse_type(&mut self) -> Result<Ty> {
        self.nested(Self::parse_type_inner)
    }

    fn parse_type_inner(&mut self) -> Result<Ty> {
        let mut ty = match self.next() {
            Tok::Ident(s) => match s.as_str() {
                "void" => Ty::Void,
                "half" | "bfloat" | "float" | "double" => Ty::Float,
                "ptr" => Ty::Ptr,
                "label" => Ty::Label,
                "metadata" | "token" | "x86_fp80" | "fp128" | "ppc_fp128" => Ty::Other(s),
                _ if s.starts_with('i') && s.len() > 1 => {
                    let bits: u32 = s[1..]
                        .parse()
                        .map_err(|_| self.err::<()>(format!("unknown type {s}")).unwrap_err())?;
                    if bits == 0 || bits > 64 {
                        return self
                            .err(format!("integer type {s} is not supported (at most i64)"));
                    }
                    Ty::Int(bits)
                }
                _ => {
                    self.pos -= 1;
                    return self.err(format!("unknown type `{s}`"));
                }
            },
            Tok::Local(n) => Ty::Other(format!("%{n}")),
            Tok::Punct('[') => {
                let Tok::Int(n) = self.next() else {
                    return self.err("expected an array length");
                };
                self.expect_ident("x")?;
                let e = self.parse_type()?;
                self.expect_punct(']')?;
                Ty::Other(format!("[{n} x {e:?}]"))
            }
            Tok::Punct('<') => {
                // Vector or packed struct: skip to the matching '>'.
                self.skip_nested('<', '>', "unterminated vector type")?;
                Ty::Other("vector".into())
            }
            Tok::Punct('{') => {
                self.skip_nested('{', '}', "unterminated struct type")?;
                Ty::Other("struct".into())
            }
            _ => {
                self.pos -= 1;
                return self.err(format!("expected a type, found {}", self.describe()));
            }
        };
        loop {
            if self.is_punct('*') {
                self.next();
                ty = Ty::Ptr;
            } else if self.is_ident("addrspace") {
                self.next();
                self.skip_parens()?;
                if ty == Ty::Ptr || self.is_punct('*') {
                    continue;
                }
            } else if self.is_punct('(') {
                // A function type (`void (ptr, ...)`), as written in some calls.
                self.skip_parens()?;
                ty = Ty::Other("function".into());
            } else {
                return Ok(ty);
            }
        }
    }

    /// Parses a value of type `ty`.
    fn parse_value(&mut self, ty: &Ty, scope: &mut FnScope) -> Result<Operand> {
        self.nested(|p| p.parse_value_inner(ty, scope))
    }

    fn parse_value_inner(&mut self, ty: &Ty, scope: &mut FnScope) -> Result<Operand> {
        let at = self.here();
        let tok = self.next();
        let c = match tok {
            Tok::Local(n) => return Ok(Operand::Local(scope.value(&n, at))),
            Tok::Global(n) => {
                if let Some(&g) = self.global_index.get(&n) {
                    Const::Global(g)
                } else {
                    Const::Function(self.function_slot(&n))
                }
            }
            Tok::Int(v) => match ty {
                Ty::Float => Const::Float(v as f64),
                Ty::Int(bits) => Const::Int {
                    bits: *bits,
                    value: mask(v as u64, *bits),
                },
                _ => Const::Int {
                    bits: 64,
                    value: v as u64,
                },
            },
            Tok::Float(f) => Const::Float(f),
            Tok::HexFloat(b) => match ty {
                Ty::Int(bits) => Const::Int {
                    bits: *bits,
                    value: mask(b, *bits),
                },
                _ => Const::Float(f64::from_bits(b)),
            },
            Tok::Ident(s) => match s.as_str() {
                "true" => Const::Int { bits: 1, value: 1 },
                "false" => Const::Int { bits: 1, value: 0 },
                "null" => Const::Ptr(0),
                "undef" | "poison" => Const::Undef,
                "zeroinitializer" => match ty {
                    Ty::Int(bits) => Const::Int {
                        bits: *bits,
                        value: 0,
                    },
                    Ty::Float => Const::Float(0.0),
                    _ => Const::Ptr(0),
                },
                "inttoptr" | "bitcast" | "addrspacecast" => {
                    self.expect_punct('(')?;
                    let ity = self.parse_type()?;
                    let v = self.parse_value(&ity, scope)?;
                    self.expect_ident("to")?;
                    self.parse_type()?;
                    self.expect_punct(')')?;
                    match (s.as_str(), v) {
                        ("inttoptr", Operand::Const(Const::Int { value, .. })) => Const::Ptr(value),
                        (_, Operand::Const(c)) => c,
                        _ => {
                            return Err(perr(
                                at.0,
                                at.1,
                                "constant expression with a non-constant operand",
                            ))
                        }
                    }
                }
                "getelementptr" => {
                    self.eat_ident("inbounds");
                    self.eat_ident("nuw");
                    self.eat_ident("nusw");
                    self.expect_punct('(')?;
                    self.parse_type()?;
                    self.expect_punct(',')?;
                    let bty = self.parse_type()?;
                    let base = self.parse_value(&bty, scope)?;
                    let mut offset_zero = true;
                    while self.is_punct(',') {
                        self.next();
                        self.eat_ident("inrange");
                        let ity = self.parse_type()?;
                        match self.parse_value(&ity, scope)? {
                            Operand::Const(Const::Int { value: 0, .. }) => {}
                            _ => offset_zero = false,
                        }
                    }
                    self.expect_punct(')')?;
                    match base {
                        Operand::Const(Const::Global(g)) if offset_zero => Const::Global(g),
                        _ => {
                            return Err(perr(
                                at.0,
                                at.1,
                                "unsupported getelementptr constant (only the address of a global \
                                 label is supported)",
                            ))
                        }
                    }
                }
                _ => {
                    return Err(perr(
                        at.0,
                        at.1,
                        format!("unsupported value or constant expression `{s}`"),
                    ))
                }
            },
            _ => {
                self.pos -= 1;
                return self.err(format!("expected a value, found {}", self.describe()));
            }
        };
        Ok(Operand::Const(c))
    }

    fn typed_value(&mut self, scope: &mut FnScope) -> Result<(Ty, Operand)> {
        let ty = self.parse_type()?;
        self.skip_param_attrs()?;
        let v = self.parse_value(&ty, scope)?;
        Ok((ty, v))
    }

    fn label_ref(&mut self, scope: &mut FnScope) -> Result<usize> {
        self.expect_ident("label")?;
        let at = self.here();
        match self.next() {
            Tok::Local(n) => Ok(scope.block(&n, at)),
            _ => Err(perr(at.0, at.1, "expected a block label like %block_1")),
        }
    }

    fn body(&mut self, fi: usize, mut scope: FnScope, num_params: usize) -> Result<()> {
        let mut order: Vec<usize> = Vec::new();
        let mut cur: Option<(usize, Block)> = None;
        loop {
            self.skip_newlines();
            let at = self.here();
            // A label starts a block.
            let label = match (self.peek().clone(), self.peek_at(1).clone()) {
                (Tok::Ident(n), Tok::Punct(':')) => Some(n),
                (Tok::Int(n), Tok::Punct(':')) => Some(n.to_string()),
                (Tok::Str(n), Tok::Punct(':')) => Some(String::from_utf8_lossy(&n).into_owned()),
                _ => None,
            };
            if let Some(name) = label {
                self.next();
                self.next();
                if let Some((_, b)) = &cur {
                    return Err(perr(
                        at.0,
                        at.1,
                        format!("block %{} does not end with a terminator", b.name),
                    ));
                }
                let bi = scope.block(&name, at);
                if scope.block_defined[bi].is_some() || order.contains(&bi) {
                    return Err(perr(at.0, at.1, format!("block %{name} is defined twice")));
                }
                cur = Some((bi, new_block(&name)));
                continue;
            }
            if self.is_punct('}') {
                self.next();
                if let Some((_, b)) = &cur {
                    return Err(perr(
                        at.0,
                        at.1,
                        format!("block %{} does not end with a terminator", b.name),
                    ));
                }
                break;
            }
            if *self.peek() == Tok::Eof {
                return self.err("unexpected end of input inside a function body");
            }
            if cur.is_none() {
                if !order.is_empty() {
                    return self.err("instruction after a terminator without a block label");
                }
                // Unnamed entry block: it takes the next number after the parameters.
                let name = num_params.to_string();
                let bi = scope.block(&name, at);
                cur = Some((bi, new_block(&name)));
            }
            let (bi, mut block) = cur.take().expect("a current block");
            let done = self.instruction(&mut scope, &mut block)?;
            if done {
                order.push(bi);
                scope.block_defined[bi] = Some(block);
            } else {
                cur = Some((bi, block));
            }
        }
        if order.is_empty() {
            return self.err("a function definition needs at least one block");
        }
        for (i, d) in scope.defined.iter().enumerate() {
            if !d {
                let (l, c) = scope.first_use[i];
                let name = scope
                    .values
                    .iter()
                    .find(|(_, &v)| v == i)
                    .map(|(k, _)| k.clone())
                    .unwrap_or_default();
                return Err(perr(l, c, format!("use of undefined value %{name}")));
            }
        }
        // Blocks in source order; the entry block comes first.
        let mut remap = vec![usize::MAX; scope.block_defined.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old] = new;
        }
        for (i, b) in scope.block_defined.iter().enumerate() {
            if b.is_none() {
                let (l, c) = scope.block_first_use[i];
                return Err(perr(
                    l,
                    c,
                    format!("branch to undefined block %{}", scope.block_names[i]),
                ));
            }
        }
        let mut blocks: Vec<Block> = Vec::with_capacity(order.len());
        for &old in &order {
            let mut b = scope.block_defined[old].take().expect("defined");
            remap_block(&mut b, &remap);
            blocks.push(b);
        }
        let f = &mut self.module.functions[fi];
        f.is_declaration = false;
        f.num_values = scope.defined.len();
        f.blocks = blocks;
        Ok(())
    }

    /// Parses one instruction into `block`; returns true when it was the terminator.
    fn instruction(&mut self, scope: &mut FnScope, block: &mut Block) -> Result<bool> {
        let loc = self.loc();
        let at = self.here();
        let mut dest_name = None;
        if let (Tok::Local(n), Tok::Punct('=')) = (self.peek().clone(), self.peek_at(1).clone()) {
            self.next();
            self.next();
            dest_name = Some(n);
        }
        let Tok::Ident(op) = self.next() else {
            self.pos -= 1;
            return self.err(format!(
                "expected an instruction, found {}",
                self.describe()
            ));
        };
        let dest = |scope: &mut FnScope| -> Result<usize> {
            match &dest_name {
                Some(n) => scope.define(n, at),
                None => Err(perr(at.0, at.1, format!("`{op}` needs a result name"))),
            }
        };
        let op_s = op.as_str();
        let mut terminator = false;
        match op_s {
            "tail" | "musttail" | "notail" | "call" => {
                if op_s != "call" {
                    self.expect_ident("call")?;
                }
                self.skip_fast_math();
                // Calling convention and return attributes.
                self.skip_param_attrs_until_type()?;
                let ret = self.parse_type()?;
                let callee_at = self.here();
                let callee = match self.next() {
                    Tok::Global(n) => {
                        if self.global_index.contains_key(&n) {
                            return Err(perr(
                                callee_at.0,
                                callee_at.1,
                                format!("@{n} is not a function"),
                            ));
                        }
                        self.function_slot(&n)
                    }
                    Tok::Local(n) => {
                        return Err(SimError::Unsupported(format!(
                            "indirect call through %{n} at line {}, column {}",
                            callee_at.0, callee_at.1
                        )))
                    }
                    _ => return Err(perr(callee_at.0, callee_at.1, "expected a callee @name")),
                };
                self.expect_punct('(')?;
                let mut args = Vec::new();
                self.skip_newlines();
                while !self.is_punct(')') {
                    let (_, v) = self.typed_value(scope)?;
                    args.push(v);
                    if args.len() > 64 {
                        return self.err("too many call arguments");
                    }
                    self.list_separator("call arguments")?;
                }
                self.next();
                let dest = match (&dest_name, ret) {
                    (Some(_), Ty::Void) => {
                        return Err(perr(at.0, at.1, "a void call cannot have a result name"))
                    }
                    (Some(_), _) => Some(dest(scope)?),
                    (None, _) => None,
                };
                block.insts.push((Inst::Call { dest, callee, args }, loc));
            }
            "br" => {
                if self.is_ident("label") {
                    let t = self.label_ref(scope)?;
                    block.term = Term::Br(t);
                } else {
                    let (_, cond) = self.typed_value(scope)?;
                    self.expect_punct(',')?;
                    let then_block = self.label_ref(scope)?;
                    self.expect_punct(',')?;
                    let else_block = self.label_ref(scope)?;
                    block.term = Term::CondBr {
                        cond,
                        then_block,
                        else_block,
                    };
                }
                terminator = true;
            }
            "ret" => {
                let ty = self.parse_type()?;
                if ty != Ty::Void {
                    self.parse_value(&ty, scope)?;
                }
                block.term = Term::Ret;
                terminator = true;
            }
            "unreachable" => {
                block.term = Term::Unreachable;
                terminator = true;
            }
            "switch" => {
                let ty = self.parse_type()?;
                let bits = int_bits(&ty, at)?;
                let value = self.parse_value(&ty, scope)?;
                self.expect_punct(',')?;
                let default = self.label_ref(scope)?;
                self.expect_punct('[')?;
                let mut cases = Vec::new();
                loop {
                    self.skip_newlines();
                    if self.is_punct(']') {
                        self.next();
                        break;
                    }
                    let (_, v) = self.typed_value(scope)?;
                    let Operand::Const(Const::Int { value, .. }) = v else {
                        return self.err("switch cases must be integer constants");
                    };
                    self.expect_punct(',')?;
                    let target = self.label_ref(scope)?;
                    cases.push((value, target));
                }
                block.term = Term::Switch {
                    value,
                    bits,
                    default,
                    cases,
                };
                terminator = true;
            }
            "phi" => {
                self.skip_fast_math();
                let ty = self.parse_type()?;
                let mut incoming = Vec::new();
                loop {
                    self.expect_punct('[')?;
                    let v = self.parse_value(&ty, scope)?;
                    self.expect_punct(',')?;
                    let bat = self.here();
                    let Tok::Local(bn) = self.next() else {
                        return Err(perr(bat.0, bat.1, "expected a predecessor block"));
                    };
                    let b = scope.block(&bn, bat);
                    self.expect_punct(']')?;
                    incoming.push((b, v));
                    if self.is_punct(',') && matches!(self.peek_at(1), Tok::Punct('[')) {
                        self.next();
                    } else {
                        break;
                    }
                }
                if !block.insts.is_empty() {
                    return Err(perr(at.0, at.1, "phi must come first in its block"));
                }
                let d = dest(scope)?;
                block.phis.push(Phi {
                    dest: d,
                    incoming,
                    loc,
                });
            }
            "select" => {
                self.skip_fast_math();
                let (_, cond) = self.typed_value(scope)?;
                self.expect_punct(',')?;
                let (_, a) = self.typed_value(scope)?;
                self.expect_punct(',')?;
                let (_, b) = self.typed_value(scope)?;
                let d = dest(scope)?;
                block.insts.push((
                    Inst::Select {
                        dest: d,
                        cond,
                        a,
                        b,
                    },
                    loc,
                ));
            }
            "icmp" => {
                self.eat_ident("samesign");
                let pred = match self.next() {
                    Tok::Ident(p) => ipred(&p),
                    _ => None,
                }
                .ok_or_else(|| perr(at.0, at.1, "unknown icmp predicate"))?;
                let ty = self.parse_type()?;
                let bits = match ty {
                    Ty::Ptr => 64,
                    _ => int_bits(&ty, at)?,
                };
                let a = self.parse_value(&ty, scope)?;
                self.expect_punct(',')?;
                let b = self.parse_value(&ty, scope)?;
                let d = dest(scope)?;
                block.insts.push((
                    Inst::ICmp {
                        dest: d,
                        pred,
                        bits,
                        a,
                        b,
                    },
                    loc,
                ));
            }
            "fcmp" => {
                self.skip_fast_math();
                let pred = match self.next() {
                    Tok::Ident(p) => fpred(&p),
                    _ => None,
                }
                .ok_or_else(|| perr(at.0, at.1, "unknown fcmp predicate"))?;
                let ty = self.parse_type()?;
                let a = self.parse_value(&ty, scope)?;
                self.expect_punct(',')?;
                let b = self.parse_value(&ty, scope)?;
                let d = dest(scope)?;
                block.insts.push((
                    Inst::FCmp {
                        dest: d,
                        pred,
                        a,
                        b,
                    },
                    loc,
                ));
            }
            "fneg" => {
                self.skip_fast_math();
                let (_, a) = self.typed_value(scope)?;
                let d = dest(scope)?;
                block.insts.push((Inst::FNeg { dest: d, a }, loc));
            }
            "freeze" => {
                let (ty, a) = self.typed_value(scope)?;
                let from_bits = if let Ty::Int(b) = ty { b } else { 0 };
                let d = dest(scope)?;
                block.insts.push((
                    Inst::Cast {
                        dest: d,
                        op: CastOp::Freeze,
                        from_bits,
                        to: ty,
                        a,
                    },
                    loc,
                ));
            }
            _ if binop(op_s).is_some() => {
                let bop = binop(op_s).expect("checked");
                while matches!(self.peek(), Tok::Ident(f) if matches!(f.as_str(), "nuw" | "nsw" | "exact" | "disjoint"))
                {
                    self.next();
                }
                let ty = self.parse_type()?;
                let bits = int_bits(&ty, at)?;
                let a = self.parse_value(&ty, scope)?;
                self.expect_punct(',')?;
                let b = self.parse_value(&ty, scope)?;
                let d = dest(scope)?;
                block.insts.push((
                    Inst::Bin {
                        dest: d,
                        op: bop,
                        bits,
                        a,
                        b,
                    },
                    loc,
                ));
            }
            _ if fbinop(op_s).is_some() => {
                let fop = fbinop(op_s).expect("checked");
                self.skip_fast_math();
                let ty = self.parse_type()?;
                let a = self.parse_value(&ty, scope)?;
                self.expect_punct(',')?;
                let b = self.parse_value(&ty, scope)?;
                let d = dest(scope)?;
                block.insts.push((
                    Inst::FBin {
                        dest: d,
                        op: fop,
                        a,
                        b,
                    },
                    loc,
                ));
            }
            _ if castop(op_s).is_some() => {
                let cop = castop(op_s).expect("checked");
                while matches!(self.peek(), Tok::Ident(f) if matches!(f.as_str(), "nuw" | "nsw" | "nneg"))
                {
                    self.next();
                }
                self.skip_fast_math();
                let (fty, a) = self.typed_value(scope)?;
                self.expect_ident("to")?;
                let to = self.parse_type()?;
                let from_bits = if let Ty::Int(b) = fty { b } else { 0 };
                let d = dest(scope)?;
                block.insts.push((
                    Inst::Cast {
                        dest: d,
                        op: cop,
                        from_bits,
                        to,
                        a,
                    },
                    loc,
                ));
            }
            "alloca" | "load" | "store" | "getelementptr" | "extractvalue" | "insertvalue"
            | "extractelement" | "insertelement" | "shufflevector" | "invoke" | "indirectbr"
            | "landingpad" | "resume" | "atomicrmw" | "cmpxchg" | "fence" | "va_arg" | "callbr"
            | "cleanuppad" | "catchpad" | "catchswitch" | "catchret" | "cleanupret" => {
                return Err(SimError::Unsupported(format!(
                    "instruction `{op}` at line {}, column {}: QIR profiles do not use memory, \
                     aggregates or exceptions",
                    at.0, at.1
                )))
            }
            _ => return Err(perr(at.0, at.1, format!("unknown instruction `{op}`"))),
        }
        // Trailing metadata / alignment (`, !dbg !3`, `, align 8`) and attribute refs.
        match self.peek() {
            Tok::Newline | Tok::Eof => {}
            Tok::Punct(',') | Tok::AttrRef(_) | Tok::Meta(_) => self.skip_line(),
            Tok::Punct('[') if matches!(op_s, "call" | "tail" | "musttail" | "notail") => {
                self.skip_line()
            }
            _ => {
                return self.err(format!(
                    "unexpected {} after the instruction",
                    self.describe()
                ))
            }
        }
        if terminator {
            block.term_loc = loc;
        }
        Ok(terminator)
    }

    fn skip_fast_math(&mut self) {
        while matches!(self.peek(), Tok::Ident(f) if matches!(f.as_str(), "fast" | "nnan" | "ninf" | "nsz" | "arcp" | "contract" | "afn" | "reassoc"))
        {
            self.next();
        }
    }

    /// Skips calling conventions and return attributes before a call's return type.
    fn skip_param_attrs_until_type(&mut self) -> Result<()> {
        loop {
            let Tok::Ident(s) = self.peek().clone() else {
                return Ok(());
            };
            let is_type = matches!(
                s.as_str(),
                "void"
                    | "half"
                    | "bfloat"
                    | "float"
                    | "double"
                    | "ptr"
                    | "label"
                    | "metadata"
                    | "token"
            ) || (s.starts_with('i') && s[1..].parse::<u32>().is_ok());
            if is_type {
                return Ok(());
            }
            self.next();
            if self.is_punct('(') {
                self.skip_parens()?;
            } else if PARAM_ATTRS_WITH_ARG.contains(&s.as_str()) {
                if let Tok::Int(_) = self.peek() {
                    self.next();
                }
            }
        }
    }
}

fn new_block(name: &str) -> Block {
    Block {
        name: name.to_string(),
        phis: Vec::new(),
        insts: Vec::new(),
        term: Term::Unreachable,
        term_loc: Loc::Unknown,
    }
}

fn remap_block(b: &mut Block, remap: &[usize]) {
    for p in &mut b.phis {
        for (pred, _) in &mut p.incoming {
            *pred = remap[*pred];
        }
    }
    match &mut b.term {
        Term::Br(t) => *t = remap[*t],
        Term::CondBr {
            then_block,
            else_block,
            ..
        } => {
            *then_block = remap[*then_block];
            *else_block = remap[*else_block];
        }
        Term::Switch { default, cases, .. } => {
            *default = remap[*default];
            for (_, t) in cases {
                *t = remap[*t];
            }
        }
        Term::Ret | Term::Unreachable => {}
    }
}

fn int_bits(ty: &Ty, at: (u32, u32)) -> Result<u32> {
    match ty {
        Ty::Int(b) => Ok(*b),
        _ => Err(perr(
            at.0,
            at.1,
            format!("expected an integer type, found {ty:?}"),
        )),
    }
}

/// The low `bits` bits of `v`.
pub(crate) fn mask(v: u64, bits: u32) -> u64 {
    if bits >= 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    }
}

/// The low `bits` bits of `v` as a signed (two's complement) `bits`-bit integer. Width 0 (a
/// cast whose source is not an integer, as in mangled input) holds only 0, as in [`mask`].
pub(crate) fn sext(v: u64, bits: u32) -> i64 {
    match bits {
        0 => 0,
        64.. => v as i64,
        _ => {
            let shift = 64 - bits;
            ((v << shift) as i64) >> shift
        }
    }
}

fn binop(s: &str) -> Option<BinOp> {
    Some(match s {
        "add" => BinOp::Add,
        "sub" => BinOp::Sub,
        "mul" => BinOp::Mul,
        "sdiv" => BinOp::SDiv,
        "udiv" => BinOp::UDiv,
        "srem" => BinOp::SRem,
        "urem" => BinOp::URem,
        "shl" => BinOp::Shl,
        "lshr" => BinOp::LShr,
        "ashr" => BinOp::AShr,
        "and" => BinOp::And,
        "or" => BinOp::Or,
        "xor" => BinOp::Xor,
        _ => return None,
    })
}

fn fbinop(s: &str) -> Option<FBinOp> {
    Some(match s {
        "fadd" => FBinOp::Add,
        "fsub" => FBinOp::Sub,
        "fmul" => FBinOp::Mul,
        "fdiv" => FBinOp::Div,
        "frem" => FBinOp::Rem,
        _ => return None,
    })
}

fn castop(s: &str) -> Option<CastOp> {
    Some(match s {
        "trunc" => CastOp::Trunc,
        "zext" => CastOp::ZExt,
        "sext" => CastOp::SExt,
        "fptoui" => CastOp::FpToUi,
        "fptosi" => CastOp::FpToSi,
        "uitofp" => CastOp::UiToFp,
        "sitofp" => CastOp::SiToFp,
        "fptrunc" => CastOp::FpTrunc,
        "fpext" => CastOp::FpExt,
        "ptrtoint" => CastOp::PtrToInt,
        "inttoptr" => CastOp::IntToPtr,
        "bitcast" | "addrspacecast" => CastOp::BitCast,
        _ => return None,
    })
}

fn ipred(s: &str) -> Option<IPred> {
    Some(match s {
        "eq" => IPred::Eq,
        "ne" => IPred::Ne,
        "ugt" => IPred::Ugt,
        "uge" => IPred::Uge,
        "ult" => IPred::Ult,
        "ule" => IPred::Ule,
        "sgt" => IPred::Sgt,
        "sge" => IPred::Sge,
        "slt" => IPred::Slt,
        "sle" => IPred::Sle,
        _ => return None,
    })
}

fn fpred(s: &str) -> Option<FPred> {
    Some(match s {
        "false" => FPred::False,
        "true" => FPred::True,
        "oeq" => FPred::Oeq,
        "ogt" => FPred::Ogt,
        "oge" => FPred::Oge,
        "olt" => FPred::Olt,
        "ole" => FPred::Ole,
        "one" => FPred::One,
        "ord" => FPred::Ord,
        "ueq" => FPred::Ueq,
        "ugt" => FPred::Ugt,
        "uge" => FPred::Uge,
        "ult" => FPred::Ult,
        "ule" => FPred::Ule,
        "une" => FPred::Une,
        "uno" => FPred::Uno,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_extension_of_every_width_is_total() {
        assert_eq!(sext(0b101, 3), -3);
        assert_eq!(sext(0b011, 3), 3);
        assert_eq!(sext(u64::MAX, 64), -1);
        assert_eq!(sext(u64::MAX, 1), -1);
        // A cast from a pointer (no integer width) once overflowed the shift.
        assert_eq!(sext(12345, 0), 0);
        assert_eq!(mask(12345, 0), 0);
    }

    #[test]
    fn parses_base_profile_bell() {
        let src = r#"
%Qubit = type opaque
@0 = internal constant [4 x i8] c"0_a\00"
define void @main() #0 {
entry:
  call void @__quantum__qis__h__body(%Qubit* null)
  call void @__quantum__qis__cnot__body(%Qubit* null, %Qubit* inttoptr (i64 1 to %Qubit*))
  call void @__quantum__qis__mz__body(ptr null, ptr writeonly null)
  call void @__quantum__rt__array_record_output(i64 1, i8* getelementptr inbounds ([4 x i8], [4 x i8]* @0, i32 0, i32 0))
  ret void
}
declare void @__quantum__qis__h__body(%Qubit*)
attributes #0 = { "entry_point" "required_num_qubits"="2" }
"#;
        let m = parse(src).unwrap();
        let f = &m.functions[m.function("main").unwrap()];
        assert!(f.is_entry_point());
        assert_eq!(f.attr("required_num_qubits"), Some(Some("2")));
        assert_eq!(f.blocks[0].insts.len(), 4);
        assert_eq!(m.label(0).as_deref(), Some("0_a"));
    }

    #[test]
    fn reports_line_and_column() {
        let err = parse("define void @f() {\nentry:\n  frobnicate i64 1\n}\n").unwrap_err();
        assert!(
            matches!(err, SimError::Parse { pos, .. } if pos.line == 3 && pos.col == 3),
            "{err}"
        );
        let err =
            parse("define void @f() {\nentry:\n  %x = alloca i64\n  ret void\n}\n").unwrap_err();
        assert!(err.to_string().contains("alloca"), "{err}");
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn undefined_values_and_blocks_are_errors() {
        let err = parse("define void @f() {\nentry:\n  br label %nowhere\n}\n").unwrap_err();
        assert!(err.to_string().contains("nowhere"), "{err}");
        let err =
            parse("define void @f() {\nentry:\n  %a = add i64 %b, 1\n  ret void\n}\n").unwrap_err();
        assert!(err.to_string().contains("%b"), "{err}");
    }
}
