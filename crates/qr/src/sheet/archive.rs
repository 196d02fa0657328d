//! A zip of one PNG per card plus an `index.csv`, for desks that print with their own tools.

use std::collections::HashSet;
use std::io::{Cursor, Write as _};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::Card;
use crate::render::{self, RenderError};

/// Pixels per module: a static code becomes a 424 px square, plenty to print at 4 cm.
const PNG_SCALE: u32 = 8;
/// Keeps names well under every file system's limit.
const MAX_STEM_CHARS: usize = 64;

pub(super) fn zip_of_pngs(cards: &[Card]) -> Result<Vec<u8>, RenderError> {
    // PNG is already deflated, so storing saves time and loses nothing.
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let mut archive = ZipWriter::new(Cursor::new(Vec::new()));
    let mut index = csv::Writer::from_writer(Vec::new());
    index.write_record(["employee_id", "name", "unit", "agency", "file"])?;

    let mut taken = HashSet::new();
    for (position, card) in cards.iter().enumerate() {
        let file = file_name(&card.employee_id, position, &mut taken);
        let image = render::png(&card.code, PNG_SCALE)?;
        archive.start_file(file.as_str(), options)?;
        archive.write_all(&image)?;
        index.write_record([
            card.employee_id.as_str(),
            card.name.as_str(),
            card.unit.as_str(),
            card.agency.as_str(),
            file.as_str(),
        ])?;
    }

    let index = index.into_inner().map_err(|error| error.into_error())?;
    archive.start_file("index.csv", options)?;
    archive.write_all(&index)?;
    Ok(archive.finish()?.into_inner())
}

/// `<employee_id>.png` made safe to unpack anywhere: only `[A-Za-z0-9._-]`, no leading dot, and
/// unique even on case-insensitive file systems, so no card silently overwrites another.
fn file_name(employee_id: &str, position: usize, taken: &mut HashSet<String>) -> String {
    let sanitized: String = employee_id
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-') {
                ch
            } else {
                '_'
            }
        })
        .take(MAX_STEM_CHARS)
        .collect();
    let stem = match sanitized.trim_start_matches('.') {
        "" => format!("card-{}", position + 1),
        stem => stem.to_owned(),
    };
    let mut candidate = format!("{stem}.png");
    let mut copy = 1;
    while !taken.insert(candidate.to_ascii_lowercase()) {
        copy += 1;
        candidate = format!("{stem}-{copy}.png");
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_sanitized_and_unique() {
        let mut taken = HashSet::new();
        let mut name = |id: &str, position| file_name(id, position, &mut taken);
        assert_eq!(
            name("19850101 200501 1 001", 0),
            "19850101_200501_1_001.png"
        );
        assert_eq!(name("../../etc/passwd", 1), "_.._etc_passwd.png");
        assert_eq!(name("..", 2), "card-3.png");
        assert_eq!(name("", 3), "card-4.png");
        assert_eq!(name("A-1", 4), "A-1.png");
        assert_eq!(name("a-1", 5), "a-1-2.png");
        assert_eq!(name("A-1", 6), "A-1-3.png");
    }
}
