//! The floating-point precision of a statevector's amplitudes.
//!
//! Single precision halves the memory a state takes and the bytes every pass over it moves,
//! which is most of a large simulation's time; double precision keeps the rounding error of
//! long circuits far below what any shot count can see. The default is chosen per run by
//! [`Precision::default_for`], so a user who asks for nothing gets double precision whenever
//! it fits in the memory budget.

use std::fmt;
use std::str::FromStr;

/// Amplitudes as two `f32` (8 bytes) or two `f64` (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    Single,
    Double,
}

impl Precision {
    /// Bytes one amplitude takes.
    pub const fn amplitude_bytes(self) -> u64 {
        match self {
            Precision::Single => 8,
            Precision::Double => 16,
        }
    }

    /// Bytes a statevector of `qubits` qubits takes (saturating, so absurd sizes compare as
    /// too large instead of wrapping).
    pub fn state_bytes(self, qubits: usize) -> u64 {
        1u64.checked_shl(qubits as u32)
            .and_then(|amps| amps.checked_mul(self.amplitude_bytes()))
            .unwrap_or(u64::MAX)
    }

    /// The precision a run gets when it asks for none: double when its state fits in
    /// `memory_budget` bytes, otherwise single (which may still fit, in half the memory).
    /// Whether the chosen precision fits at all is checked by the run's limits.
    pub fn default_for(qubits: usize, memory_budget: u64) -> Precision {
        if Precision::Double.state_bytes(qubits) <= memory_budget {
            Precision::Double
        } else {
            Precision::Single
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Precision::Single => "single",
            Precision::Double => "double",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The names users write: `single`/`double`, also `float32`/`float64` and `f32`/`f64`, any case.
impl FromStr for Precision {
    type Err = UnknownPrecision;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "single" | "float32" | "f32" => Ok(Precision::Single),
            "double" | "float64" | "f64" => Ok(Precision::Double),
            _ => Err(UnknownPrecision),
        }
    }
}

/// A precision name that is none of the accepted ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownPrecision;

impl fmt::Display for UnknownPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("precision must be \"single\" or \"double\"")
    }
}

impl std::error::Error for UnknownPrecision {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        for (name, p) in [
            ("single", Precision::Single),
            ("Float32", Precision::Single),
            ("DOUBLE", Precision::Double),
            ("f64", Precision::Double),
        ] {
            assert_eq!(name.parse::<Precision>(), Ok(p));
        }
        assert_eq!("half".parse::<Precision>(), Err(UnknownPrecision));
        assert_eq!(Precision::Single.to_string(), "single");
    }

    #[test]
    fn default_is_double_until_it_no_longer_fits() {
        let budget = 4u64 << 30;
        assert_eq!(Precision::default_for(27, budget), Precision::Double); // 2 GiB
        assert_eq!(Precision::default_for(28, budget), Precision::Double); // 4 GiB
        assert_eq!(Precision::default_for(29, budget), Precision::Single); // 8 GiB double
        assert_eq!(Precision::Single.state_bytes(29), 4 << 30);
        assert_eq!(Precision::Double.state_bytes(200), u64::MAX);
    }
}
