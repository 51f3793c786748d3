//! The little XML the blob subset speaks: escaping, the List Blobs document and a strict parser
//! for Put Block List bodies (no DTDs, no namespaces, bounded by the caller's body limit).

use qws_store::blobs::{BlockRef, BlockSource};

/// Escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str, at: usize) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(';')
            .ok_or_else(|| format!("unterminated entity at byte {at}"))?;
        let ent = &rest[i + 1..i + end];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(h) = ent.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = ent.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity '&{ent};' near byte {at}"))?
            }
        };
        out.push(c);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses `<BlockList><Latest>id</Latest><Committed>…</Committed><Uncommitted>…</Uncommitted>…`.
/// Errors name the byte offset and what was expected.
pub fn parse_block_list(body: &[u8]) -> Result<Vec<BlockRef>, String> {
    let text = std::str::from_utf8(body)
        .map_err(|e| format!("the document is not UTF-8 (byte {})", e.valid_up_to()))?;
    let mut p = Parser {
        s: text.strip_prefix('\u{feff}').unwrap_or(text),
        pos: 0,
    };
    p.skip_ws();
    if p.rest().starts_with("<?xml") {
        let end = p
            .rest()
            .find("?>")
            .ok_or_else(|| p.err("an end of the XML declaration '?>'"))?;
        p.pos += end + 2;
    }
    p.skip_ws();
    p.open("BlockList")?;
    let mut out = Vec::new();
    loop {
        p.skip_ws();
        if p.rest().starts_with("</") {
            p.close("BlockList")?;
            break;
        }
        let name = p.open_any()?;
        let source = match name.as_str() {
            "Latest" => BlockSource::Latest,
            "Committed" => BlockSource::Committed,
            "Uncommitted" => BlockSource::Uncommitted,
            other => {
                return Err(format!(
                    "unexpected element <{other}> at byte {}; expected <Latest>, <Committed> or <Uncommitted>",
                    p.pos
                ))
            }
        };
        let start = p.pos;
        let end = p
            .rest()
            .find('<')
            .ok_or_else(|| p.err(&format!("</{name}>")))?;
        let id = unescape(p.rest()[..end].trim(), start)?;
        p.pos += end;
        p.close(&name)?;
        out.push(BlockRef { id, source });
    }
    p.skip_ws();
    if !p.rest().is_empty() {
        return Err(p.err("the end of the document"));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }
    fn err(&self, expected: &str) -> String {
        format!("expected {expected} at byte {}", self.pos)
    }
    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }
    fn open_any(&mut self) -> Result<String, String> {
        let r = self.rest();
        if !r.starts_with('<') || r.starts_with("</") {
            return Err(self.err("an opening tag"));
        }
        let end = r.find('>').ok_or_else(|| self.err("'>'"))?;
        let name = r[1..end].trim();
        if name.is_empty()
            || name.ends_with('/')
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.err("a simple element name"));
        }
        let name = name.to_string();
        self.pos += end + 1;
        Ok(name)
    }
    fn open(&mut self, want: &str) -> Result<(), String> {
        let at = self.pos;
        let got = self.open_any()?;
        if got == want {
            Ok(())
        } else {
            Err(format!("expected <{want}> at byte {at}, found <{got}>"))
        }
    }
    fn close(&mut self, want: &str) -> Result<(), String> {
        let tag = format!("</{want}>");
        if self.rest().starts_with(&tag) {
            self.pos += tag.len();
            Ok(())
        } else {
            Err(self.err(&tag))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_block_lists() {
        let l = parse_block_list(
            b"<?xml version='1.0' encoding='utf-8'?>\n<BlockList><Latest>QUE=</Latest>\n <Committed>Q&#x2B;E=</Committed><Uncommitted>QkI=</Uncommitted></BlockList>",
        )
        .unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[1].id, "Q+E=");
        assert_eq!(l[2].source, BlockSource::Uncommitted);
        assert!(parse_block_list(b"<BlockList></BlockList>")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn rejects_malformed_documents_with_positions() {
        for bad in [
            &b"<BlockList><Latest>QUE=</Latest>"[..],
            b"<BlockList><Bogus>QUE=</Bogus></BlockList>",
            b"<Blocks></Blocks>",
            b"<BlockList><Latest>QUE=</Committed></BlockList>",
            b"<BlockList></BlockList>trailing",
            b"<BlockList><Latest>&bad;</Latest></BlockList>",
            b"\xff\xfe",
            b"",
        ] {
            let e = parse_block_list(bad).unwrap_err();
            assert!(e.contains("byte"), "{e}");
        }
        assert_eq!(escape("a<&>\"'"), "a&lt;&amp;&gt;&quot;&apos;");
    }
}
