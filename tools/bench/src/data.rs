//! Valid, unique worker data for index `i`: NIK, phone and bank account
//! never repeat for distinct indexes (up to ~130 million).

use pantau_proto::identity::v1::{ImportRow, RegisterWorkerRequest, WorkerKind};

/// NIK 317101 + DDMMYY (day + 40 for women) + serial 0001-9999, born
/// 1960-1999 so every date is in the past.
pub fn nik(i: u64) -> String {
    let serial = i % 9999 + 1;
    let k = i / 9999;
    let day = 1 + k % 28;
    let month = 1 + (k / 28) % 12;
    let yy = 60 + (k / 336) % 40;
    let dd = if i % 2 == 1 { day + 40 } else { day };
    format!("317101{dd:02}{month:02}{yy:02}{serial:04}")
}

pub fn phone(i: u64) -> String {
    format!("08{:010}", 2_000_000_000 + i)
}

pub fn bank_account(i: u64) -> String {
    format!("{:012}", 100_000_000_000 + i)
}

/// A PHL import row on CSV line `i + 2`.
pub fn import_row(i: u64, agency_code: &str) -> ImportRow {
    ImportRow {
        line: u32::try_from(i + 2).unwrap_or(u32::MAX),
        kind: WorkerKind::Phl as i32,
        nip: String::new(),
        nik: nik(i),
        name: format!("Pekerja Bench {i}"),
        agency_code: agency_code.to_owned(),
        unit_code: String::new(),
        phone: phone(i),
        email: String::new(),
        bank_account: bank_account(i),
        address: format!("Jl. Bench No. {i}, Jakarta"),
        joined_on: "2020-01-06".into(),
        legacy_id: format!("B{i:08}"),
    }
}

/// A direct PHL registration.
pub fn register(i: u64, agency_id: &str) -> RegisterWorkerRequest {
    RegisterWorkerRequest {
        request_id: format!("bench-register-{i}"),
        kind: WorkerKind::Phl as i32,
        nik: nik(i),
        name: format!("Pekerja Daftar {i}"),
        agency_id: agency_id.to_owned(),
        phone: phone(i),
        bank_account: bank_account(i),
        address: format!("Jl. Daftar No. {i}, Jakarta"),
        joined_on: "2020-01-06".into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for i in (0..400_000).chain(5_000_000..5_001_000) {
            let n = nik(i);
            assert_eq!(n.len(), 16);
            assert!(seen.insert(n), "duplicate nik at {i}");
        }
        assert_eq!(phone(0).len(), 12);
        assert_eq!(bank_account(7).len(), 12);
    }
}
