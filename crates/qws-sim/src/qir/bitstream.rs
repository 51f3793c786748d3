//! A bounded reader for the LLVM bitstream container: fixed and VBR fields, abbreviations,
//! the BLOCKINFO block, blobs. It yields a tree of blocks and records and knows nothing about
//! IR; [`super::bitcode`] gives the records meaning.
//!
//! Hostile input is the norm here: every read is bounds-checked, nesting depth and the total
//! number of decoded operands are capped, and any inconsistency is an error, never a panic.

use crate::error::{Result, SimError};
use std::collections::HashMap;

/// One record: its code, operands and (for blob abbreviations) the blob bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub code: u32,
    pub ops: Vec<u64>,
    pub blob: Option<Vec<u8>>,
}

/// Records and sub-blocks in stream order.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    Record(Record),
    Block(Block),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub id: u32,
    pub entries: Vec<Entry>,
}

impl Block {
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Record(r) => Some(r),
            _ => None,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Op {
    Literal(u64),
    Fixed(u32),
    Vbr(u32),
    Array(Box<Op>),
    Char6,
    Blob,
}

type Abbrev = Vec<Op>;

fn bad(msg: impl Into<String>) -> SimError {
    SimError::Invalid(format!("malformed LLVM bitcode: {}", msg.into()))
}

struct Cursor<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
    end: usize,
    /// Remaining operand budget (guards against zero-width array elements).
    ops_budget: usize,
}

impl Cursor<'_> {
    fn read(&mut self, width: u32) -> Result<u64> {
        if width > 64 {
            return Err(bad(format!("field width {width} exceeds 64 bits")));
        }
        if width == 0 {
            return Ok(0);
        }
        if self.end - self.pos < width as usize {
            return Err(bad("unexpected end of data"));
        }
        let mut v = 0u64;
        let mut got = 0u32;
        while got < width {
            let byte = self.data[self.pos / 8] as u64;
            let off = (self.pos % 8) as u32;
            let take = (8 - off).min(width - got);
            let bits = (byte >> off) & ((1u64 << take) - 1);
            v |= bits << got;
            got += take;
            self.pos += take as usize;
        }
        Ok(v)
    }

    fn vbr(&mut self, width: u32) -> Result<u64> {
        if !(2..=32).contains(&width) {
            return Err(bad(format!("VBR width {width} is invalid")));
        }
        let hi = 1u64 << (width - 1);
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let chunk = self.read(width)?;
            let payload = chunk & (hi - 1);
            if shift >= 64 || (shift > 0 && payload >> (64 - shift) != 0) {
                return Err(bad("VBR value does not fit in 64 bits"));
            }
            v |= payload << shift;
            if chunk & hi == 0 {
                return Ok(v);
            }
            shift += width - 1;
        }
    }

    fn align32(&mut self) -> Result<()> {
        let p = self.pos.div_ceil(32) * 32;
        if p > self.end {
            return Err(bad("unexpected end of data at alignment"));
        }
        self.pos = p;
        Ok(())
    }

    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    fn spend(&mut self, n: usize) -> Result<()> {
        if n > self.ops_budget {
            return Err(SimError::Limit(
                "LLVM bitcode decodes to too many operands".into(),
            ));
        }
        self.ops_budget -= n;
        Ok(())
    }
}

const MAX_DEPTH: usize = 32;

/// Parses a raw bitstream (after the `BC\xC0\xDE` magic has been checked by the caller) into
/// its top-level blocks.
pub fn parse(data: &[u8], skip_magic: usize) -> Result<Vec<Block>> {
    if data.len() < skip_magic {
        return Err(bad("shorter than its magic number"));
    }
    let mut c = Cursor {
        data,
        pos: skip_magic * 8,
        end: data.len() * 8,
        ops_budget: data.len().saturating_mul(16).saturating_add(4096),
    };
    let mut blockinfo: HashMap<u32, Vec<Abbrev>> = HashMap::new();
    let mut blocks = Vec::new();
    // Top level: abbreviation width 2, only ENTER_SUBBLOCK is meaningful.
    while c.remaining() >= 32 {
        let id = c.read(2)?;
        match id {
            1 => {
                if let Some(b) = read_block(&mut c, &mut blockinfo, 0)? {
                    blocks.push(b);
                }
            }
            0 => c.align32()?, // padding
            _ => return Err(bad(format!("abbreviation id {id} at top level"))),
        }
    }
    Ok(blocks)
}

/// Reads a block after its ENTER_SUBBLOCK abbreviation id. BLOCKINFO (id 0) is consumed into
/// `blockinfo` and returns `None`.
fn read_block(
    c: &mut Cursor<'_>,
    blockinfo: &mut HashMap<u32, Vec<Abbrev>>,
    depth: usize,
) -> Result<Option<Block>> {
    if depth >= MAX_DEPTH {
        return Err(bad("blocks nested too deeply"));
    }
    let id = c.vbr(8)?;
    let width = c.vbr(4)? as u32;
    if width == 0 || width > 32 {
        return Err(bad(format!("abbreviation width {width}")));
    }
    c.align32()?;
    let words = c.read(32)? as usize;
    let end = c
        .pos
        .checked_add(words.saturating_mul(32))
        .filter(|&e| e <= c.end)
        .ok_or_else(|| bad(format!("block {id} extends past the end of the data")))?;
    let id = u32::try_from(id).map_err(|_| bad("block id too large"))?;
    let mut abbrevs: Vec<Abbrev> = blockinfo.get(&id).cloned().unwrap_or_default();
    let mut entries = Vec::new();
    let mut info_target: Option<u32> = None;
    loop {
        if c.pos >= end {
            return Err(bad(format!("block {id} has no END_BLOCK")));
        }
        let aid = c.read(width)?;
        match aid {
            0 => {
                c.align32()?;
                if c.pos != end {
                    // Trust the declared length over the END_BLOCK position.
                    c.pos = end;
                }
                break;
            }
            1 => {
                if let Some(b) = read_block(c, blockinfo, depth + 1)? {
                    entries.push(Entry::Block(b));
                }
            }
            2 => {
                let a = read_abbrev(c)?;
                if id == 0 {
                    let t =
                        info_target.ok_or_else(|| bad("BLOCKINFO abbreviation before SETBID"))?;
                    let list = blockinfo.entry(t).or_default();
                    if list.len() > 4096 {
                        return Err(bad("too many abbreviations"));
                    }
                    list.push(a);
                } else {
                    if abbrevs.len() > 4096 {
                        return Err(bad("too many abbreviations"));
                    }
                    abbrevs.push(a);
                }
            }
            3 => {
                let code = c.vbr(6)?;
                let n = c.vbr(6)? as usize;
                if n > c.remaining() {
                    return Err(bad("record longer than the data"));
                }
                c.spend(n)?;
                let mut ops = Vec::with_capacity(n);
                for _ in 0..n {
                    ops.push(c.vbr(6)?);
                }
                let rec = Record {
                    code: u32::try_from(code).map_err(|_| bad("record code too large"))?,
                    ops,
                    blob: None,
                };
                if id == 0 {
                    blockinfo_record(&rec, &mut info_target);
                } else {
                    entries.push(Entry::Record(rec));
                }
            }
            n => {
                let a = abbrevs
                    .get((n - 4) as usize)
                    .ok_or_else(|| bad(format!("undefined abbreviation {n} in block {id}")))?
                    .clone();
                let rec = read_abbreviated(c, &a)?;
                if id == 0 {
                    blockinfo_record(&rec, &mut info_target);
                } else {
                    entries.push(Entry::Record(rec));
                }
            }
        }
    }
    if id == 0 {
        return Ok(None);
    }
    Ok(Some(Block { id, entries }))
}

fn blockinfo_record(rec: &Record, target: &mut Option<u32>) {
    if rec.code == 1 {
        *target = rec.ops.first().and_then(|&b| u32::try_from(b).ok());
    }
}

fn read_abbrev(c: &mut Cursor<'_>) -> Result<Abbrev> {
    let n = c.vbr(5)? as usize;
    if n > 256 {
        return Err(bad("abbreviation with too many operands"));
    }
    let mut ops = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let op = read_abbrev_op(c)?;
        if let Op::Array(_) = op {
            // The array's element type is the next operand; it does not count separately.
            let elt = read_abbrev_op(c)?;
            if matches!(elt, Op::Array(_) | Op::Blob) {
                return Err(bad("array of arrays or blobs in an abbreviation"));
            }
            ops.push(Op::Array(Box::new(elt)));
            i += 2;
            if i < n {
                return Err(bad("array must be the last abbreviation operand"));
            }
            continue;
        }
        ops.push(op);
        i += 1;
    }
    if ops.is_empty() {
        return Err(bad("empty abbreviation"));
    }
    Ok(ops)
}

fn read_abbrev_op(c: &mut Cursor<'_>) -> Result<Op> {
    if c.read(1)? == 1 {
        return Ok(Op::Literal(c.vbr(8)?));
    }
    Ok(match c.read(3)? {
        1 => {
            let w = c.vbr(5)?;
            if w > 64 {
                return Err(bad("fixed field wider than 64 bits"));
            }
            Op::Fixed(w as u32)
        }
        2 => {
            let w = c.vbr(5)?;
            if !(2..=32).contains(&w) {
                return Err(bad("invalid VBR width in abbreviation"));
            }
            Op::Vbr(w as u32)
        }
        3 => Op::Array(Box::new(Op::Literal(0))),
        4 => Op::Char6,
        5 => Op::Blob,
        e => return Err(bad(format!("unknown abbreviation encoding {e}"))),
    })
}

fn read_scalar(c: &mut Cursor<'_>, op: &Op) -> Result<u64> {
    Ok(match op {
        Op::Literal(v) => *v,
        Op::Fixed(w) => c.read(*w)?,
        Op::Vbr(w) => c.vbr(*w)?,
        Op::Char6 => {
            let v = c.read(6)? as u8;
            (match v {
                0..=25 => b'a' + v,
                26..=51 => b'A' + (v - 26),
                52..=61 => b'0' + (v - 52),
                62 => b'.',
                _ => b'_',
            }) as u64
        }
        Op::Array(_) | Op::Blob => return Err(bad("nested array or blob")),
    })
}

fn read_abbreviated(c: &mut Cursor<'_>, a: &Abbrev) -> Result<Record> {
    let mut vals: Vec<u64> = Vec::new();
    let mut blob = None;
    for op in a {
        match op {
            Op::Array(elt) => {
                let n = c.vbr(6)? as usize;
                if n > c.remaining().max(64) {
                    return Err(bad("array longer than the data"));
                }
                c.spend(n)?;
                vals.reserve(n);
                for _ in 0..n {
                    vals.push(read_scalar(c, elt)?);
                }
            }
            Op::Blob => {
                let n = c.vbr(6)? as usize;
                c.align32()?;
                if n.saturating_mul(8) > c.remaining() {
                    return Err(bad("blob longer than the data"));
                }
                let start = c.pos / 8;
                blob = Some(c.data[start..start + n].to_vec());
                c.pos += n * 8;
                c.align32()?;
            }
            _ => {
                c.spend(1)?;
                vals.push(read_scalar(c, op)?);
            }
        }
    }
    if vals.is_empty() {
        return Err(bad("abbreviated record without a code"));
    }
    let code = u32::try_from(vals.remove(0)).map_err(|_| bad("record code too large"))?;
    Ok(Record {
        code,
        ops: vals,
        blob,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes fields LSB-first, as the bitstream does.
    struct W {
        bytes: Vec<u8>,
        bit: usize,
    }
    impl W {
        fn put(&mut self, v: u64, w: u32) {
            for i in 0..w {
                if self.bit.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                if v >> i & 1 == 1 {
                    *self.bytes.last_mut().unwrap() |= 1 << (self.bit % 8);
                }
                self.bit += 1;
            }
        }
        fn vbr(&mut self, mut v: u64, w: u32) {
            let hi = 1u64 << (w - 1);
            loop {
                if v < hi {
                    self.put(v, w);
                    return;
                }
                self.put((v & (hi - 1)) | hi, w);
                v >>= w - 1;
            }
        }
        fn align(&mut self) {
            while !self.bit.is_multiple_of(32) {
                self.put(0, 1);
            }
        }
    }

    #[test]
    fn reads_unabbreviated_and_abbreviated_records() {
        let mut w = W {
            bytes: vec![],
            bit: 0,
        };
        w.put(0xdec04342, 32);
        // ENTER_SUBBLOCK id 8, width 3
        w.put(1, 2);
        w.vbr(8, 8);
        w.vbr(3, 4);
        w.align();
        let len_at = w.bytes.len();
        w.put(0, 32);
        let start = w.bit;
        // UNABBREV_RECORD code 7, ops [5, 300]
        w.put(3, 3);
        w.vbr(7, 6);
        w.vbr(2, 6);
        w.vbr(5, 6);
        w.vbr(300, 6);
        // DEFINE_ABBREV: [literal 9, array of char6]
        w.put(2, 3);
        w.vbr(3, 5);
        w.put(1, 1);
        w.vbr(9, 8);
        w.put(0, 1);
        w.put(3, 3);
        w.put(0, 1);
        w.put(4, 3);
        // record with abbrev 4: "ab"
        w.put(4, 3);
        w.vbr(2, 6);
        w.put(0, 6);
        w.put(1, 6);
        // END_BLOCK
        w.put(0, 3);
        w.align();
        let words = ((w.bit - start) / 32) as u32;
        w.bytes[len_at..len_at + 4].copy_from_slice(&words.to_le_bytes());
        let blocks = parse(&w.bytes, 4).unwrap();
        assert_eq!(blocks.len(), 1);
        let recs: Vec<_> = blocks[0].records().collect();
        assert_eq!(recs[0].code, 7);
        assert_eq!(recs[0].ops, vec![5, 300]);
        assert_eq!(recs[1].code, 9);
        assert_eq!(recs[1].ops, vec![b'a' as u64, b'b' as u64]);
        // Every truncation fails cleanly.
        for n in 0..w.bytes.len() {
            let _ = parse(&w.bytes[..n], 4.min(n));
        }
    }
}
