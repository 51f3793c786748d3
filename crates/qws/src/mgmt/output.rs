//! `-o json|table|tsv` rendering.
//!
//! `json` prints exactly what the server returned (pretty-printed); `table` and `tsv` print a few
//! chosen columns, `table` with a header for people, `tsv` without one for scripts.

use std::io::Write;

use serde_json::Value;

/// The output format selected with `-o/--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// The server's JSON, unchanged.
    Json,
    /// Aligned columns with a header.
    Table,
    /// Tab-separated columns, no header.
    Tsv,
}

/// Rows for the `table` and `tsv` formats.
pub struct Table {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render_table(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            padded.join("  ").trim_end().to_owned() + "\n"
        };
        let mut out = line(self.headers.clone());
        out += &line(
            widths
                .iter()
                .map(|w| "-".repeat(*w))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect(),
        );
        for row in &self.rows {
            out += &line(row.iter().map(String::as_str).collect());
        }
        out
    }

    fn render_tsv(&self) -> String {
        self.rows
            .iter()
            .map(|row| {
                let cells: Vec<String> = row.iter().map(|c| c.replace(['\t', '\n'], " ")).collect();
                cells.join("\t") + "\n"
            })
            .collect()
    }
}

/// Prints `json` (for `-o json`) or `table` (for `-o table|tsv`) to stdout.
pub fn print(format: OutputFormat, json: &Value, table: &Table) -> anyhow::Result<()> {
    let text = match format {
        OutputFormat::Json => serde_json::to_string_pretty(json)? + "\n",
        OutputFormat::Table => table.render_table(),
        OutputFormat::Tsv => table.render_tsv(),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// A column of a table of JSON items: its header and the JSON pointer of its cell in an item.
pub type Column = (&'static str, &'static str);

impl Table {
    /// One row per item, a cell per column.
    pub fn of(columns: &[Column], items: &[Value]) -> Table {
        let mut table = Table::new(&columns.iter().map(|(h, _)| *h).collect::<Vec<_>>());
        for item in items {
            table.row(columns.iter().map(|(_, p)| cell(item, p)).collect());
        }
        table
    }
}

/// Prints one item (`-o json`: all of it; `table`/`tsv`: the columns).
pub fn print_item(format: OutputFormat, item: &Value, columns: &[Column]) -> anyhow::Result<()> {
    print(
        format,
        item,
        &Table::of(columns, std::slice::from_ref(item)),
    )
}

/// Prints the items of a list answer (`{"value": [...]}`): `-o json` prints the array,
/// `table`/`tsv` a row per item.
pub fn print_list(format: OutputFormat, answer: &Value, columns: &[Column]) -> anyhow::Result<()> {
    let items = answer["value"].as_array().cloned().unwrap_or_default();
    print(
        format,
        &Value::Array(items.clone()),
        &Table::of(columns, &items),
    )
}

/// A JSON string field at `pointer`, or "" (for table cells).
pub fn cell(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_tsv_has_no_header() {
        let mut t = Table::new(&["Name", "Location"]);
        t.row(vec!["a".into(), "eastus".into()]);
        t.row(vec!["longer-name".into(), "x\ty".into()]);
        assert_eq!(
            t.render_table(),
            "Name         Location\n-----------  --------\na            eastus\nlonger-name  x\ty\n"
        );
        assert_eq!(t.render_tsv(), "a\teastus\nlonger-name\tx y\n");
    }

    #[test]
    fn tables_of_items_take_a_cell_per_column_from_each_item() {
        let items = [
            serde_json::json!({"name": "a", "properties": {"url": "http://x"}}),
            serde_json::json!({"name": "b"}),
        ];
        let t = Table::of(&[("Name", "/name"), ("Url", "/properties/url")], &items);
        assert_eq!(t.headers, ["Name", "Url"]);
        assert_eq!(t.rows, [["a", "http://x"], ["b", ""]]);
    }

    #[test]
    fn cells_render_strings_numbers_and_absent_values() {
        let v = serde_json::json!({"a": "s", "b": true, "c": null});
        assert_eq!(cell(&v, "/a"), "s");
        assert_eq!(cell(&v, "/b"), "true");
        assert_eq!(cell(&v, "/c"), "");
        assert_eq!(cell(&v, "/missing"), "");
    }
}
