//! Recursive-descent parser for OpenQASM 2.0 and the OpenQASM 3 subset qws runs.
//!
//! One parser serves both versions; `version` only changes what `^` means (power in 2.0, xor in
//! 3) and which statements are accepted. Nesting is bounded so hostile input cannot overflow the
//! stack.

use super::ast::*;
use super::lexer::{Tok, Token};
use crate::error::{Pos, Result, SimError};

/// Deepest nesting of blocks, parentheses and unary operators the parser accepts (it recurses
/// once per level).
const MAX_NESTING: usize = 128;

/// Deepest expression tree accepted. A chain `a+b+c+…` is as deep as it is long, and evaluation,
/// lowering of conditions, clone and drop all recurse over the tree, so this bound (not only the
/// parser's own nesting) is what keeps them within a small thread stack.
pub const MAX_EXPR_DEPTH: usize = 256;

/// Most nodes accepted in one expression (a parameter, size, index or condition).
pub const MAX_EXPR_NODES: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V2,
    V3,
}

pub struct Parser {
    toks: Vec<Token>,
    i: usize,
    pub version: Version,
    depth: usize,
    /// Tree depth of the expression the last expression rule returned.
    expr_depth: usize,
    /// Nodes of the outermost expression being parsed, and how many `expr` calls are open.
    expr_nodes: usize,
    open_exprs: usize,
}

fn err<T>(pos: Pos, msg: impl Into<String>) -> Result<T> {
    Err(SimError::parse(pos.line, pos.col, msg))
}

/// Statements OpenQASM 3 has and qws does not run; named so the error says what was found.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("while", "while loops"),
    ("def", "subroutines (def)"),
    ("defcal", "calibrations (defcal)"),
    ("cal", "calibration blocks (cal)"),
    ("defcalgrammar", "calibration grammars"),
    ("extern", "extern functions"),
    ("box", "box statements"),
    ("let", "aliases (let)"),
    ("switch", "switch statements"),
    ("input", "input parameters"),
    ("output", "output declarations"),
    ("delay", "delay instructions"),
    ("duration", "durations"),
    ("stretch", "stretch types"),
    ("array", "arrays"),
    ("complex", "complex variables"),
    ("break", "break"),
    ("continue", "continue"),
    ("return", "return"),
    ("end", "end"),
    ("pragma", "pragmas"),
];

impl Parser {
    pub fn new(toks: Vec<Token>, version: Version) -> Self {
        Parser {
            toks,
            i: 0,
            version,
            depth: 0,
            expr_depth: 0,
            expr_nodes: 0,
            open_exprs: 0,
        }
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }
    fn pos(&self) -> Pos {
        self.toks[self.i].pos
    }
    fn advance(&mut self) -> Token {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }
    fn is_kw(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x == s)
    }
    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.advance();
            true
        } else {
            false
        }
    }
    fn expect_sym(&mut self, s: &str) -> Result<Pos> {
        let pos = self.pos();
        if self.eat_sym(s) {
            Ok(pos)
        } else {
            err(
                pos,
                format!("expected '{s}', found {}", describe(self.peek())),
            )
        }
    }
    fn expect_ident(&mut self, what: &str) -> Result<(String, Pos)> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.advance();
                Ok((s, pos))
            }
            t => err(pos, format!("expected {what}, found {}", describe(&t))),
        }
    }
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return err(
                self.pos(),
                format!(
                    "nesting too deep: blocks and expressions are nested deeper than \
                     {MAX_NESTING} levels"
                ),
            );
        }
        Ok(())
    }
    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Reads an optional `OPENQASM x.y;` header and returns the version it names.
    pub fn header(&mut self) -> Result<Option<Version>> {
        if !self.is_kw("OPENQASM") {
            return Ok(None);
        }
        self.advance();
        let pos = self.pos();
        let v = match self.advance().tok {
            Tok::Float(v) => v,
            Tok::Int(v) => v as f64,
            t => {
                return err(
                    pos,
                    format!("expected a version number, found {}", describe(&t)),
                )
            }
        };
        let version = if (2.0..3.0).contains(&v) {
            Version::V2
        } else if (3.0..4.0).contains(&v) {
            Version::V3
        } else {
            return Err(SimError::Unsupported(format!(
                "{}:{}: OpenQASM version {v} (qws reads 2.0 and 3)",
                pos.line, pos.col
            )));
        };
        self.expect_sym(";")?;
        self.version = version;
        Ok(Some(version))
    }

    pub fn program(&mut self) -> Result<Vec<Stmt>> {
        let mut out = Vec::new();
        while *self.peek() != Tok::Eof {
            out.push(self.statement()?);
        }
        Ok(out)
    }

    fn unsupported<T>(&self, pos: Pos, what: &str) -> Result<T> {
        Err(SimError::Unsupported(format!(
            "{}:{}: {what} are not supported",
            pos.line, pos.col
        )))
    }

    fn v3_only(&self, pos: Pos, what: &str) -> Result<()> {
        if self.version == Version::V2 {
            return err(
                pos,
                format!("{what} is OpenQASM 3 syntax; the program says OPENQASM 2.0"),
            );
        }
        Ok(())
    }

    fn statement(&mut self) -> Result<Stmt> {
        self.enter()?;
        let r = self.statement_inner();
        self.leave();
        r
    }

    fn statement_inner(&mut self) -> Result<Stmt> {
        let pos = self.pos();
        let word = match self.peek().clone() {
            Tok::Ident(w) => w,
            Tok::Sym("{") => {
                self.v3_only(pos, "a block")?;
                return Ok(Stmt::Block(self.block()?));
            }
            Tok::Sym("@") | Tok::Sym("#") => {
                return self.unsupported(pos, "annotations and pragmas");
            }
            t => return err(pos, format!("expected a statement, found {}", describe(&t))),
        };
        if let Some((_, what)) = UNSUPPORTED.iter().find(|(k, _)| *k == word) {
            if self.version == Version::V3 || matches!(word.as_str(), "while" | "def") {
                return self.unsupported(pos, what);
            }
        }
        match word.as_str() {
            "OPENQASM" => err(pos, "the OPENQASM header must come first"),
            "include" => {
                self.advance();
                let p = self.pos();
                let path = match self.advance().tok {
                    Tok::Str(s) => s,
                    t => return err(p, format!("expected a file name, found {}", describe(&t))),
                };
                self.expect_sym(";")?;
                Ok(Stmt::Include(path, pos))
            }
            "qreg" | "creg" => {
                self.advance();
                let (name, _) = self.expect_ident("a register name")?;
                self.expect_sym("[")?;
                let size = self.expr()?;
                self.expect_sym("]")?;
                self.expect_sym(";")?;
                Ok(if word == "qreg" {
                    Stmt::QubitDecl {
                        name,
                        size: Some(size),
                        pos,
                    }
                } else {
                    Stmt::BitDecl {
                        name,
                        size: Some(size),
                        init: None,
                        pos,
                    }
                })
            }
            "qubit" | "bit" => {
                self.v3_only(pos, "a qubit/bit declaration")?;
                self.advance();
                let size = if self.eat_sym("[") {
                    let e = self.expr()?;
                    self.expect_sym("]")?;
                    Some(e)
                } else {
                    None
                };
                let (name, _) = self.expect_ident("a name")?;
                if word == "qubit" {
                    self.expect_sym(";")?;
                    return Ok(Stmt::QubitDecl { name, size, pos });
                }
                let init = if self.eat_sym("=") {
                    if !self.is_kw("measure") {
                        return self.unsupported(self.pos(), "bit initialisers other than measure");
                    }
                    self.advance();
                    Some(self.operand()?)
                } else {
                    None
                };
                self.expect_sym(";")?;
                Ok(Stmt::BitDecl {
                    name,
                    size,
                    init,
                    pos,
                })
            }
            "gate" => self.gate_def(),
            "opaque" => {
                self.advance();
                let (name, _) = self.expect_ident("a gate name")?;
                let params = if self.is_sym("(") {
                    self.name_list_parens()?
                } else {
                    vec![]
                };
                let qubits = self.name_list()?;
                self.expect_sym(";")?;
                Ok(Stmt::Opaque {
                    name,
                    num_params: params.len(),
                    num_qubits: qubits.len(),
                    pos,
                })
            }
            "measure" => {
                self.advance();
                let qubits = self.operand()?;
                let bits = if self.eat_sym("->") {
                    Some(self.operand()?)
                } else {
                    if self.version == Version::V2 {
                        return err(self.pos(), "expected '->' after the measured qubits");
                    }
                    None
                };
                self.expect_sym(";")?;
                Ok(Stmt::Measure { qubits, bits, pos })
            }
            "reset" => {
                self.advance();
                let q = self.operand()?;
                self.expect_sym(";")?;
                Ok(Stmt::Reset(q, pos))
            }
            "barrier" => {
                self.advance();
                let mut args = Vec::new();
                if !self.is_sym(";") {
                    args.push(self.operand()?);
                    while self.eat_sym(",") {
                        args.push(self.operand()?);
                    }
                }
                self.expect_sym(";")?;
                Ok(Stmt::Barrier(args, pos))
            }
            "if" => self.if_stmt(),
            "for" => self.for_stmt(),
            "const" | "int" | "uint" | "float" | "angle" | "bool" => self.classical_decl(),
            _ => self.call_or_assign(),
        }
    }

    fn block(&mut self) -> Result<Vec<Stmt>> {
        self.expect_sym("{")?;
        let mut out = Vec::new();
        while !self.is_sym("}") {
            if *self.peek() == Tok::Eof {
                return err(self.pos(), "expected '}' before the end of the program");
            }
            out.push(self.statement()?);
        }
        self.advance();
        Ok(out)
    }

    /// A block, or (OpenQASM 3) a single statement, as the body of `if`/`for`.
    fn body(&mut self) -> Result<Vec<Stmt>> {
        if self.is_sym("{") {
            self.block()
        } else {
            Ok(vec![self.statement()?])
        }
    }

    fn name_list(&mut self) -> Result<Vec<String>> {
        let mut v = vec![self.expect_ident("a name")?.0];
        while self.eat_sym(",") {
            v.push(self.expect_ident("a name")?.0);
        }
        Ok(v)
    }

    fn name_list_parens(&mut self) -> Result<Vec<String>> {
        self.expect_sym("(")?;
        let mut v = Vec::new();
        if !self.is_sym(")") {
            v = self.name_list()?;
        }
        self.expect_sym(")")?;
        Ok(v)
    }

    fn gate_def(&mut self) -> Result<Stmt> {
        let pos = self.pos();
        self.advance();
        let (name, _) = self.expect_ident("a gate name")?;
        let params = if self.is_sym("(") {
            self.name_list_parens()?
        } else {
            vec![]
        };
        let qubits = if self.is_sym("{") {
            vec![]
        } else {
            self.name_list()?
        };
        let body = self.block()?;
        Ok(Stmt::GateDef {
            name,
            params,
            qubits,
            body,
            pos,
        })
    }

    fn if_stmt(&mut self) -> Result<Stmt> {
        let pos = self.pos();
        self.advance();
        self.expect_sym("(")?;
        let cond = self.expr()?;
        self.expect_sym(")")?;
        if self.version == Version::V2 {
            // OpenQASM 2: `if(creg==int) qop;` — one quantum operation, no else.
            let then_body = vec![self.statement()?];
            return Ok(Stmt::If {
                cond,
                then_body,
                else_body: vec![],
                pos,
            });
        }
        let then_body = self.body()?;
        let else_body = if self.is_kw("else") {
            self.advance();
            self.body()?
        } else {
            vec![]
        };
        Ok(Stmt::If {
            cond,
            then_body,
            else_body,
            pos,
        })
    }

    fn for_stmt(&mut self) -> Result<Stmt> {
        let pos = self.pos();
        self.v3_only(pos, "a for loop")?;
        self.advance();
        // Optional loop-variable type: `int`, `uint`, `int[32]`.
        if matches!(self.peek(), Tok::Ident(w) if matches!(w.as_str(), "int" | "uint" | "float" | "angle"))
            && matches!(self.peek_at(1), Tok::Ident(_) | Tok::Sym("["))
        {
            self.advance();
            if self.eat_sym("[") {
                self.expr()?;
                self.expect_sym("]")?;
            }
        }
        let (var, _) = self.expect_ident("a loop variable")?;
        if !self.is_kw("in") {
            return err(self.pos(), "expected 'in'");
        }
        self.advance();
        let range = if self.eat_sym("[") {
            let start = self.expr()?;
            self.expect_sym(":")?;
            let second = self.expr()?;
            let (step, end) = if self.eat_sym(":") {
                (Some(second), self.expr()?)
            } else {
                (None, second)
            };
            self.expect_sym("]")?;
            ForRange::Range { start, step, end }
        } else if self.eat_sym("{") {
            let mut v = vec![self.expr()?];
            while self.eat_sym(",") {
                v.push(self.expr()?);
            }
            self.expect_sym("}")?;
            ForRange::Set(v)
        } else {
            return self.unsupported(self.pos(), "loops over anything but ranges and sets");
        };
        let body = self.body()?;
        Ok(Stmt::For {
            var,
            range,
            body,
            pos,
        })
    }

    fn classical_decl(&mut self) -> Result<Stmt> {
        let pos = self.pos();
        self.v3_only(pos, "a classical declaration")?;
        if self.is_kw("const") {
            self.advance();
        }
        let (tyname, tpos) = self.expect_ident("a type")?;
        let ty = match tyname.as_str() {
            "int" => ClassicalType::Int,
            "uint" => ClassicalType::Uint,
            "float" => ClassicalType::Float,
            "angle" => ClassicalType::Angle,
            "bool" => ClassicalType::Bool,
            _ => return self.unsupported(tpos, &format!("'{tyname}' declarations")),
        };
        if self.eat_sym("[") {
            self.expr()?;
            self.expect_sym("]")?;
        }
        let (name, _) = self.expect_ident("a variable name")?;
        let init = if self.eat_sym("=") {
            if self.is_kw("measure") {
                return self.unsupported(self.pos(), "measurements into non-bit variables");
            }
            Some(self.expr()?)
        } else {
            None
        };
        self.expect_sym(";")?;
        Ok(Stmt::ClassicalDecl {
            ty,
            name,
            init,
            pos,
        })
    }

    /// A gate call with modifiers, `gphase`, a measurement assignment `c = measure q;`, or a
    /// classical assignment `x = expr;`.
    fn call_or_assign(&mut self) -> Result<Stmt> {
        let pos = self.pos();
        // Assignment: `name =`, `name op=`, or `name[...] =`.
        let is_assign = match self.peek_at(1) {
            Tok::Sym("=") | Tok::Sym("+=") | Tok::Sym("-=") | Tok::Sym("*=") | Tok::Sym("/=") => {
                true
            }
            Tok::Sym("[") => {
                // Look for `] =` after a balanced index.
                let mut j = self.i + 2;
                let mut depth = 1;
                while j < self.toks.len() && depth > 0 {
                    match self.toks[j].tok {
                        Tok::Sym("[") => depth += 1,
                        Tok::Sym("]") => depth -= 1,
                        Tok::Eof => break,
                        _ => {}
                    }
                    j += 1;
                }
                j < self.toks.len() && self.toks[j].tok == Tok::Sym("=")
            }
            _ => false,
        };
        if is_assign {
            self.v3_only(pos, "an assignment")?;
            let target = self.operand()?;
            let op = match self.advance().tok {
                Tok::Sym("=") => None,
                Tok::Sym("+=") => Some(BinOp::Add),
                Tok::Sym("-=") => Some(BinOp::Sub),
                Tok::Sym("*=") => Some(BinOp::Mul),
                _ => Some(BinOp::Div),
            };
            if self.is_kw("measure") {
                if op.is_some() {
                    return err(pos, "a measurement can only be assigned with '='");
                }
                self.advance();
                let qubits = self.operand()?;
                self.expect_sym(";")?;
                return Ok(Stmt::Measure {
                    qubits,
                    bits: Some(target),
                    pos,
                });
            }
            let name = match target {
                Operand::Name(n, _) => n,
                _ => return self.unsupported(pos, "assignments to bits other than measurements"),
            };
            let value = self.expr()?;
            self.expect_sym(";")?;
            return Ok(Stmt::Assign {
                name,
                op,
                value,
                pos,
            });
        }
        let mut modifiers = Vec::new();
        while let Tok::Ident(w) = self.peek().clone() {
            let m = match w.as_str() {
                "inv" => {
                    self.advance();
                    Modifier::Inv
                }
                "ctrl" | "negctrl" | "pow" => {
                    self.advance();
                    let arg = if self.eat_sym("(") {
                        let e = self.expr()?;
                        self.expect_sym(")")?;
                        Some(e)
                    } else {
                        None
                    };
                    match w.as_str() {
                        "ctrl" => Modifier::Ctrl(arg),
                        "negctrl" => Modifier::NegCtrl(arg),
                        _ => match arg {
                            Some(e) => Modifier::Pow(e),
                            None => return err(self.pos(), "pow needs an exponent: pow(k) @"),
                        },
                    }
                }
                _ => break,
            };
            self.v3_only(pos, "a gate modifier")?;
            self.expect_sym("@")?;
            modifiers.push(m);
        }
        let (name, npos) = self.expect_ident("a gate name")?;
        let mut params = Vec::new();
        if self.eat_sym("(") {
            if !self.is_sym(")") {
                params.push(self.expr()?);
                while self.eat_sym(",") {
                    params.push(self.expr()?);
                }
            }
            self.expect_sym(")")?;
        }
        let mut args = Vec::new();
        if !self.is_sym(";") {
            args.push(self.operand()?);
            while self.eat_sym(",") {
                args.push(self.operand()?);
            }
        }
        self.expect_sym(";")?;
        Ok(Stmt::GateCall {
            modifiers,
            name,
            params,
            args,
            pos: npos,
        })
    }

    fn operand(&mut self) -> Result<Operand> {
        let pos = self.pos();
        if let Tok::Hardware(_) = self.peek() {
            return self.unsupported(pos, "hardware qubits ($n)");
        }
        let (name, _) = self.expect_ident("a register or qubit")?;
        if !self.eat_sym("[") {
            return Ok(Operand::Name(name, pos));
        }
        let first = self.expr()?;
        if self.eat_sym(":") {
            self.v3_only(pos, "a register slice")?;
            let second = self.expr()?;
            let (step, end) = if self.eat_sym(":") {
                (Some(second), self.expr()?)
            } else {
                (None, second)
            };
            self.expect_sym("]")?;
            return Ok(Operand::Slice {
                name,
                start: first,
                step,
                end,
                pos,
            });
        }
        if self.is_sym(",") && self.version == Version::V3 {
            return self.unsupported(pos, "index sets and multi-dimensional indexing");
        }
        self.expect_sym("]")?;
        Ok(Operand::Indexed(name, first, pos))
    }

    pub fn expr(&mut self) -> Result<Expr> {
        self.enter()?;
        if self.open_exprs == 0 {
            self.expr_nodes = 0;
        }
        self.open_exprs += 1;
        let r = self.binary(0);
        self.open_exprs -= 1;
        self.leave();
        r
    }

    /// Accounts for one new expression node of tree depth `depth` (which becomes the depth of
    /// the expression just built).
    fn node(&mut self, depth: usize, pos: Pos) -> Result<()> {
        self.expr_nodes += 1;
        if depth > MAX_EXPR_DEPTH {
            return err(
                pos,
                format!(
                    "the expression is nested deeper than {MAX_EXPR_DEPTH} levels \
                     (each operator in a chain such as a+b+c adds a level)"
                ),
            );
        }
        if self.expr_nodes > MAX_EXPR_NODES {
            return err(
                pos,
                format!("the expression has more than {MAX_EXPR_NODES} terms and operators"),
            );
        }
        self.expr_depth = depth;
        Ok(())
    }

    fn binop_at(&self, level: usize) -> Option<BinOp> {
        let s = match self.peek() {
            Tok::Sym(s) => *s,
            _ => return None,
        };
        let op = match (level, s) {
            (0, "||") => BinOp::Or,
            (1, "&&") => BinOp::And,
            (2, "|") => BinOp::BitOr,
            (3, "^") if self.version == Version::V3 => BinOp::BitXor,
            (4, "&") => BinOp::BitAnd,
            (5, "==") => BinOp::Eq,
            (5, "!=") => BinOp::Ne,
            (6, "<") => BinOp::Lt,
            (6, "<=") => BinOp::Le,
            (6, ">") => BinOp::Gt,
            (6, ">=") => BinOp::Ge,
            (7, "<<") => BinOp::Shl,
            (7, ">>") => BinOp::Shr,
            (8, "+") => BinOp::Add,
            (8, "-") => BinOp::Sub,
            (9, "*") => BinOp::Mul,
            (9, "/") => BinOp::Div,
            (9, "%") => BinOp::Mod,
            _ => return None,
        };
        Some(op)
    }

    /// Left-associative binary levels 0..=9, then unary, then power.
    fn binary(&mut self, level: usize) -> Result<Expr> {
        if level > 9 {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        let mut depth = self.expr_depth;
        while let Some(op) = self.binop_at(level) {
            let pos = self.pos();
            self.advance();
            let rhs = self.binary(level + 1)?;
            depth = 1 + depth.max(self.expr_depth);
            self.node(depth, pos)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs), pos);
        }
        self.expr_depth = depth;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr> {
        // Unary plus changes nothing; skip any number of them without recursing.
        while self.is_sym("+") {
            self.advance();
        }
        let pos = self.pos();
        let op = match self.peek() {
            Tok::Sym("-") => Some(UnOp::Neg),
            Tok::Sym("!") => Some(UnOp::Not),
            Tok::Sym("~") => Some(UnOp::BitNot),
            _ => None,
        };
        match op {
            Some(op) => {
                self.advance();
                self.enter()?;
                let e = self.unary();
                self.leave();
                let e = e?;
                self.node(self.expr_depth + 1, pos)?;
                Ok(Expr::Unary(op, Box::new(e), pos))
            }
            None => self.power(),
        }
    }

    fn power(&mut self) -> Result<Expr> {
        let base = self.primary()?;
        let base_depth = self.expr_depth;
        let is_pow = self.is_sym("**") || (self.version == Version::V2 && self.is_sym("^"));
        if is_pow {
            let pos = self.pos();
            self.advance();
            self.enter()?;
            let exp = self.unary();
            self.leave();
            let exp = exp?;
            self.node(1 + base_depth.max(self.expr_depth), pos)?;
            return Ok(Expr::Binary(BinOp::Pow, Box::new(base), Box::new(exp), pos));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr> {
        let pos = self.pos();
        let leaf = |p: &mut Self, e: Expr| -> Result<Expr> {
            p.node(1, pos)?;
            Ok(e)
        };
        match self.advance().tok {
            Tok::Int(v) => leaf(self, Expr::Int(v)),
            Tok::Float(v) => leaf(self, Expr::Float(v)),
            // Parentheses group; they add no node and the inner depth stands.
            Tok::Sym("(") => {
                let e = self.expr()?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Tok::Ident(name) => match name.as_str() {
                "true" => leaf(self, Expr::Bool(true)),
                "false" => leaf(self, Expr::Bool(false)),
                _ if self.is_sym("(") => {
                    self.advance();
                    let mut args = Vec::new();
                    let mut depth = 0;
                    if !self.is_sym(")") {
                        args.push(self.expr()?);
                        depth = self.expr_depth;
                        while self.eat_sym(",") {
                            args.push(self.expr()?);
                            depth = depth.max(self.expr_depth);
                        }
                    }
                    self.expect_sym(")")?;
                    self.node(depth + 1, pos)?;
                    Ok(Expr::Call(name, args, pos))
                }
                _ if self.is_sym("[") => {
                    self.advance();
                    let idx = self.expr()?;
                    self.expect_sym("]")?;
                    self.node(self.expr_depth + 1, pos)?;
                    Ok(Expr::Index(name, Box::new(idx), pos))
                }
                _ => leaf(self, Expr::Ident(name, pos)),
            },
            t => err(
                pos,
                format!("expected an expression, found {}", describe(&t)),
            ),
        }
    }
}

pub fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Int(v) => format!("'{v}'"),
        Tok::Float(v) => format!("'{v}'"),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Sym(s) => format!("'{s}'"),
        Tok::Hardware(n) => format!("'${n}'"),
        Tok::Duration => "a duration".into(),
        Tok::Eof => "the end of the program".into(),
    }
}
