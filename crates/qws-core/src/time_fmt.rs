//! Timestamp formats used on the wire.

use time::OffsetDateTime;

/// RFC 3339 UTC with whole seconds and `Z`, e.g. `2024-03-04T17:45:04Z` (ApiKey.createdAt).
pub fn seconds_z(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// RFC 3339 UTC with 7 fractional digits and `Z`, as ARM writes `systemData` times.
pub fn arm_precise(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

/// Converts unix seconds to a timestamp (clamped to the representable range).
pub fn from_unix(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = from_unix(1_709_574_304);
        assert_eq!(seconds_z(t), "2024-03-04T17:45:04Z");
        assert_eq!(arm_precise(t), "2024-03-04T17:45:04.0000000Z");
    }
}
