//! The one error type of qws-sim. Every front end and the engine return it; messages are meant
//! for the person who wrote the program, so they say what and where.

/// A position in a source text, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SimError {
    /// The program text is malformed or refers to something undefined.
    #[error("{}:{}: {message}", pos.line, pos.col)]
    Parse { pos: Pos, message: String },
    /// The program is well-formed but asks for something qws does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The program is well-formed but invalid (bad qubit index, NaN angle, …).
    #[error("invalid program: {0}")]
    Invalid(String),
    /// The program exceeds a configured bound (qubits, memory, operations, shots, steps…).
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// The input as a whole is not a program of its format (not UTF-8 text, not QIR); the
    /// message is a full sentence, shown as is.
    #[error("{0}")]
    Input(String),
    /// The run was stopped through its [`crate::CancelToken`].
    #[error("the run was cancelled")]
    Cancelled,
}

impl SimError {
    pub fn parse(line: u32, col: u32, message: impl Into<String>) -> Self {
        SimError::Parse {
            pos: Pos { line, col },
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, SimError>;
