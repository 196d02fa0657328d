//! Text for the PDF's built-in fonts: WinAnsi encoding, string escaping and glyph widths.
//!
//! Helvetica and Helvetica-Bold are among the 14 fonts every PDF reader carries, so nothing is
//! embedded and a sheet of 100 workers stays small. Their widths are Adobe's published metrics,
//! needed to cut long names before they run off the card.

/// The two fonts a sheet uses, named as in each page's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Font {
    Regular,
    Bold,
}

impl Font {
    pub(super) fn resource(self) -> &'static str {
        match self {
            Font::Regular => "/F1",
            Font::Bold => "/F2",
        }
    }

    /// Advance width of one WinAnsi byte in thousandths of the font size.
    fn advance(self, byte: u8) -> u16 {
        let table = match self {
            Font::Regular => &HELVETICA,
            Font::Bold => &HELVETICA_BOLD,
        };
        match byte {
            0x20.. => table[usize::from(byte - 0x20)],
            // Never produced by `encode`; charged as a wide glyph just in case.
            _ => 1000,
        }
    }

    /// Width of encoded text at `size` points.
    pub(super) fn width(self, text: &[u8], size: f64) -> f64 {
        let units: u32 = text.iter().map(|&byte| u32::from(self.advance(byte))).sum();
        f64::from(units) * size / 1000.0
    }

    /// The encoded text, cut and ended with "..." if it is wider than `max_width` points.
    pub(super) fn fit(self, text: &str, size: f64, max_width: f64) -> Vec<u8> {
        let mut encoded = encode(text);
        if self.width(&encoded, size) <= max_width {
            return encoded;
        }
        let ellipsis = self.width(b"...", size);
        while !encoded.is_empty() && self.width(&encoded, size) + ellipsis > max_width {
            encoded.pop();
        }
        // "Budi ..." reads worse than "Budi...".
        while encoded.last() == Some(&b' ') {
            encoded.pop();
        }
        encoded.extend_from_slice(b"...");
        encoded
    }
}

/// Text in WinAnsiEncoding: Latin-1 as is, the typographic marks phones like to type mapped to
/// their WinAnsi codes, line breaks and tabs as spaces, anything else as '?'.
pub(super) fn encode(text: &str) -> Vec<u8> {
    text.chars()
        .map(|ch| match ch {
            '\t' | '\n' | '\r' => b' ',
            ' '..='~' | '\u{a0}'..='\u{ff}' => u8::try_from(u32::from(ch)).unwrap_or(b'?'),
            '€' => 0x80,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            _ => b'?',
        })
        .collect()
}

/// A PDF literal string, `(...)`, holding encoded text. Bytes outside printable ASCII are
/// written as octal escapes so the file stays ASCII and easy to inspect.
pub(super) fn literal(encoded: &[u8]) -> String {
    let mut out = String::with_capacity(encoded.len() + 2);
    out.push('(');
    for &byte in encoded {
        match byte {
            b'(' | b')' | b'\\' => {
                out.push('\\');
                out.push(char::from(byte));
            }
            0x20..=0x7e => out.push(char::from(byte)),
            _ => out.push_str(&format!("\\{byte:03o}")),
        }
    }
    out.push(')');
    out
}

/// Helvetica advance widths for WinAnsi codes 0x20..=0xFF (Adobe core font metrics).
#[rustfmt::skip]
const HELVETICA: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 1000,
    556, 1000, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 1000, 611, 1000,
    1000, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 1000, 500, 667,
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

/// Helvetica-Bold advance widths for WinAnsi codes 0x20..=0xFF (Adobe core font metrics).
#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 1000,
    556, 1000, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 1000, 611, 1000,
    1000, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 1000, 500, 667,
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278,
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_passes_through_and_everything_else_becomes_a_question_mark() {
        assert_eq!(encode("Añé"), b"A\xf1\xe9");
        assert_eq!(encode("Ma’ruf"), b"Ma\x92ruf");
        assert_eq!(encode("王 Ω\u{7}"), b"? ??");
        assert_eq!(encode("a\nb"), b"a b");
    }

    #[test]
    fn literals_escape_delimiters_and_non_ascii() {
        assert_eq!(literal(br"a(b)c\d"), r"(a\(b\)c\\d)");
        assert_eq!(literal(b"\xe9"), r"(\351)");
    }

    #[test]
    fn widths_follow_the_font_metrics() {
        assert_eq!(Font::Regular.width(b"Hi", 10.0), (722.0 + 222.0) / 100.0);
        assert_eq!(Font::Bold.width(b"Hi", 10.0), (722.0 + 278.0) / 100.0);
    }

    #[test]
    fn text_that_does_not_fit_is_cut_with_an_ellipsis() {
        assert_eq!(Font::Regular.fit("Short", 10.0, 100.0), b"Short");
        let long = "Raden Mas Bagus Setiawan Adiwijaya Kusumanegara";
        let cut = Font::Bold.fit(long, 11.0, 120.0);
        assert!(cut.ends_with(b"..."));
        assert!(Font::Bold.width(&cut, 11.0) <= 120.0);
        assert!(long.as_bytes().starts_with(&cut[..cut.len() - 3]));
        assert_eq!(Font::Regular.fit("Anything", 10.0, 1.0), b"...");
    }
}
