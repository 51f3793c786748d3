//! Compile-time evaluation of classical expressions: gate parameters, register sizes, loop
//! bounds and `const`/`int`/`float`/`angle` variables.

use super::ast::{BinOp, Expr, UnOp};
use crate::error::{Pos, Result, SimError};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Value {
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(v) => v as f64,
            Value::Float(v) => v,
            Value::Bool(b) => b as u8 as f64,
        }
    }
    pub fn truthy(self) -> bool {
        match self {
            Value::Int(v) => v != 0,
            Value::Float(v) => v != 0.0,
            Value::Bool(b) => b,
        }
    }
}

fn perr<T>(pos: Option<Pos>, msg: impl Into<String>) -> Result<T> {
    let p = pos.unwrap_or(Pos { line: 0, col: 0 });
    Err(SimError::parse(p.line, p.col, msg))
}

/// Looks names up; the lowering supplies gate parameters, loop variables and constants.
pub trait Scope {
    fn lookup(&self, name: &str) -> Option<Value>;
    /// True when `name` is a classical register (a better error than "unknown name").
    fn is_register(&self, _name: &str) -> bool {
        false
    }
}

/// Evaluates `e`. With `integer_semantics` false (OpenQASM 2) every number is real.
pub fn eval(e: &Expr, scope: &dyn Scope, integer_semantics: bool) -> Result<Value> {
    Ok(match e {
        Expr::Int(v) => {
            if integer_semantics {
                match i64::try_from(*v) {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::Float(*v as f64),
                }
            } else {
                Value::Float(*v as f64)
            }
        }
        Expr::Float(v) => Value::Float(*v),
        Expr::Bool(b) => Value::Bool(*b),
        Expr::Ident(name, pos) => match name.as_str() {
            "pi" | "π" => Value::Float(std::f64::consts::PI),
            "tau" | "τ" => Value::Float(std::f64::consts::TAU),
            "euler" | "ℇ" => Value::Float(std::f64::consts::E),
            _ => match scope.lookup(name) {
                Some(v) => v,
                None if scope.is_register(name) => {
                    return perr(
                        Some(*pos),
                        format!("register '{name}' cannot be used in a classical expression"),
                    )
                }
                None => return perr(Some(*pos), format!("unknown name '{name}'")),
            },
        },
        Expr::Index(name, _, pos) => {
            return perr(
                Some(*pos),
                format!("'{name}[…]' cannot be used in a parameter expression"),
            )
        }
        Expr::Unary(op, a, pos) => {
            let a = eval(a, scope, integer_semantics)?;
            match (op, a) {
                (UnOp::Neg, Value::Int(v)) => match v.checked_neg() {
                    Some(v) => Value::Int(v),
                    None => return perr(Some(*pos), "integer overflow"),
                },
                (UnOp::Neg, v) => Value::Float(-v.as_f64()),
                (UnOp::Not, v) => Value::Bool(!v.truthy()),
                (UnOp::BitNot, Value::Int(v)) => Value::Int(!v),
                (UnOp::BitNot, _) => return perr(Some(*pos), "'~' needs an integer"),
            }
        }
        Expr::Binary(op, a, b, pos) => {
            let (a, b) = (
                eval(a, scope, integer_semantics)?,
                eval(b, scope, integer_semantics)?,
            );
            binary(*op, a, b, *pos)?
        }
        Expr::Call(name, args, pos) => {
            let vals = args
                .iter()
                .map(|a| eval(a, scope, integer_semantics))
                .collect::<Result<Vec<_>>>()?;
            call(name, &vals, *pos)?
        }
    })
}

fn binary(op: BinOp, a: Value, b: Value, pos: Pos) -> Result<Value> {
    use Value::*;
    let overflow = || perr(Some(pos), "integer overflow");
    if let (Int(x), Int(y)) = (a, b) {
        let r = match op {
            BinOp::Add => x.checked_add(y),
            BinOp::Sub => x.checked_sub(y),
            BinOp::Mul => x.checked_mul(y),
            // Integer division when exact; otherwise real (so `1/2` is 0.5 as in angles).
            BinOp::Div if y != 0 && x % y == 0 => Some(x / y),
            BinOp::Div => None,
            BinOp::Mod if y != 0 => Some(x.rem_euclid(y)),
            BinOp::Mod => return perr(Some(pos), "modulo by zero"),
            BinOp::Pow if (0..=63).contains(&y) => match x.checked_pow(y as u32) {
                Some(v) => Some(v),
                None => return overflow(),
            },
            BinOp::Pow => None,
            BinOp::BitAnd => Some(x & y),
            BinOp::BitOr => Some(x | y),
            BinOp::BitXor => Some(x ^ y),
            BinOp::Shl if (0..64).contains(&y) => x.checked_shl(y as u32),
            BinOp::Shr if (0..64).contains(&y) => Some(x >> y),
            BinOp::Shl | BinOp::Shr => return perr(Some(pos), "shift out of range"),
            _ => None,
        };
        match (r, op) {
            (Some(v), _) => return Ok(Int(v)),
            (None, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Shl) => return overflow(),
            _ => {}
        }
    }
    let (x, y) = (a.as_f64(), b.as_f64());
    Ok(match op {
        BinOp::Add => Float(x + y),
        BinOp::Sub => Float(x - y),
        BinOp::Mul => Float(x * y),
        BinOp::Div => Float(x / y),
        BinOp::Mod => Float(x % y),
        BinOp::Pow => Float(x.powf(y)),
        BinOp::Eq => Bool(x == y),
        BinOp::Ne => Bool(x != y),
        BinOp::Lt => Bool(x < y),
        BinOp::Le => Bool(x <= y),
        BinOp::Gt => Bool(x > y),
        BinOp::Ge => Bool(x >= y),
        BinOp::And => Bool(a.truthy() && b.truthy()),
        BinOp::Or => Bool(a.truthy() || b.truthy()),
        BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor | BinOp::Shl | BinOp::Shr => {
            return perr(Some(pos), "bitwise operators need integers")
        }
    })
}

fn call(name: &str, args: &[Value], pos: Pos) -> Result<Value> {
    let one = |f: fn(f64) -> f64| -> Result<Value> {
        match args {
            [a] => Ok(Value::Float(f(a.as_f64()))),
            _ => perr(
                Some(pos),
                format!("'{name}' takes 1 argument, got {}", args.len()),
            ),
        }
    };
    match name {
        "sin" => one(f64::sin),
        "cos" => one(f64::cos),
        "tan" => one(f64::tan),
        "exp" => one(f64::exp),
        "ln" | "log" => one(f64::ln),
        "sqrt" => one(f64::sqrt),
        "arcsin" | "asin" => one(f64::asin),
        "arccos" | "acos" => one(f64::acos),
        "arctan" | "atan" => one(f64::atan),
        "abs" => one(f64::abs),
        "floor" => one(f64::floor),
        "ceiling" | "ceil" => one(f64::ceil),
        "float" | "angle" => one(|x| x),
        "int" | "uint" => match args {
            [Value::Int(v)] => Ok(Value::Int(*v)),
            [v] if v.as_f64().is_finite() && v.as_f64().abs() < 9.2e18 => {
                Ok(Value::Int(v.as_f64().trunc() as i64))
            }
            _ => perr(Some(pos), format!("cannot convert to '{name}'")),
        },
        "bool" => match args {
            [v] => Ok(Value::Bool(v.truthy())),
            _ => perr(Some(pos), "'bool' takes 1 argument"),
        },
        "pow" => match args {
            [a, b] => binary(BinOp::Pow, *a, *b, pos),
            _ => perr(Some(pos), "'pow' takes 2 arguments"),
        },
        "mod" => match args {
            [a, b] => binary(BinOp::Mod, *a, *b, pos),
            _ => perr(Some(pos), "'mod' takes 2 arguments"),
        },
        _ => perr(Some(pos), format!("unknown function '{name}'")),
    }
}
