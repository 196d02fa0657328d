//! A hand-written PDF 1.4 of worker cards: A4 pages of 2 x 4 cards with cut lines.
//!
//! Written by hand because the document is tiny and fixed: two built-in fonts, rectangles and
//! text. Content streams stay uncompressed so the output can be read and tested as text, and the
//! QR is drawn as vector rectangles so it prints sharp at any printer resolution.

use super::Card;
use super::font::{Font, literal};
use crate::render::{Matrix, QUIET_ZONE, RenderError};

const PAGE_WIDTH: f64 = 595.0;
const PAGE_HEIGHT: f64 = 842.0;
const MARGIN: f64 = 28.0;
const HEADER_HEIGHT: f64 = 24.0;
const COLUMNS: usize = 2;
const ROWS: usize = 4;
pub(super) const CARDS_PER_PAGE: usize = COLUMNS * ROWS;

const CARD_WIDTH: f64 = (PAGE_WIDTH - 2.0 * MARGIN) / COLUMNS as f64;
const CARD_HEIGHT: f64 = (PAGE_HEIGHT - 2.0 * MARGIN - HEADER_HEIGHT) / ROWS as f64;
const PADDING: f64 = 10.0;
/// Side of the QR including its quiet zone: a static code (version 7, 53 modules with the
/// zone) gets modules of about 0.8 mm, which phone cameras and kiosk scanners read easily.
const QR_SIDE: f64 = 120.0;
/// A 3 x 4 cm passport photo keeps its proportions at 3 x 4 of this unit.
const PHOTO_UNIT: f64 = 24.0;

/// Baselines of the name, employee id, unit and agency lines, above the card's bottom edge.
const TEXT_BASELINES: [f64; 4] = [47.0, 35.0, 24.0, 13.0];
const NAME_SIZE: f64 = 11.0;
const DETAIL_SIZE: f64 = 9.0;
const TITLE_SIZE: f64 = 12.0;
const PAGE_NUMBER_SIZE: f64 = 9.0;

// The layout is checked when compiling: the grid ends on the bottom margin, the QR clears the
// name line, and the QR and the photo box do not overlap.
const _: () = assert!(PAGE_HEIGHT - MARGIN - HEADER_HEIGHT - ROWS as f64 * CARD_HEIGHT == MARGIN);
const _: () = assert!(CARD_HEIGHT - PADDING - QR_SIDE > TEXT_BASELINES[0] + NAME_SIZE);
const _: () = assert!(PADDING + QR_SIDE < CARD_WIDTH - PADDING - 3.0 * PHOTO_UNIT);

/// The whole document for `cards`, one page per eight cards, or one page saying there are none.
pub(super) fn document(title: &str, cards: &[Card]) -> Result<Vec<u8>, RenderError> {
    let pages: Vec<&[Card]> = if cards.is_empty() {
        vec![&[]]
    } else {
        cards.chunks(CARDS_PER_PAGE).collect()
    };
    let total = pages.len();
    let contents = pages
        .iter()
        .enumerate()
        .map(|(index, cards)| page(title, index + 1, total, cards))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(assemble(&contents))
}

/// The content stream of one page.
fn page(title: &str, number: usize, total: usize, cards: &[Card]) -> Result<String, RenderError> {
    let mut out = String::new();
    let baseline = PAGE_HEIGHT - MARGIN - TITLE_SIZE;
    let numbering = Font::Regular.fit(&format!("page {number} / {total}"), PAGE_NUMBER_SIZE, 80.0);
    let numbering_width = Font::Regular.width(&numbering, PAGE_NUMBER_SIZE);
    let title_width = PAGE_WIDTH - 2.0 * MARGIN - numbering_width - 12.0;
    text(
        &mut out,
        Font::Bold,
        TITLE_SIZE,
        MARGIN,
        baseline,
        &Font::Bold.fit(title, TITLE_SIZE, title_width),
    );
    text(
        &mut out,
        Font::Regular,
        PAGE_NUMBER_SIZE,
        PAGE_WIDTH - MARGIN - numbering_width,
        baseline,
        &numbering,
    );

    if cards.is_empty() {
        let message = b"no workers";
        let x = (PAGE_WIDTH - Font::Regular.width(message, 14.0)) / 2.0;
        text(&mut out, Font::Regular, 14.0, x, PAGE_HEIGHT / 2.0, message);
    }
    for (slot, card) in cards.iter().enumerate() {
        let column = slot % COLUMNS;
        let row = slot / COLUMNS;
        let left = MARGIN + column as f64 * CARD_WIDTH;
        let bottom = PAGE_HEIGHT - MARGIN - HEADER_HEIGHT - (row + 1) as f64 * CARD_HEIGHT;
        draw_card(&mut out, card, left, bottom)?;
    }
    Ok(out)
}

fn draw_card(out: &mut String, card: &Card, left: f64, bottom: f64) -> Result<(), RenderError> {
    let top = bottom + CARD_HEIGHT;

    // Dashed gray cut line; neighbours share edges, so one cut separates two cards.
    out.push_str(&format!(
        "q 0.6 G 0.5 w [4 3] 0 d {} {} {} {} re S Q\n",
        num(left),
        num(bottom),
        num(CARD_WIDTH),
        num(CARD_HEIGHT)
    ));

    draw_qr(out, &card.code, left + PADDING, top - PADDING - QR_SIDE)?;

    let photo_width = 3.0 * PHOTO_UNIT;
    let photo_height = 4.0 * PHOTO_UNIT;
    let photo_left = left + CARD_WIDTH - PADDING - photo_width;
    let photo_bottom = top - PADDING - photo_height;
    out.push_str(&format!(
        "q 0.5 G 0.75 w {} {} {} {} re S Q\n",
        num(photo_left),
        num(photo_bottom),
        num(photo_width),
        num(photo_height)
    ));
    let label = b"FOTO 3x4";
    let label_x = photo_left + (photo_width - Font::Regular.width(label, 8.0)) / 2.0;
    out.push_str("0.5 g\n");
    text(
        out,
        Font::Regular,
        8.0,
        label_x,
        photo_bottom + photo_height / 2.0 - 3.0,
        label,
    );
    out.push_str("0 g\n");

    let text_left = left + PADDING;
    let width = CARD_WIDTH - 2.0 * PADDING;
    let lines = [
        (Font::Bold, NAME_SIZE, card.name.as_str()),
        (Font::Regular, DETAIL_SIZE, card.employee_id.as_str()),
        (Font::Regular, DETAIL_SIZE, card.unit.as_str()),
        (Font::Regular, DETAIL_SIZE, card.agency.as_str()),
    ];
    for ((font, size, value), above_bottom) in lines.into_iter().zip(TEXT_BASELINES) {
        text(
            out,
            font,
            size,
            text_left,
            bottom + above_bottom,
            &font.fit(value, size, width),
        );
    }
    Ok(())
}

/// The code as filled rectangles, one per horizontal run of dark modules, in a single path.
fn draw_qr(out: &mut String, code: &str, left: f64, bottom: f64) -> Result<(), RenderError> {
    let matrix = Matrix::encode(code)?;
    let module = QR_SIDE / matrix.outer_width() as f64;
    let top = bottom + QR_SIDE;
    out.push_str("0 g\n");
    for (row, column, length) in matrix.runs() {
        out.push_str(&format!(
            "{} {} {} {} re\n",
            num(left + (column + QUIET_ZONE) as f64 * module),
            num(top - (row + QUIET_ZONE + 1) as f64 * module),
            num(length as f64 * module),
            num(module)
        ));
    }
    out.push_str("f\n");
    Ok(())
}

fn text(out: &mut String, font: Font, size: f64, x: f64, y: f64, encoded: &[u8]) {
    out.push_str(&format!(
        "BT {} {} Tf {} {} Td {} Tj ET\n",
        font.resource(),
        num(size),
        num(x),
        num(y),
        literal(encoded)
    ));
}

/// A number the short way: at most three decimals, no trailing zeros.
fn num(value: f64) -> String {
    let fixed = format!("{value:.3}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    match trimmed {
        "-0" | "" => "0".to_owned(),
        other => other.to_owned(),
    }
}

/// Objects, cross-reference table and trailer around the page contents.
///
/// Object numbers: 1 catalog, 2 page tree, 3 and 4 fonts, then each page followed by its content.
fn assemble(contents: &[String]) -> Vec<u8> {
    let page_ids: Vec<usize> = (0..contents.len()).map(|index| 5 + 2 * index).collect();
    let kids = page_ids
        .iter()
        .map(|id| format!("{id} 0 R"))
        .collect::<Vec<_>>()
        .join(" ");

    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        format!(
            "<< /Type /Pages /Kids [{kids}] /Count {} >>",
            contents.len()
        ),
        font_object("Helvetica"),
        font_object("Helvetica-Bold"),
    ];
    for (content, page_id) in contents.iter().zip(&page_ids) {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] \
             /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
            num(PAGE_WIDTH),
            num(PAGE_HEIGHT),
            page_id + 1
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }

    // The binary comment line tells transfer tools the file is not plain text.
    let mut pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (index, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", index + 1).as_bytes());
    }
    let xref = pdf.len();
    let size = objects.len() + 1;
    let mut table = format!("xref\n0 {size}\n0000000000 65535 f \n");
    for offset in offsets {
        // Each entry is exactly 20 bytes, as readers that seek into the table expect.
        table.push_str(&format!("{offset:010} 00000 n \n"));
    }
    table.push_str(&format!(
        "trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ));
    pdf.extend_from_slice(table.as_bytes());
    pdf
}

fn font_object(name: &str) -> String {
    format!("<< /Type /Font /Subtype /Type1 /BaseFont /{name} /Encoding /WinAnsiEncoding >>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_short() {
        assert_eq!(num(595.0), "595");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(num(1.23456), "1.235");
        assert_eq!(num(-0.0001), "0");
    }
}
