//! The permission matrix as a table: every action against every kind of
//! caller, listing exactly who is allowed.

use super::*;

/// The callers of the matrix, by short name.
fn principals() -> Vec<(&'static str, Principal)> {
    let p = |subject: &str, roles: &[Role], agency: Option<&str>, worker: Option<&str>| Principal {
        subject: subject.into(),
        roles: roles.to_vec(),
        agency_id: agency.map(str::to_owned),
        worker_id: worker.map(str::to_owned),
    };
    vec![
        (
            "province",
            p("province", &[Role::ProvinceAdmin], None, None),
        ),
        ("auditor", p("auditor", &[Role::Auditor], None, None)),
        (
            "admin_a",
            p("admin_a", &[Role::AgencyAdmin], Some("A"), None),
        ),
        (
            "admin_b",
            p("admin_b", &[Role::AgencyAdmin], Some("B"), None),
        ),
        (
            "admin_none",
            p("admin_none", &[Role::AgencyAdmin], None, None),
        ),
        (
            "sup_a",
            p("sup_a", &[Role::Supervisor], Some("A"), Some("s1")),
        ),
        (
            "sup_b",
            p("sup_b", &[Role::Supervisor], Some("B"), Some("s2")),
        ),
        ("w1", p("w1", &[Role::Worker], Some("A"), Some("w1"))),
        ("w2", p("w2", &[Role::Worker], Some("A"), Some("w2"))),
        (
            "scanner_a",
            p("scanner_a", &[Role::Scanner], Some("A"), Some("w1")),
        ),
        ("nobody", p("nobody", &[], Some("A"), Some("w1"))),
    ]
}

const ADMIN_ROLES: &[Role] = &[Role::AgencyAdmin];
const WORKER_ROLES: &[Role] = &[Role::Worker, Role::Supervisor];
const AUDITOR_ROLES: &[Role] = &[Role::Auditor];
const PROVINCE_ROLES: &[Role] = &[Role::ProvinceAdmin];

/// Each action and exactly the callers it allows.
fn matrix() -> Vec<(Action<'static>, &'static [&'static str])> {
    vec![
        (Action::ManageAgencies, &["province"]),
        (
            Action::ManageUnits { agency: "A" },
            &["province", "admin_a"],
        ),
        (
            Action::RegisterWorker { agency: "A" },
            &["province", "admin_a"],
        ),
        (
            Action::RegisterWorker { agency: "B" },
            &["province", "admin_b"],
        ),
        (
            Action::ChangeWorker { agency: "A" },
            &["province", "admin_a"],
        ),
        (Action::EraseWorker { agency: "A" }, &["province"]),
        (
            Action::ReadWorker {
                agency: "A",
                worker_id: "w1",
            },
            &["province", "auditor", "admin_a", "sup_a", "w1"],
        ),
        (
            Action::ReadWorker {
                agency: "B",
                worker_id: "x9",
            },
            &["province", "auditor", "admin_b", "sup_b"],
        ),
        (
            Action::ListWorkers { agency: None },
            &["province", "auditor"],
        ),
        (
            Action::ListWorkers { agency: Some("A") },
            &["province", "auditor", "admin_a", "sup_a"],
        ),
        (Action::OpenCampaign { agency: None }, &["province"]),
        (
            Action::OpenCampaign { agency: Some("A") },
            &["province", "admin_a"],
        ),
        (
            Action::Reverify {
                agency: "A",
                worker_id: "w1",
            },
            &["province", "admin_a", "w1"],
        ),
        (
            Action::Reverify {
                agency: "A",
                worker_id: "s1",
            },
            &["province", "admin_a", "sup_a"],
        ),
        (
            Action::ReadCampaign,
            &["province", "auditor", "admin_a", "admin_b", "admin_none"],
        ),
        (
            Action::CreateAccount {
                agency: Some("A"),
                roles: ADMIN_ROLES,
            },
            &["province", "admin_a"],
        ),
        (
            Action::CreateAccount {
                agency: Some("A"),
                roles: WORKER_ROLES,
            },
            &["province", "admin_a"],
        ),
        (
            Action::CreateAccount {
                agency: Some("A"),
                roles: AUDITOR_ROLES,
            },
            &["province"],
        ),
        (
            Action::CreateAccount {
                agency: Some("A"),
                roles: PROVINCE_ROLES,
            },
            &["province"],
        ),
        (
            Action::CreateAccount {
                agency: None,
                roles: AUDITOR_ROLES,
            },
            &["province"],
        ),
        (
            Action::CreateAccount {
                agency: Some("B"),
                roles: WORKER_ROLES,
            },
            &["province", "admin_b"],
        ),
        (
            Action::UploadPhoto,
            &["province", "admin_a", "admin_b", "admin_none"],
        ),
    ]
}

#[test]
fn every_action_allows_exactly_the_callers_in_the_matrix() {
    let principals = principals();
    let mut failures = Vec::new();
    for (action, allowed) in matrix() {
        for (name, principal) in &principals {
            let expected = allowed.contains(name);
            let got = authorize(principal, &action);
            match (expected, &got) {
                (true, Ok(())) | (false, Err(DomainError::PermissionDenied(_))) => {}
                _ => failures.push(format!(
                    "{action:?} for {name}: expected allowed={expected}, got {got:?}"
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "matrix mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_denial_names_the_caller_and_what_was_needed() {
    let principals = principals();
    let (_, worker) = &principals[7];
    match authorize(worker, &Action::EraseWorker { agency: "A" }) {
        Err(DomainError::PermissionDenied(m)) => {
            assert!(m.starts_with("w1:"), "{m}");
            assert!(m.contains("province_admin"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_agency_admin_granting_a_province_wide_role_is_told_which_role() {
    let principals = principals();
    let (_, admin) = &principals[2];
    let roles = [Role::Worker, Role::Auditor];
    let err = authorize(
        admin,
        &Action::CreateAccount {
            agency: Some("A"),
            roles: &roles,
        },
    )
    .expect_err("auditor is province-wide");
    assert!(err.to_string().contains("auditor role"), "{err}");
}

#[test]
fn roles_round_trip_through_claim_names_and_the_api_enum() {
    for role in Role::ALL {
        assert_eq!(Role::parse(role.as_str()), Some(role));
        assert_eq!(Role::from_api(role.to_api() as i32), Ok(role));
    }
    assert_eq!(Role::parse("root"), None);
    assert!(
        matches!(Role::from_api(0), Err(DomainError::Invalid { field, .. }) if field == "roles")
    );
}
