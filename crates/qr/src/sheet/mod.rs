//! Printable sheets for HR desks: a PDF of cut-out worker cards, or a zip of PNGs with an index.

mod archive;
mod font;
mod pdf;

use crate::render::RenderError;

/// One worker's card: who they are, and the code text printed as their QR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// Full name, printed bold and cut with "..." if it does not fit.
    pub name: String,
    /// The agency's employee number (NIP or similar).
    pub employee_id: String,
    /// Work unit within the agency.
    pub unit: String,
    /// The agency the worker belongs to.
    pub agency: String,
    /// The `PNT1.` text to print as the QR.
    pub code: String,
}

/// An A4 PDF with eight cards a page (2 columns x 4 rows), each with cut lines, the QR, a 3x4
/// photo box and the worker's details; `title` heads every page. Text outside Latin-1 prints
/// as '?', since the built-in PDF fonts cover nothing else.
pub fn pdf(title: &str, cards: &[Card]) -> Result<Vec<u8>, RenderError> {
    pdf::document(title, cards)
}

/// A zip holding `<employee_id>.png` per card (names sanitized to `[A-Za-z0-9._-]` and made
/// unique) and `index.csv` with columns `employee_id,name,unit,agency,file`.
pub fn zip_of_pngs(cards: &[Card]) -> Result<Vec<u8>, RenderError> {
    archive::zip_of_pngs(cards)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read as _};

    use super::*;
    use crate::testutil::{decode_png, sample_code_for};

    fn cards(count: usize) -> Vec<Card> {
        (0..count)
            .map(|n| Card {
                name: format!("Worker Number {n}"),
                employee_id: format!("1985{n:06} 2005"),
                unit: "Bidang Pengelolaan Data".to_owned(),
                agency: "Dinas Komunikasi dan Informatika".to_owned(),
                code: sample_code_for(n as u128 + 1, 1),
            })
            .collect()
    }

    /// Follows `startxref` to the table and checks every entry lands on its object, then checks
    /// each stream's `/Length` against where `endstream` actually is. Returns the object count.
    fn check_structure(pdf: &[u8]) -> usize {
        let text = ascii_view(pdf);
        // Only the binary marker comment on line two is not ASCII; text is escaped.
        assert_eq!(text.matches('?').count(), 4 + pdf_question_marks(pdf));
        assert!(text.starts_with("%PDF-1.4\n"));
        assert!(text.ends_with("%%EOF\n"));
        let startxref = text.rfind("startxref\n").unwrap();
        let xref: usize = text[startxref + 10..]
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let table = &text[xref..];
        let mut lines = table.lines();
        assert_eq!(lines.next(), Some("xref"));
        let header = lines.next().unwrap();
        let size: usize = header.strip_prefix("0 ").unwrap().parse().unwrap();
        assert_eq!(lines.next(), Some("0000000000 65535 f "));
        for id in 1..size {
            let entry = lines.next().unwrap();
            assert_eq!(entry.len(), 19, "entry plus its newline is 20 bytes");
            assert!(entry.ends_with(" 00000 n "));
            let offset: usize = entry[..10].parse().unwrap();
            assert!(
                text[offset..].starts_with(&format!("{id} 0 obj\n")),
                "object {id} is not at {offset}"
            );
        }
        assert_eq!(lines.next(), Some("trailer"));
        assert!(table.contains(&format!("/Size {size} /Root 1 0 R")));

        for (start, _) in text.match_indices("/Length ") {
            let rest = &text[start + 8..];
            let length: usize = rest[..rest.find(' ').unwrap()].parse().unwrap();
            let data = start + 8 + rest.find("stream\n").unwrap() + 7;
            assert_eq!(&text[data + length..data + length + 10], "\nendstream");
        }
        size - 1
    }

    /// The file with every non-ASCII byte shown as '?', so byte offsets stay string offsets.
    fn ascii_view(pdf: &[u8]) -> String {
        pdf.iter()
            .map(|&byte| {
                if byte.is_ascii() {
                    char::from(byte)
                } else {
                    '?'
                }
            })
            .collect()
    }

    fn pdf_question_marks(pdf: &[u8]) -> usize {
        pdf.iter().filter(|&&byte| byte == b'?').count()
    }

    fn page_count(pdf: &[u8]) -> usize {
        ascii_view(pdf).matches("/Type /Page /").count()
    }

    #[test]
    fn a_pdf_of_eleven_cards_has_two_valid_pages_naming_every_worker() {
        let cards = cards(11);
        let pdf = pdf("Kartu QR Pegawai", &cards).unwrap();
        assert_eq!(check_structure(&pdf), 4 + 2 * 2);
        assert_eq!(page_count(&pdf), 2);
        let text = ascii_view(&pdf);
        assert!(text.contains("/Count 2"));
        assert!(text.contains("(page 1 / 2) Tj"));
        assert!(text.contains("(page 2 / 2) Tj"));
        assert!(text.contains("(Kartu QR Pegawai) Tj"));
        assert!(text.contains("/F2 11 Tf"));
        for card in &cards {
            assert!(text.contains(&format!("({}) Tj", card.name)));
            assert!(text.contains(&format!("({}) Tj", card.employee_id)));
        }
        assert_eq!(text.matches("(FOTO 3x4) Tj").count(), 11);
    }

    #[test]
    fn an_empty_pdf_is_one_valid_page_saying_no_workers() {
        let pdf = pdf("Kosong", &[]).unwrap();
        assert_eq!(check_structure(&pdf), 6);
        assert_eq!(page_count(&pdf), 1);
        assert!(ascii_view(&pdf).contains("(no workers) Tj"));
    }

    #[test]
    fn a_pdf_of_a_hundred_cards_has_thirteen_pages() {
        let pdf = pdf("Semua", &cards(100)).unwrap();
        assert_eq!(page_count(&pdf), 13);
        check_structure(&pdf);
    }

    #[test]
    fn page_count_is_cards_over_eight_rounded_up() {
        for count in [1, 7, 8, 9, 16, 17] {
            let pdf = pdf("t", &cards(count)).unwrap();
            assert_eq!(page_count(&pdf), count.div_ceil(8), "{count} cards");
        }
    }

    #[test]
    fn awkward_text_is_escaped_encoded_and_cut_to_fit() {
        let mut card = cards(1).remove(0);
        card.name =
            "Siti (Ani) Nurhaliza \\ Ma’ruf Dwi Ñoño 王 Binti Abdul Rahman Hakim Wijaya".into();
        let text = ascii_view(&pdf("A (b)", &[card]).unwrap());
        assert!(text.contains(r"(A \(b\)) Tj"));
        assert!(text.contains(r"(Siti \(Ani\) Nurhaliza \\ Ma\222ruf Dwi \321o\361o ? Binti"));
        assert!(text.contains("...) Tj"));
        assert!(!text.contains("Wijaya"));
    }

    #[test]
    fn a_code_too_long_for_a_qr_is_an_error_not_a_broken_file() {
        let mut card = cards(1).remove(0);
        card.code = "x".repeat(5000);
        assert!(matches!(
            pdf("t", &[card]),
            Err(RenderError::DataTooLong { .. })
        ));
    }

    fn file_names(archive: &zip::ZipArchive<Cursor<Vec<u8>>>) -> Vec<String> {
        archive
            .file_names()
            .map(|name| name.unwrap().into_owned())
            .collect()
    }

    #[test]
    fn the_zip_holds_one_scannable_png_per_card_and_a_csv_index() {
        let mut cards = cards(3);
        cards[1].name = "Rahman, \"Oman\"".to_owned();
        cards[2].employee_id = "A/7".to_owned();
        let bytes = zip_of_pngs(&cards).unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut names = file_names(&archive);
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "1985000000_2005.png",
                "1985000001_2005.png",
                "A_7.png",
                "index.csv"
            ]
        );

        let mut image = Vec::new();
        archive
            .by_name("A_7.png")
            .unwrap()
            .read_to_end(&mut image)
            .unwrap();
        assert_eq!(decode_png(&image), cards[2].code);

        let mut index = String::new();
        archive
            .by_name("index.csv")
            .unwrap()
            .read_to_string(&mut index)
            .unwrap();
        let mut reader = csv::Reader::from_reader(index.as_bytes());
        assert_eq!(
            reader.headers().unwrap(),
            vec!["employee_id", "name", "unit", "agency", "file"]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[1][1], "Rahman, \"Oman\"");
        assert_eq!(&rows[2][0], "A/7");
        assert_eq!(&rows[2][4], "A_7.png");
        assert!(index.contains("\"Rahman, \"\"Oman\"\"\""));
    }

    #[test]
    fn an_empty_zip_still_has_its_index() {
        let bytes = zip_of_pngs(&[]).unwrap();
        let archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(file_names(&archive), ["index.csv"]);
    }
}
