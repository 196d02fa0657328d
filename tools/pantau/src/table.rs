//! Plain-text tables with aligned columns.

use std::io::Write;

/// Writes `headers` and `rows` with every column padded to its widest cell.
pub fn print(headers: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    let head: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    write_row(&mut out, &widths, &head)?;
    for row in rows {
        write_row(&mut out, &widths, row)?;
    }
    out.flush()
}

fn write_row(out: &mut impl Write, widths: &[usize], cells: &[String]) -> std::io::Result<()> {
    let last = cells.len().saturating_sub(1);
    let mut line = String::new();
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        line.extend(cell.chars().map(|c| if c.is_control() { ' ' } else { c }));
        if i < last {
            let pad = w.saturating_sub(cell.chars().count()) + 2;
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    writeln!(out, "{line}")
}
