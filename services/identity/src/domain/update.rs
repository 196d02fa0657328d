//! Partial updates of a worker: which fields an update mask names and the new
//! values that go with them. Personal fields arrive already sealed because
//! the domain holds no keys.

use std::collections::BTreeSet;

use pantau_proto::events::v1 as ev;

use super::error::DomainError;
use super::site::AssignedSite;
use super::values::PersonName;

const FIELD: &str = "update_mask";

/// A field an `UpdateWorkerRequest.update_mask` may name. The NIK, kind and
/// agency are not here on purpose: they change by re-registration or transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UpdateField {
    Name,
    PhotoRef,
    Sites,
    Phone,
    Email,
    BankAccount,
    Address,
}

impl UpdateField {
    pub const ALL: [UpdateField; 7] = [
        UpdateField::Name,
        UpdateField::PhotoRef,
        UpdateField::Sites,
        UpdateField::Phone,
        UpdateField::Email,
        UpdateField::BankAccount,
        UpdateField::Address,
    ];

    /// The request field name, also written to `WorkerUpdated.changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateField::Name => "name",
            UpdateField::PhotoRef => "photo_ref",
            UpdateField::Sites => "sites",
            UpdateField::Phone => "phone",
            UpdateField::Email => "email",
            UpdateField::BankAccount => "bank_account",
            UpdateField::Address => "address",
        }
    }

    pub fn parse(s: &str) -> Option<UpdateField> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Personal fields live in the sealed `PersonalData`, so changing any of
    /// them means a freshly sealed blob and new fingerprints.
    pub fn is_personal(self) -> bool {
        matches!(
            self,
            UpdateField::Phone
                | UpdateField::Email
                | UpdateField::BankAccount
                | UpdateField::Address
        )
    }
}

/// A non-empty set of fields to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateMask(BTreeSet<UpdateField>);

impl UpdateMask {
    /// Field `update_mask` of `UpdateWorkerRequest`: at least one known
    /// field; repeats are harmless and collapse.
    pub fn parse(names: &[String]) -> Result<UpdateMask, DomainError> {
        let mask = Self::parse_any(names, |_| true)?;
        if mask.0.is_empty() {
            return Err(DomainError::invalid(FIELD, "must name at least one field"));
        }
        Ok(mask)
    }

    /// Field `update_mask` of `ReverifyWorkerRequest`: only personal fields,
    /// and empty means the worker confirmed without corrections (`None`).
    pub fn parse_corrections(names: &[String]) -> Result<Option<UpdateMask>, DomainError> {
        let mask = Self::parse_any(names, UpdateField::is_personal)?;
        Ok((!mask.0.is_empty()).then_some(mask))
    }

    fn parse_any(
        names: &[String],
        allowed: impl Fn(UpdateField) -> bool,
    ) -> Result<UpdateMask, DomainError> {
        let mut set = BTreeSet::new();
        for name in names {
            match UpdateField::parse(name) {
                Some(f) if allowed(f) => {
                    set.insert(f);
                }
                _ => {
                    let known: Vec<&str> = UpdateField::ALL
                        .into_iter()
                        .filter(|f| allowed(*f))
                        .map(UpdateField::as_str)
                        .collect();
                    return Err(DomainError::invalid(
                        FIELD,
                        format!("unknown field {name:?}; allowed: {}", known.join(", ")),
                    ));
                }
            }
        }
        Ok(UpdateMask(set))
    }

    pub fn contains(&self, f: UpdateField) -> bool {
        self.0.contains(&f)
    }

    pub fn has_personal(&self) -> bool {
        self.0.iter().any(|f| f.is_personal())
    }

    pub fn fields(&self) -> impl Iterator<Item = UpdateField> + '_ {
        self.0.iter().copied()
    }

    /// Field names in a stable order, for `WorkerUpdated.changed`.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|f| f.as_str().to_owned()).collect()
    }
}

/// Personal data after the adapter merged the change into the stored record,
/// sealed it with the worker's key and fingerprinted it.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedPersonalData {
    pub data: ev::EncryptedPersonalData,
    pub fingerprints: ev::Fingerprints,
}

/// The new values of an update; each named field of the mask has its value
/// and no other value is set, which [`WorkerUpdate::check`] enforces.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerUpdate {
    pub mask: UpdateMask,
    pub name: Option<PersonName>,
    pub photo_ref: Option<String>,
    pub sites: Option<Vec<AssignedSite>>,
    pub personal: Option<SealedPersonalData>,
}

impl WorkerUpdate {
    /// Refuses an update whose values and mask disagree, which would
    /// otherwise write an event claiming a change it does not carry.
    pub fn check(&self) -> Result<(), DomainError> {
        let pairs = [
            (UpdateField::Name, self.name.is_some()),
            (UpdateField::PhotoRef, self.photo_ref.is_some()),
            (UpdateField::Sites, self.sites.is_some()),
        ];
        for (field, has_value) in pairs {
            if self.mask.contains(field) != has_value {
                return Err(DomainError::invalid(
                    FIELD,
                    format!(
                        "{} must be named in the mask exactly when it is given",
                        field.as_str()
                    ),
                ));
            }
        }
        if self.mask.has_personal() != self.personal.is_some() {
            return Err(DomainError::invalid(
                FIELD,
                "sealed personal data must be given exactly when a personal field is named",
            ));
        }
        Ok(())
    }

    /// The `WorkerUpdated` event for `worker_id`.
    pub fn to_event(&self, worker_id: &str) -> ev::WorkerUpdated {
        ev::WorkerUpdated {
            worker_id: worker_id.to_owned(),
            changed: self.mask.names(),
            name: self
                .name
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            photo_ref: self.photo_ref.clone().unwrap_or_default(),
            sites: self
                .sites
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(AssignedSite::to_event)
                .collect(),
            personal: self.personal.as_ref().map(|p| p.data.clone()),
            fingerprints: self.personal.as_ref().map(|p| p.fingerprints.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_mask_lists_its_fields_once_in_a_stable_order() {
        let mask = UpdateMask::parse(&names(&["phone", "name", "phone"])).expect("ok");
        assert_eq!(mask.names(), names(&["name", "phone"]));
        assert!(mask.has_personal());
    }

    #[test]
    fn an_empty_or_unknown_mask_is_rejected_on_update_mask() {
        let err = UpdateMask::parse(&[]).expect_err("empty");
        assert_eq!(err.field(), Some("update_mask"));
        let err = UpdateMask::parse(&names(&["nik"])).expect_err("nik is not updatable");
        assert_eq!(err.field(), Some("update_mask"));
    }

    #[test]
    fn corrections_during_reverification_may_touch_only_personal_fields() {
        assert_eq!(UpdateMask::parse_corrections(&[]).expect("ok"), None);
        let mask = UpdateMask::parse_corrections(&names(&["email", "address"]))
            .expect("ok")
            .expect("some");
        // Declaration order, whatever order the client sent.
        assert_eq!(mask.names(), names(&["email", "address"]));
        assert!(UpdateMask::parse_corrections(&names(&["name"])).is_err());
    }

    #[test]
    fn an_update_whose_values_disagree_with_its_mask_is_rejected() {
        let mask = UpdateMask::parse(&names(&["name"])).expect("ok");
        let update = WorkerUpdate {
            mask,
            name: None,
            photo_ref: None,
            sites: None,
            personal: None,
        };
        assert_eq!(
            update.check().expect_err("no name").field(),
            Some("update_mask")
        );
    }

    #[test]
    fn a_personal_change_without_sealed_data_is_rejected() {
        let update = WorkerUpdate {
            mask: UpdateMask::parse(&names(&["phone"])).expect("ok"),
            name: None,
            photo_ref: None,
            sites: None,
            personal: None,
        };
        assert!(update.check().is_err());
    }
}
