//! LLVM bitcode → program model, for the records QIR uses.
//!
//! Understands the module structure (types, attribute groups, globals, functions, constants,
//! string table) and function bodies made of calls, branches, switch, phi, select, integer and
//! floating-point arithmetic, comparisons and casts. Typed (`%Qubit*`) and opaque (`ptr`)
//! pointers both become plain pointers. Memory instructions are rejected as unsupported.

use super::bitstream::{self, Block, Entry, Record};
use super::model::*;
use super::text::mask;
use crate::error::{Result, SimError};
use std::collections::HashMap;

const MODULE_BLOCK: u32 = 8;
const PARAMATTR_BLOCK: u32 = 9;
const PARAMATTR_GROUP_BLOCK: u32 = 10;
const CONSTANTS_BLOCK: u32 = 11;
const FUNCTION_BLOCK: u32 = 12;
const VALUE_SYMTAB_BLOCK: u32 = 14;
const TYPE_BLOCK_NEW: u32 = 17;
const STRTAB_BLOCK: u32 = 23;

fn bad(msg: impl Into<String>) -> SimError {
    SimError::Invalid(format!("malformed LLVM bitcode: {}", msg.into()))
}

#[derive(Clone, Debug, PartialEq)]
enum BTy {
    Void,
    Int(u32),
    Float {
        double: bool,
    },
    /// Pointee type id for typed pointers.
    Ptr(Option<usize>),
    Label,
    Func {
        ret: usize,
        params: Vec<usize>,
    },
    Array(usize),
    Other,
}

#[derive(Clone, Debug, PartialEq)]
enum CVal {
    Int {
        bits: u32,
        value: u64,
    },
    Float(f64),
    Ptr0,
    Undef,
    Bytes(Vec<u8>),
    /// A cast constant expression of the value with this absolute id.
    Cast {
        op: u64,
        val: usize,
    },
    /// A getelementptr constant expression; only its base matters (labels).
    Gep {
        base: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum GVal {
    Global(usize),
    Function(usize),
    Const(CVal),
    Unknown,
}

/// The type of a value, as far as execution cares.
#[derive(Clone, Copy, Debug, PartialEq)]
enum VT {
    Id(usize),
    Bool,
    Ptr,
    Unknown,
}

struct Types(Vec<BTy>);

impl Types {
    fn get(&self, id: u64) -> Result<&BTy> {
        self.0
            .get(id as usize)
            .ok_or_else(|| bad(format!("type id {id} out of range")))
    }
    fn vt_ty(&self, vt: VT) -> Ty {
        match vt {
            VT::Bool => Ty::Int(1),
            VT::Ptr => Ty::Ptr,
            VT::Unknown => Ty::Other("unknown".into()),
            VT::Id(i) => match self.0.get(i) {
                Some(BTy::Int(b)) => Ty::Int(*b),
                Some(BTy::Float { .. }) => Ty::Float,
                Some(BTy::Ptr(_)) => Ty::Ptr,
                Some(BTy::Void) => Ty::Void,
                Some(BTy::Label) => Ty::Label,
                _ => Ty::Other("aggregate".into()),
            },
        }
    }
    fn id_ty(&self, id: u64) -> Ty {
        self.vt_ty(VT::Id(id as usize))
    }
}

/// Parses LLVM bitcode (raw or in the `0x0B17C0DE` wrapper).
pub fn parse(input: &[u8]) -> Result<Module> {
    let data = unwrap_wrapper(input)?;
    if !data.starts_with(&super::BITCODE_MAGIC) {
        return Err(bad("missing the BC\\xC0\\xDE magic"));
    }
    let blocks = bitstream::parse(data, 4)?;
    let module = blocks
        .iter()
        .find(|b| b.id == MODULE_BLOCK)
        .ok_or_else(|| bad("no module block"))?;
    let strtab = blocks
        .iter()
        .filter(|b| b.id == STRTAB_BLOCK)
        .flat_map(|b| b.records())
        .find(|r| r.code == 1)
        .and_then(|r| r.blob.clone())
        .unwrap_or_default();
    read_module(module, &strtab)
}

fn unwrap_wrapper(input: &[u8]) -> Result<&[u8]> {
    if !input.starts_with(&[0xDE, 0xC0, 0x17, 0x0B]) {
        return Ok(input);
    }
    let word = |i: usize| -> Result<usize> {
        input
            .get(i * 4..i * 4 + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| bad("truncated wrapper header"))
    };
    let (off, size) = (word(2)?, word(3)?);
    input
        .get(off..off.checked_add(size).ok_or_else(|| bad("wrapper size"))?)
        .ok_or_else(|| bad("wrapper points outside the file"))
}

fn chars(ops: &[u64]) -> String {
    let bytes: Vec<u8> = ops.iter().map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn op(r: &Record, i: usize) -> Result<u64> {
    r.ops
        .get(i)
        .copied()
        .ok_or_else(|| bad(format!("record {} is too short", r.code)))
}

/// Attribute group id → (parameter index, string attributes).
type AttrGroups = HashMap<u64, (u64, Vec<(String, Option<String>)>)>;

struct ModuleState {
    types: Types,
    values: Vec<GVal>,
    vtypes: Vec<VT>,
    module: Module,
    /// Function index → function type id.
    fn_types: HashMap<usize, usize>,
    attr_groups: AttrGroups,
    attr_lists: Vec<Vec<u64>>,
}

fn read_module(block: &Block, strtab: &[u8]) -> Result<Module> {
    let mut st = ModuleState {
        types: Types(Vec::new()),
        values: Vec::new(),
        vtypes: Vec::new(),
        module: Module::default(),
        fn_types: HashMap::new(),
        attr_groups: HashMap::new(),
        attr_lists: Vec::new(),
    };
    let mut version = 0u64;
    let mut bodies: Vec<&Block> = Vec::new();
    let mut defined: Vec<usize> = Vec::new();
    let mut global_inits: Vec<(usize, usize)> = Vec::new();
    let mut names_v1: HashMap<usize, String> = HashMap::new();
    let name_of = |r: &Record, version: u64| -> Result<Option<String>> {
        if version < 2 {
            return Ok(None);
        }
        let (off, size) = (op(r, 0)? as usize, op(r, 1)? as usize);
        let s = strtab
            .get(off..off.saturating_add(size))
            .ok_or_else(|| bad("symbol name outside the string table"))?;
        Ok(Some(String::from_utf8_lossy(s).into_owned()))
    };
    for e in &block.entries {
        match e {
            Entry::Record(r) => match r.code {
                1 => version = op(r, 0)?,
                7 => {
                    // GLOBALVAR: [strtab off, size,] ptr type, isconst, initid, linkage, …
                    let base = if version >= 2 { 2 } else { 0 };
                    let init = op(r, base + 2)?;
                    let gi = st.module.globals.len();
                    let name = name_of(r, version)?.unwrap_or_default();
                    st.module.globals.push(Global { name, bytes: None });
                    if init > 0 {
                        global_inits.push((gi, init as usize - 1));
                    }
                    st.values.push(GVal::Global(gi));
                    st.vtypes.push(VT::Ptr);
                }
                8 => {
                    // FUNCTION: [strtab off, size,] type, cc, isproto, linkage, paramattr, …
                    let base = if version >= 2 { 2 } else { 0 };
                    let mut ty = op(r, base)? as usize;
                    if let Ok(BTy::Ptr(Some(p))) = st.types.get(ty as u64) {
                        ty = *p;
                    }
                    if !matches!(st.types.get(ty as u64)?, BTy::Func { .. }) {
                        return Err(bad("function record without a function type"));
                    }
                    let is_proto = op(r, base + 2)? != 0;
                    let paramattr = r.ops.get(base + 4).copied().unwrap_or(0);
                    let fi = st.module.functions.len();
                    let name = name_of(r, version)?.unwrap_or_default();
                    let attrs = function_attrs(&st, paramattr);
                    st.module.functions.push(Function {
                        name,
                        attrs,
                        is_declaration: true,
                        num_params: 0,
                        loc: Loc::Unknown,
                        ..Default::default()
                    });
                    st.fn_types.insert(fi, ty);
                    if !is_proto {
                        defined.push(fi);
                    }
                    st.values.push(GVal::Function(fi));
                    st.vtypes.push(VT::Ptr);
                }
                9 | 14 | 15 => {
                    // Aliases and ifuncs take a value id.
                    st.values.push(GVal::Unknown);
                    st.vtypes.push(VT::Ptr);
                }
                _ => {}
            },
            Entry::Block(b) => match b.id {
                TYPE_BLOCK_NEW => st.types = read_types(b)?,
                PARAMATTR_GROUP_BLOCK => read_attr_groups(b, &mut st.attr_groups),
                PARAMATTR_BLOCK => {
                    st.attr_lists = b
                        .records()
                        .filter(|r| r.code == 2)
                        .map(|r| r.ops.clone())
                        .collect();
                }
                CONSTANTS_BLOCK => {
                    let (vals, vts) = read_constants(b, &st.types)?;
                    st.values.extend(vals);
                    st.vtypes.extend(vts);
                }
                FUNCTION_BLOCK => bodies.push(b),
                VALUE_SYMTAB_BLOCK if version < 2 => {
                    for r in b.records() {
                        match r.code {
                            1 if !r.ops.is_empty() => {
                                names_v1.insert(r.ops[0] as usize, chars(&r.ops[1..]));
                            }
                            3 if r.ops.len() >= 2 => {
                                names_v1.insert(r.ops[0] as usize, chars(&r.ops[2..]));
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            },
        }
    }
    if version < 1 {
        return Err(SimError::Unsupported(
            "LLVM bitcode older than version 1 (absolute value ids)".into(),
        ));
    }
    for (id, name) in names_v1 {
        match st.values.get(id) {
            Some(GVal::Global(g)) => st.module.globals[*g].name = name,
            Some(GVal::Function(f)) => st.module.functions[*f].name = name,
            _ => {}
        }
    }
    for (gi, vid) in global_inits {
        if let Some(GVal::Const(CVal::Bytes(b))) = st.values.get(vid) {
            st.module.globals[gi].bytes = Some(b.clone());
        }
    }
    // Function attributes that name a group before it was read are resolved here too.
    if bodies.len() != defined.len() {
        return Err(bad(format!(
            "{} function bodies for {} defined functions",
            bodies.len(),
            defined.len()
        )));
    }
    for (body, &fi) in bodies.iter().zip(&defined) {
        let f = read_function(&st, fi, body)?;
        st.module.functions[fi] = f;
    }
    Ok(st.module)
}

fn function_attrs(st: &ModuleState, paramattr: u64) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    if paramattr == 0 {
        return out;
    }
    if let Some(groups) = st.attr_lists.get(paramattr as usize - 1) {
        for g in groups {
            if let Some((idx, attrs)) = st.attr_groups.get(g) {
                if *idx == 0xFFFF_FFFF {
                    out.extend(attrs.iter().cloned());
                }
            }
        }
    }
    out
}

fn read_attr_groups(b: &Block, groups: &mut AttrGroups) {
    for r in b.records().filter(|r| r.code == 3 && r.ops.len() >= 2) {
        let mut attrs = Vec::new();
        let ops = &r.ops;
        let mut i = 2;
        let read_str = |i: &mut usize| -> String {
            *i = (*i).min(ops.len());
            let s = *i;
            while *i < ops.len() && ops[*i] != 0 {
                *i += 1;
            }
            let out = chars(&ops[s..*i]);
            *i += 1;
            out
        };
        while i < ops.len() {
            let kind = ops[i];
            i += 1;
            match kind {
                0 | 6 => i += 1,
                1 | 5 => i += 2,
                3 => attrs.push((read_str(&mut i), None)),
                4 => {
                    let k = read_str(&mut i);
                    let v = read_str(&mut i);
                    attrs.push((k, Some(v)));
                }
                7 => {
                    // Constant range: id, bit width, lower, upper (≤ 64-bit ranges).
                    if ops.get(i + 1).is_some_and(|&w| w > 64) {
                        break;
                    }
                    i += 4;
                }
                _ => break,
            }
        }
        groups.insert(ops[0], (ops[1], attrs));
    }
}

fn read_types(b: &Block) -> Result<Types> {
    let mut t = Vec::new();
    for r in b.records() {
        let ty = match r.code {
            1 | 19 => continue, // NUMENTRY, STRUCT_NAME
            2 => BTy::Void,
            3 | 10 | 23 => BTy::Float { double: false },
            4 => BTy::Float { double: true },
            5 => BTy::Label,
            7 => {
                let w = op(r, 0)?;
                if (1..=64).contains(&w) {
                    BTy::Int(w as u32)
                } else {
                    BTy::Other
                }
            }
            8 => BTy::Ptr(Some(op(r, 0)? as usize)),
            25 => BTy::Ptr(None),
            21 => {
                // FUNCTION: [vararg, retty, paramty…]
                let ret = op(r, 1)? as usize;
                BTy::Func {
                    ret,
                    params: r.ops[2..].iter().map(|&p| p as usize).collect(),
                }
            }
            9 => {
                // FUNCTION_OLD: [vararg, attrid, retty, paramty…]
                let ret = op(r, 2)? as usize;
                BTy::Func {
                    ret,
                    params: r.ops[3..].iter().map(|&p| p as usize).collect(),
                }
            }
            11 => BTy::Array(op(r, 1)? as usize),
            _ => BTy::Other,
        };
        if t.len() > 1 << 20 {
            return Err(SimError::Limit("too many types in the bitcode".into()));
        }
        t.push(ty);
    }
    Ok(Types(t))
}

fn decode_signed(v: u64) -> i64 {
    if v & 1 == 0 {
        (v >> 1) as i64
    } else if v == 1 {
        i64::MIN
    } else {
        -((v >> 1) as i64)
    }
}

fn read_constants(b: &Block, types: &Types) -> Result<(Vec<GVal>, Vec<VT>)> {
    let mut vals = Vec::new();
    let mut vts = Vec::new();
    let mut cur: Option<usize> = None;
    for r in b.records() {
        if r.code == 1 {
            let t = op(r, 0)?;
            types.get(t)?;
            cur = Some(t as usize);
            continue;
        }
        let cty = match cur {
            Some(c) => &types.0[c],
            None => &BTy::Int(32),
        };
        let c = match r.code {
            2 => match cty {
                BTy::Int(bits) => CVal::Int {
                    bits: *bits,
                    value: 0,
                },
                BTy::Float { .. } => CVal::Float(0.0),
                BTy::Ptr(_) => CVal::Ptr0,
                _ => CVal::Undef,
            },
            4 => {
                let bits = match cty {
                    BTy::Int(b) => *b,
                    _ => 64,
                };
                CVal::Int {
                    bits,
                    value: mask(decode_signed(op(r, 0)?) as u64, bits),
                }
            }
            6 => {
                let raw = op(r, 0)?;
                CVal::Float(match cty {
                    BTy::Float { double: true } => f64::from_bits(raw),
                    _ => f32::from_bits(raw as u32) as f64,
                })
            }
            8 => CVal::Bytes(r.ops.iter().map(|&c| c as u8).collect()),
            9 => {
                let mut v: Vec<u8> = r.ops.iter().map(|&c| c as u8).collect();
                v.push(0);
                CVal::Bytes(v)
            }
            22 => match cty {
                BTy::Array(e) if types.0.get(*e) == Some(&BTy::Int(8)) => {
                    CVal::Bytes(r.ops.iter().map(|&c| c as u8).collect())
                }
                _ => CVal::Undef,
            },
            11 => CVal::Cast {
                op: op(r, 0)?,
                val: op(r, 2)? as usize,
            },
            12 | 20 | 24 | 31 | 32 => {
                let skip = match r.code {
                    12 | 20 => r.ops.len() % 2,
                    24 | 32 => 2,
                    _ => 5,
                };
                CVal::Gep {
                    base: op(r, skip + 1)? as usize,
                }
            }
            _ => CVal::Undef,
        };
        if vals.len() > 1 << 22 {
            return Err(SimError::Limit("too many constants in the bitcode".into()));
        }
        vals.push(GVal::Const(c));
        vts.push(cur.map_or(VT::Unknown, VT::Id));
    }
    Ok((vals, vts))
}

/// Values of one function: module values, then parameters, constants and instruction results.
struct FnValues<'a> {
    st: &'a ModuleState,
    num_params: usize,
    consts: Vec<GVal>,
    /// Types of every value with id ≥ module values (params, consts, instructions).
    local_types: Vec<VT>,
    num_inst_values: usize,
}

impl FnValues<'_> {
    fn g(&self) -> usize {
        self.st.values.len()
    }
    fn next_id(&self) -> usize {
        self.g() + self.num_params + self.consts.len() + self.num_inst_values
    }
    fn vt(&self, id: usize) -> VT {
        if id < self.g() {
            self.st.vtypes[id]
        } else {
            self.local_types
                .get(id - self.g())
                .copied()
                .unwrap_or(VT::Unknown)
        }
    }
    fn const_at(&self, id: usize) -> Option<&GVal> {
        if id < self.g() {
            self.st.values.get(id)
        } else {
            let l = id - self.g();
            if l >= self.num_params {
                self.consts.get(l - self.num_params)
            } else {
                None
            }
        }
    }
    fn operand(&self, id: usize) -> Result<Operand> {
        let g = self.g();
        if id < g {
            return Ok(Operand::Const(self.module_const(&self.st.values[id], 0)));
        }
        let l = id - g;
        if l < self.num_params {
            return Ok(Operand::Local(l));
        }
        if l < self.num_params + self.consts.len() {
            return Ok(Operand::Const(
                self.module_const(&self.consts[l - self.num_params], 0),
            ));
        }
        let slot = l - self.consts.len();
        if slot > self.num_params + (1 << 24) {
            return Err(bad(format!("value id {id} out of range")));
        }
        Ok(Operand::Local(slot))
    }
    fn module_const(&self, v: &GVal, depth: usize) -> Const {
        if depth > 16 {
            return Const::Undef;
        }
        match v {
            GVal::Global(g) => Const::Global(*g),
            GVal::Function(f) => Const::Function(*f),
            GVal::Unknown => Const::Undef,
            GVal::Const(c) => match c {
                CVal::Int { bits, value } => Const::Int {
                    bits: *bits,
                    value: *value,
                },
                CVal::Float(f) => Const::Float(*f),
                CVal::Ptr0 => Const::Ptr(0),
                CVal::Undef | CVal::Bytes(_) => Const::Undef,
                CVal::Cast { op, val } => {
                    let inner = match self.const_at(*val) {
                        Some(v) => self.module_const(v, depth + 1),
                        None => return Const::Undef,
                    };
                    match (op, inner) {
                        (10, Const::Int { value, .. }) => Const::Ptr(value),
                        (9, Const::Ptr(p)) => Const::Int { bits: 64, value: p },
                        (11 | 12, c) => c,
                        _ => Const::Undef,
                    }
                }
                CVal::Gep { base } => match self.const_at(*base) {
                    Some(GVal::Global(g)) => Const::Global(*g),
                    _ => Const::Undef,
                },
            },
        }
    }
}

fn read_function(st: &ModuleState, fi: usize, body: &Block) -> Result<Function> {
    let types = &st.types;
    let fty = st.fn_types[&fi];
    let BTy::Func { params, .. } = types.get(fty as u64)?.clone() else {
        return Err(bad("function without a function type"));
    };
    let mut fv = FnValues {
        st,
        num_params: params.len(),
        consts: Vec::new(),
        local_types: params.iter().map(|&p| VT::Id(p)).collect(),
        num_inst_values: 0,
    };
    let mut f = st.module.functions[fi].clone();
    f.is_declaration = false;
    f.num_params = params.len();
    let mut blocks: Vec<Block_> = Vec::new();
    let mut cur = 0usize;
    let mut bb_names: HashMap<usize, String> = HashMap::new();
    let records_total = body.records().count();
    for e in &body.entries {
        let r = match e {
            Entry::Block(b) => {
                match b.id {
                    CONSTANTS_BLOCK => {
                        let (vals, vts) = read_constants(b, types)?;
                        fv.consts.extend(vals);
                        fv.local_types.extend(vts);
                    }
                    VALUE_SYMTAB_BLOCK => {
                        for r in b.records().filter(|r| r.code == 2 && !r.ops.is_empty()) {
                            bb_names.insert(r.ops[0] as usize, chars(&r.ops[1..]));
                        }
                    }
                    _ => {}
                }
                continue;
            }
            Entry::Record(r) => r,
        };
        if r.code == 1 {
            let n = op(r, 0)? as usize;
            if n == 0 || n > records_total {
                return Err(bad(format!("{n} basic blocks declared")));
            }
            blocks = (0..n).map(|_| Block_::default()).collect();
            continue;
        }
        if matches!(r.code, 33 | 35 | 55 | 60..=65) {
            continue; // debug locations and records, operand bundles
        }
        let Some(b) = blocks.get_mut(cur) else {
            return Err(bad("instruction after the last basic block"));
        };
        let loc = Loc::Bitcode {
            block: cur as u32,
            inst: (b.insts.len() + b.phis.len()) as u32,
        };
        let inst_num = fv.next_id();
        let mut i = 0usize;
        // A relative value reference, plus its type when it is a forward reference.
        let value_type = |i: &mut usize, fv: &FnValues<'_>| -> Result<(usize, VT)> {
            let rel = op(r, *i)?;
            *i += 1;
            let id = (inst_num as u32).wrapping_sub(rel as u32) as usize;
            if id < inst_num {
                Ok((id, fv.vt(id)))
            } else {
                let t = op(r, *i)?;
                *i += 1;
                types.get(t)?;
                Ok((id, VT::Id(t as usize)))
            }
        };
        let value = |i: &mut usize| -> Result<usize> {
            let rel = op(r, *i)?;
            *i += 1;
            Ok((inst_num as u32).wrapping_sub(rel as u32) as usize)
        };
        let mut term = None;
        let mut result: Option<VT> = None;
        let dest_slot = fv.num_params + fv.num_inst_values;
        match r.code {
            2 => {
                let (a, vt) = value_type(&mut i, &fv)?;
                let b2 = value(&mut i)?;
                let opc = op(r, i)?;
                let (a, b2) = (fv.operand(a)?, fv.operand(b2)?);
                let inst = match types.vt_ty(vt) {
                    Ty::Float => Inst::FBin {
                        dest: dest_slot,
                        op: match opc {
                            0 => FBinOp::Add,
                            1 => FBinOp::Sub,
                            2 => FBinOp::Mul,
                            4 => FBinOp::Div,
                            6 => FBinOp::Rem,
                            _ => return Err(bad(format!("float binary opcode {opc}"))),
                        },
                        a,
                        b: b2,
                    },
                    Ty::Int(bits) => Inst::Bin {
                        dest: dest_slot,
                        op: match opc {
                            0 => BinOp::Add,
                            1 => BinOp::Sub,
                            2 => BinOp::Mul,
                            3 => BinOp::UDiv,
                            4 => BinOp::SDiv,
                            5 => BinOp::URem,
                            6 => BinOp::SRem,
                            7 => BinOp::Shl,
                            8 => BinOp::LShr,
                            9 => BinOp::AShr,
                            10 => BinOp::And,
                            11 => BinOp::Or,
                            12 => BinOp::Xor,
                            _ => return Err(bad(format!("binary opcode {opc}"))),
                        },
                        bits,
                        a,
                        b: b2,
                    },
                    t => {
                        return Err(SimError::Unsupported(format!(
                            "binary operation on {t:?} at {loc}"
                        )))
                    }
                };
                b.insts.push((inst, loc));
                result = Some(vt);
            }
            3 => {
                let (a, vt) = value_type(&mut i, &fv)?;
                let to_id = op(r, i)?;
                let opc = op(r, i + 1)?;
                let to = types.id_ty(to_id);
                types.get(to_id)?;
                let from_bits = match types.vt_ty(vt) {
                    Ty::Int(b) => b,
                    _ => 0,
                };
                let cop = match opc {
                    0 => CastOp::Trunc,
                    1 => CastOp::ZExt,
                    2 => CastOp::SExt,
                    3 => CastOp::FpToUi,
                    4 => CastOp::FpToSi,
                    5 => CastOp::UiToFp,
                    6 => CastOp::SiToFp,
                    7 => CastOp::FpTrunc,
                    8 => CastOp::FpExt,
                    9 => CastOp::PtrToInt,
                    10 => CastOp::IntToPtr,
                    11 | 12 => CastOp::BitCast,
                    _ => return Err(bad(format!("cast opcode {opc}"))),
                };
                b.insts.push((
                    Inst::Cast {
                        dest: dest_slot,
                        op: cop,
                        from_bits,
                        to,
                        a: fv.operand(a)?,
                    },
                    loc,
                ));
                result = Some(VT::Id(to_id as usize));
            }
            29 => {
                let (t, vt) = value_type(&mut i, &fv)?;
                let fl = value(&mut i)?;
                let (c, _) = value_type(&mut i, &fv)?;
                b.insts.push((
                    Inst::Select {
                        dest: dest_slot,
                        cond: fv.operand(c)?,
                        a: fv.operand(t)?,
                        b: fv.operand(fl)?,
                    },
                    loc,
                ));
                result = Some(vt);
            }
            9 | 28 => {
                let (a, vt) = value_type(&mut i, &fv)?;
                let b2 = value(&mut i)?;
                let pred = op(r, i)?;
                let (a, b2) = (fv.operand(a)?, fv.operand(b2)?);
                let inst = if pred < 16 {
                    Inst::FCmp {
                        dest: dest_slot,
                        pred: fpred(pred),
                        a,
                        b: b2,
                    }
                } else {
                    let bits = match types.vt_ty(vt) {
                        Ty::Int(b) => b,
                        Ty::Ptr => 64,
                        t => {
                            return Err(SimError::Unsupported(format!(
                                "comparison of {t:?} at {loc}"
                            )))
                        }
                    };
                    Inst::ICmp {
                        dest: dest_slot,
                        pred: ipred(pred).ok_or_else(|| bad(format!("predicate {pred}")))?,
                        bits,
                        a,
                        b: b2,
                    }
                };
                b.insts.push((inst, loc));
                result = Some(VT::Bool);
            }
            10 => {
                if !r.ops.is_empty() {
                    value_type(&mut i, &fv)?;
                }
                term = Some(Term::Ret);
            }
            11 => {
                let t = op(r, 0)? as usize;
                term = Some(if r.ops.len() >= 3 {
                    let e2 = op(r, 1)? as usize;
                    i = 2;
                    let c = value(&mut i)?;
                    Term::CondBr {
                        cond: fv.operand(c)?,
                        then_block: t,
                        else_block: e2,
                    }
                } else {
                    Term::Br(t)
                });
            }
            12 => {
                let ty = op(r, 0)?;
                if ty >> 16 == 0x4B5 {
                    return Err(SimError::Unsupported(format!(
                        "old-style switch encoding at {loc}"
                    )));
                }
                let bits = match types.id_ty(ty) {
                    Ty::Int(b) => b,
                    _ => return Err(bad("switch on a non-integer")),
                };
                i = 1;
                let c = value(&mut i)?;
                let default = op(r, 2)? as usize;
                let mut cases = Vec::new();
                let mut j = 3;
                while j + 1 < r.ops.len() {
                    let cv = match fv
                        .const_at(r.ops[j] as usize)
                        .map(|v| fv.module_const(v, 0))
                    {
                        Some(Const::Int { value, .. }) => value,
                        _ => return Err(bad("switch case is not an integer constant")),
                    };
                    cases.push((cv, r.ops[j + 1] as usize));
                    j += 2;
                }
                term = Some(Term::Switch {
                    value: fv.operand(c)?,
                    bits,
                    default,
                    cases,
                });
            }
            15 => term = Some(Term::Unreachable),
            16 => {
                let ty = op(r, 0)?;
                types.get(ty)?;
                let n = (r.ops.len() - 1) / 2;
                let mut incoming = Vec::with_capacity(n);
                for k in 0..n {
                    let rel = decode_signed(r.ops[1 + 2 * k]);
                    let id = (inst_num as i64).wrapping_sub(rel);
                    if id < 0 {
                        return Err(bad("phi operand out of range"));
                    }
                    incoming.push((r.ops[2 + 2 * k] as usize, fv.operand(id as usize)?));
                }
                if !b.insts.is_empty() {
                    return Err(bad("phi after other instructions"));
                }
                b.phis.push(Phi {
                    dest: dest_slot,
                    incoming,
                    loc,
                });
                result = Some(VT::Id(ty as usize));
            }
            34 => {
                let cc = op(r, 1)?;
                i = 2;
                if cc >> 17 & 1 == 1 {
                    i += 1; // fast-math flags
                }
                let mut fnty = None;
                if cc >> 15 & 1 == 1 {
                    fnty = Some(op(r, i)? as usize);
                    i += 1;
                }
                let (callee_id, _) = value_type(&mut i, &fv)?;
                let callee = match fv.const_at(callee_id) {
                    Some(GVal::Function(f)) => *f,
                    _ => return Err(SimError::Unsupported(format!("indirect call at {loc}"))),
                };
                let fnty = fnty.unwrap_or(st.fn_types[&callee]);
                let BTy::Func { ret, params } = types.get(fnty as u64)? else {
                    return Err(bad("call with a non-function type"));
                };
                let mut args = Vec::with_capacity(params.len());
                for p in params {
                    if types.get(*p as u64)? == &BTy::Label {
                        i += 1;
                        continue;
                    }
                    let a = value(&mut i)?;
                    args.push(fv.operand(a)?);
                }
                while i < r.ops.len() {
                    let (a, _) = value_type(&mut i, &fv)?;
                    args.push(fv.operand(a)?);
                }
                let returns = types.get(*ret as u64)? != &BTy::Void;
                b.insts.push((
                    Inst::Call {
                        dest: returns.then_some(dest_slot),
                        callee,
                        args,
                    },
                    loc,
                ));
                if returns {
                    result = Some(VT::Id(*ret));
                }
            }
            56 => {
                let (a, vt) = value_type(&mut i, &fv)?;
                if op(r, i)? != 0 {
                    return Err(bad("unknown unary opcode"));
                }
                b.insts.push((
                    Inst::FNeg {
                        dest: dest_slot,
                        a: fv.operand(a)?,
                    },
                    loc,
                ));
                result = Some(vt);
            }
            58 => {
                let (a, vt) = value_type(&mut i, &fv)?;
                let to = types.vt_ty(vt);
                let from_bits = if let Ty::Int(b) = to { b } else { 0 };
                b.insts.push((
                    Inst::Cast {
                        dest: dest_slot,
                        op: CastOp::Freeze,
                        from_bits,
                        to,
                        a: fv.operand(a)?,
                    },
                    loc,
                ));
                result = Some(vt);
            }
            code => {
                let what = match code {
                    19 => "alloca",
                    20 | 41 => "load",
                    44 | 45 => "store",
                    4 | 43 | 30 => "getelementptr",
                    26 => "extractvalue",
                    27 => "insertvalue",
                    6 => "extractelement",
                    7 => "insertelement",
                    8 => "shufflevector",
                    13 => "invoke",
                    31 => "indirectbr",
                    36 => "fence",
                    37 | 38 | 46 | 59 => "atomic",
                    47 | 40 => "landingpad",
                    57 => "callbr",
                    23 => "va_arg",
                    _ => "",
                };
                return Err(SimError::Unsupported(if what.is_empty() {
                    format!("unknown bitcode instruction (record code {code}) at {loc}")
                } else {
                    format!(
                        "instruction `{what}` at {loc}: QIR profiles do not use memory, \
                         aggregates or exceptions"
                    )
                }));
            }
        }
        if let Some(vt) = result {
            fv.local_types.push(vt);
            fv.num_inst_values += 1;
        }
        if let Some(t) = term {
            let b = &mut blocks[cur];
            b.term = Some(t);
            b.term_loc = loc;
            cur += 1;
        }
    }
    if blocks.is_empty() {
        return Err(bad(format!("@{} has a body without blocks", f.name)));
    }
    let n = blocks.len();
    let mut out = Vec::with_capacity(n);
    for (k, b) in blocks.into_iter().enumerate() {
        let term = b
            .term
            .ok_or_else(|| bad(format!("basic block {k} has no terminator")))?;
        let targets: Vec<usize> = match &term {
            Term::Br(t) => vec![*t],
            Term::CondBr {
                then_block,
                else_block,
                ..
            } => vec![*then_block, *else_block],
            Term::Switch { default, cases, .. } => std::iter::once(*default)
                .chain(cases.iter().map(|c| c.1))
                .collect(),
            _ => vec![],
        };
        if targets.iter().any(|&t| t >= n)
            || b.phis.iter().any(|p| p.incoming.iter().any(|x| x.0 >= n))
        {
            return Err(bad(format!("basic block {k} refers to a missing block")));
        }
        out.push(super::model::Block {
            name: bb_names.remove(&k).unwrap_or_else(|| k.to_string()),
            phis: b.phis,
            insts: b.insts,
            term,
            term_loc: b.term_loc,
        });
    }
    let num_values = fv.num_params + fv.num_inst_values;
    // Every local operand must name an existing slot.
    for b in &out {
        let bad_slot = |o: &Operand| matches!(o, Operand::Local(s) if *s >= num_values);
        let mut any = b
            .phis
            .iter()
            .any(|p| p.incoming.iter().any(|x| bad_slot(&x.1)));
        for (inst, _) in &b.insts {
            any |= inst_operands(inst).into_iter().any(bad_slot);
        }
        any |= match &b.term {
            Term::CondBr { cond, .. } => bad_slot(cond),
            Term::Switch { value, .. } => bad_slot(value),
            _ => false,
        };
        if any {
            return Err(bad(format!(
                "a value in block %{} is never defined",
                b.name
            )));
        }
    }
    f.num_values = num_values;
    f.blocks = out;
    Ok(f)
}

fn inst_operands(inst: &Inst) -> Vec<&Operand> {
    match inst {
        Inst::Call { args, .. } => args.iter().collect(),
        Inst::Bin { a, b, .. }
        | Inst::FBin { a, b, .. }
        | Inst::ICmp { a, b, .. }
        | Inst::FCmp { a, b, .. } => vec![a, b],
        Inst::FNeg { a, .. } | Inst::Cast { a, .. } => vec![a],
        Inst::Select { cond, a, b, .. } => vec![cond, a, b],
    }
}

#[derive(Default)]
struct Block_ {
    phis: Vec<Phi>,
    insts: Vec<(Inst, Loc)>,
    term: Option<Term>,
    term_loc: Loc,
}

fn fpred(p: u64) -> FPred {
    match p {
        0 => FPred::False,
        1 => FPred::Oeq,
        2 => FPred::Ogt,
        3 => FPred::Oge,
        4 => FPred::Olt,
        5 => FPred::Ole,
        6 => FPred::One,
        7 => FPred::Ord,
        8 => FPred::Uno,
        9 => FPred::Ueq,
        10 => FPred::Ugt,
        11 => FPred::Uge,
        12 => FPred::Ult,
        13 => FPred::Ule,
        14 => FPred::Une,
        _ => FPred::True,
    }
}

fn ipred(p: u64) -> Option<IPred> {
    Some(match p {
        32 => IPred::Eq,
        33 => IPred::Ne,
        34 => IPred::Ugt,
        35 => IPred::Uge,
        36 => IPred::Ult,
        37 => IPred::Ule,
        38 => IPred::Sgt,
        39 => IPred::Sge,
        40 => IPred::Slt,
        41 => IPred::Sle,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_string_attribute_is_tolerated() {
        // Found by the qir_bitcode fuzz target: a key/value string attribute cut after its key.
        let block = Block {
            id: PARAMATTR_GROUP_BLOCK,
            entries: vec![Entry::Record(Record {
                code: 3,
                ops: vec![1, 0xFFFF_FFFF, 4, b'k' as u64],
                blob: None,
            })],
        };
        let mut groups = AttrGroups::new();
        read_attr_groups(&block, &mut groups);
        assert_eq!(groups[&1].1, vec![("k".to_string(), Some(String::new()))]);
    }

    #[test]
    fn garbage_after_the_magic_is_an_error() {
        for tail in [&[][..], &[0u8; 3][..], &[0xFF; 64][..]] {
            let mut input = crate::qir::BITCODE_MAGIC.to_vec();
            input.extend_from_slice(tail);
            assert!(parse(&input).is_err());
        }
    }
}
