//! Engine-neutral values: parameters going in, columns coming out.

/// A SQL value, as SQLite types them (PostgreSQL values are read into the same five kinds).
#[derive(Clone, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// Any integer (and booleans, as 0/1).
    Integer(i64),
    /// A float.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl std::fmt::Debug for Value {
    // Values can be secrets' hashes or sealed keys: show only their kind.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Value {
    /// The kind's name, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }

    pub(crate) fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> Value {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// A Rust value usable as a statement parameter.
pub trait ToSql {
    /// The value.
    fn to_sql(&self) -> Value;
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> Value {
        (**self).to_sql()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Value {
        match self {
            Some(v) => v.to_sql(),
            None => Value::Null,
        }
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> Value {
        self.clone()
    }
}

impl ToSql for str {
    fn to_sql(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToSql for String {
    fn to_sql(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToSql for [u8] {
    fn to_sql(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl<const N: usize> ToSql for [u8; N] {
    fn to_sql(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToSql for bool {
    fn to_sql(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToSql for f64 {
    fn to_sql(&self) -> Value {
        Value::Real(*self)
    }
}

macro_rules! int_to_sql {
    ($($t:ty)*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Value {
                Value::Integer(*self as i64)
            }
        }
    )*};
}
int_to_sql!(i8 i16 i32 i64 u8 u16 u32 isize);

impl ToSql for u64 {
    fn to_sql(&self) -> Value {
        // Like rusqlite, a value beyond i64 cannot be stored; saturate rather than wrap.
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToSql for usize {
    fn to_sql(&self) -> Value {
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

macro_rules! into_value {
    ($($t:ty)*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                v.to_sql()
            }
        }
    )*};
}
into_value!(String &str i64 i32 bool f64 Vec<u8> Option<String> Option<i64>);

/// A Rust type a column can be read as. The error is the type's name.
pub trait FromSql: Sized {
    /// Converts, or names the expected type.
    fn from_sql(v: &Value) -> Result<Self, &'static str>;
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(v: &Value) -> Result<Self, &'static str> {
        match v {
            Value::Null => Ok(None),
            other => T::from_sql(other).map(Some),
        }
    }
}

impl FromSql for Value {
    fn from_sql(v: &Value) -> Result<Self, &'static str> {
        Ok(v.clone())
    }
}

impl FromSql for String {
    fn from_sql(v: &Value) -> Result<Self, &'static str> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            _ => Err("String"),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(v: &Value) -> Result<Self, &'static str> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            // SQLite hands back text when bytes were bound as text; accept it as rusqlite does.
            Value::Text(s) => Ok(s.clone().into_bytes()),
            _ => Err("Vec<u8>"),
        }
    }
}

impl FromSql for bool {
    fn from_sql(v: &Value) -> Result<Self, &'static str> {
        match v {
            Value::Integer(i) => Ok(*i != 0),
            _ => Err("bool"),
        }
    }
}

impl FromSql for f64 {
    fn from_sql(v: &Value) -> Result<Self, &'static str> {
        match v {
            Value::Real(f) => Ok(*f),
            Value::Integer(i) => Ok(*i as f64),
            _ => Err("f64"),
        }
    }
}

macro_rules! int_from_sql {
    ($($t:ty)*) => {$(
        impl FromSql for $t {
            fn from_sql(v: &Value) -> Result<Self, &'static str> {
                match v {
                    Value::Integer(i) => <$t>::try_from(*i).map_err(|_| stringify!($t)),
                    _ => Err(stringify!($t)),
                }
            }
        }
    )*};
}
int_from_sql!(i8 i16 i32 i64 u8 u16 u32 u64 usize isize);
