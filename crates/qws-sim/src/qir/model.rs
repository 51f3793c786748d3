//! The program model both QIR readers produce: the small part of LLVM IR that QIR profiles use.
//!
//! Values are numbered per function (`Operand::Local(slot)`); blocks are indices into
//! `Function::blocks`. Everything carries a [`Loc`] so errors can point at the construct.

use std::fmt;

/// Where a construct came from: a line/column in textual IR, or a position in bitcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Loc {
    #[default]
    Unknown,
    /// 1-based line and column in a `.ll` text.
    Text { line: u32, col: u32 },
    /// Block index and instruction index (0-based) inside a bitcode function body.
    Bitcode { block: u32, inst: u32 },
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Unknown => write!(f, "unknown position"),
            Loc::Text { line, col } => write!(f, "line {line}, column {col}"),
            Loc::Bitcode { block, inst } => {
                write!(f, "bitcode basic block {block}, instruction {inst}")
            }
        }
    }
}

/// A first-class type, reduced to what execution needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    Void,
    /// Integer of the given bit width (1..=64).
    Int(u32),
    /// `half`, `float` and `double` are all computed as f64.
    Float,
    /// Any pointer, typed (`%Qubit*`) or opaque (`ptr`).
    Ptr,
    Label,
    /// Anything else (arrays, structs, metadata, named opaque structs used by value).
    Other(String),
}

/// A compile-time constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    /// An integer, kept as the low `bits` bits of `value` (zero-extended).
    Int {
        bits: u32,
        value: u64,
    },
    Float(f64),
    /// A pointer made from an integer (`inttoptr (i64 N to ptr)`); `null` is `Ptr(0)`.
    Ptr(u64),
    /// The address of a global variable (index into `Module::globals`), e.g. an output label.
    Global(usize),
    /// The address of a function (index into `Module::functions`); only valid as a callee.
    Function(usize),
    Undef,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// An SSA value of the current function (parameters first, then instruction results).
    Local(usize),
    Const(Const),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    SDiv,
    UDiv,
    SRem,
    URem,
    Shl,
    LShr,
    AShr,
    And,
    Or,
    Xor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FBinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IPred {
    Eq,
    Ne,
    Ugt,
    Uge,
    Ult,
    Ule,
    Sgt,
    Sge,
    Slt,
    Sle,
}

/// Floating-point predicates: `ordered` requires both operands to be non-NaN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FPred {
    False,
    True,
    Oeq,
    Ogt,
    Oge,
    Olt,
    Ole,
    One,
    Ord,
    Ueq,
    Ugt,
    Uge,
    Ult,
    Ule,
    Une,
    Uno,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CastOp {
    Trunc,
    ZExt,
    SExt,
    FpToUi,
    FpToSi,
    UiToFp,
    SiToFp,
    FpTrunc,
    FpExt,
    PtrToInt,
    IntToPtr,
    BitCast,
    /// `freeze` behaves as a no-op copy here (we never produce poison).
    Freeze,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Inst {
    Call {
        dest: Option<usize>,
        /// Index into `Module::functions`.
        callee: usize,
        args: Vec<Operand>,
    },
    Bin {
        dest: usize,
        op: BinOp,
        bits: u32,
        a: Operand,
        b: Operand,
    },
    FBin {
        dest: usize,
        op: FBinOp,
        a: Operand,
        b: Operand,
    },
    FNeg {
        dest: usize,
        a: Operand,
    },
    ICmp {
        dest: usize,
        pred: IPred,
        bits: u32,
        a: Operand,
        b: Operand,
    },
    FCmp {
        dest: usize,
        pred: FPred,
        a: Operand,
        b: Operand,
    },
    Cast {
        dest: usize,
        op: CastOp,
        /// Source bit width for integer sources (0 otherwise).
        from_bits: u32,
        to: Ty,
        a: Operand,
    },
    Select {
        dest: usize,
        cond: Operand,
        a: Operand,
        b: Operand,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Phi {
    pub dest: usize,
    /// (predecessor block, value)
    pub incoming: Vec<(usize, Operand)>,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    Br(usize),
    CondBr {
        cond: Operand,
        then_block: usize,
        else_block: usize,
    },
    Switch {
        value: Operand,
        bits: u32,
        default: usize,
        cases: Vec<(u64, usize)>,
    },
    Ret,
    Unreachable,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub name: String,
    pub phis: Vec<Phi>,
    pub insts: Vec<(Inst, Loc)>,
    pub term: Term,
    pub term_loc: Loc,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Function {
    pub name: String,
    /// String attributes (`"entry_point"`, `"required_num_qubits"="2"`, …), key → value.
    pub attrs: Vec<(String, Option<String>)>,
    pub is_declaration: bool,
    pub num_params: usize,
    /// Total SSA slots (parameters + instruction results).
    pub num_values: usize,
    pub blocks: Vec<Block>,
    pub loc: Loc,
}

impl Function {
    pub fn attr(&self, key: &str) -> Option<Option<&str>> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref())
    }

    pub fn is_entry_point(&self) -> bool {
        !self.is_declaration && self.attr("entry_point").is_some()
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Global {
    pub name: String,
    /// The initializer, when it is a byte string (output labels).
    pub bytes: Option<Vec<u8>>,
}

/// A parsed QIR module.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Module {
    pub functions: Vec<Function>,
    pub globals: Vec<Global>,
}

impl Module {
    /// The function called `name`, if any.
    pub fn function(&self, name: &str) -> Option<usize> {
        self.functions.iter().position(|f| f.name == name)
    }

    /// Label text of a global (up to the first NUL), for output recording.
    pub fn label(&self, global: usize) -> Option<String> {
        let b = self.globals.get(global)?.bytes.as_ref()?;
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        Some(String::from_utf8_lossy(&b[..end]).into_owned())
    }
}
