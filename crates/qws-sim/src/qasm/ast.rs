//! The syntax tree the parser builds and the lowering walks. Positions stay on every node that
//! can fail later, so lowering errors point at the source.

use crate::error::Pos;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
    BitNot,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Int(u64),
    Float(f64),
    Bool(bool),
    Ident(String, Pos),
    /// `name[index]` (a classical bit in conditions).
    Index(String, Box<Expr>, Pos),
    Unary(UnOp, Box<Expr>, Pos),
    Binary(BinOp, Box<Expr>, Box<Expr>, Pos),
    /// A built-in function (`sin`, `sqrt`, …) or a cast (`float(x)`).
    Call(String, Vec<Expr>, Pos),
}

impl Expr {
    pub fn pos(&self) -> Option<Pos> {
        match self {
            Expr::Ident(_, p)
            | Expr::Index(_, _, p)
            | Expr::Unary(_, _, p)
            | Expr::Binary(_, _, _, p)
            | Expr::Call(_, _, p) => Some(*p),
            _ => None,
        }
    }
}

/// A qubit or bit operand: a whole register, one element, or a slice `r[a:b]`.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Name(String, Pos),
    Indexed(String, Expr, Pos),
    Slice {
        name: String,
        start: Expr,
        step: Option<Expr>,
        end: Expr,
        pos: Pos,
    },
}

impl Operand {
    pub fn pos(&self) -> Pos {
        match self {
            Operand::Name(_, p) | Operand::Indexed(_, _, p) => *p,
            Operand::Slice { pos, .. } => *pos,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Modifier {
    Ctrl(Option<Expr>),
    NegCtrl(Option<Expr>),
    Inv,
    Pow(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ForRange {
    Range {
        start: Expr,
        step: Option<Expr>,
        end: Expr,
    },
    Set(Vec<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ClassicalType {
    Int,
    Uint,
    Float,
    Angle,
    Bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    Include(String, Pos),
    QubitDecl {
        name: String,
        size: Option<Expr>,
        pos: Pos,
    },
    BitDecl {
        name: String,
        size: Option<Expr>,
        init: Option<Operand>,
        pos: Pos,
    },
    GateDef {
        name: String,
        params: Vec<String>,
        qubits: Vec<String>,
        body: Vec<Stmt>,
        pos: Pos,
    },
    Opaque {
        name: String,
        num_params: usize,
        num_qubits: usize,
        pos: Pos,
    },
    GateCall {
        modifiers: Vec<Modifier>,
        name: String,
        params: Vec<Expr>,
        args: Vec<Operand>,
        pos: Pos,
    },
    Measure {
        qubits: Operand,
        bits: Option<Operand>,
        pos: Pos,
    },
    Reset(Operand, Pos),
    Barrier(Vec<Operand>, Pos),
    If {
        cond: Expr,
        then_body: Vec<Stmt>,
        else_body: Vec<Stmt>,
        pos: Pos,
    },
    For {
        var: String,
        range: ForRange,
        body: Vec<Stmt>,
        pos: Pos,
    },
    ClassicalDecl {
        ty: ClassicalType,
        name: String,
        init: Option<Expr>,
        pos: Pos,
    },
    Assign {
        name: String,
        op: Option<BinOp>,
        value: Expr,
        pos: Pos,
    },
    Block(Vec<Stmt>),
}
