//! Contact and payment details. They are personal data (UU PDP): the adapter
//! seals them before they reach an event, and fingerprints the normalised
//! form, so normalising here is what makes duplicate detection work.

use super::error::DomainError;

/// An Indonesian phone number, normalised to `+62…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Field `phone`. Spaces and dashes are dropped, then the number must
    /// start with `+62`, `62` or `0` followed by 8-13 digits, the first of
    /// which is not `0`.
    pub fn parse(s: &str) -> Result<Phone, DomainError> {
        let compact: String = s.chars().filter(|c| *c != ' ' && *c != '-').collect();
        let national = compact
            .strip_prefix("+62")
            .or_else(|| compact.strip_prefix("62"))
            .or_else(|| compact.strip_prefix('0'))
            .ok_or_else(|| DomainError::invalid("phone", "must start with +62, 62 or 0"))?;
        if !national.chars().all(|c| c.is_ascii_digit()) {
            return Err(DomainError::invalid(
                "phone",
                "may contain only digits, spaces, dashes and a leading +",
            ));
        }
        if !(8..=13).contains(&national.len()) {
            return Err(DomainError::invalid(
                "phone",
                "must have 8-13 digits after the country or trunk prefix",
            ));
        }
        if national.starts_with('0') {
            // "+620…" or "00…" is a doubled prefix, never a real subscriber.
            return Err(DomainError::invalid(
                "phone",
                "has a doubled prefix (a 0 after +62)",
            ));
        }
        Ok(Phone(format!("+62{national}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address, lower-cased so `Budi@X.go.id` and `budi@x.go.id` are
/// recognised as one person.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Field `email`. Deliberately simple: one `@`, a non-empty local part,
    /// a domain with a dot, no spaces, at most 254 characters.
    pub fn parse(s: &str) -> Result<Email, DomainError> {
        let t = s.trim();
        let invalid = |reason: &str| DomainError::invalid("email", reason);
        if t.len() > 254 {
            return Err(invalid("must be at most 254 characters"));
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("must not contain spaces"));
        }
        let mut parts = t.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("must contain exactly one '@'"));
        };
        if local.is_empty() {
            return Err(invalid("must have a name before '@'"));
        }
        let labels_ok = domain.split('.').all(|label| !label.is_empty());
        if !domain.contains('.') || !labels_ok {
            return Err(invalid(
                "must have a domain such as example.go.id after '@'",
            ));
        }
        Ok(Email(t.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bank account number: 6-20 digits once spaces and dashes are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BankAccount(String);

impl BankAccount {
    /// Field `bank_account`.
    pub fn parse(s: &str) -> Result<BankAccount, DomainError> {
        let digits: String = s.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(DomainError::invalid(
                "bank_account",
                "may contain only digits, spaces and dashes",
            ));
        }
        if !(6..=20).contains(&digits.len()) {
            return Err(DomainError::invalid(
                "bank_account",
                "must have 6-20 digits",
            ));
        }
        Ok(BankAccount(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: DomainError) -> String {
        err.field().unwrap_or_default().to_owned()
    }

    #[test]
    fn every_indonesian_prefix_normalises_to_plus_six_two() {
        for raw in [
            "0812-3456-7890",
            "62 812 3456 7890",
            "+6281234567890",
            "081234567890",
        ] {
            assert_eq!(Phone::parse(raw).expect(raw).as_str(), "+6281234567890");
        }
    }

    #[test]
    fn a_phone_without_an_indonesian_prefix_is_rejected() {
        let err = Phone::parse("+6581234567").expect_err("singapore");
        assert_eq!(field_of(err), "phone");
        assert!(Phone::parse("812345678").is_err());
    }

    #[test]
    fn a_phone_with_too_few_or_too_many_digits_is_rejected() {
        // Counted after the prefix: 7, 8, 13 and 14 digits.
        assert!(Phone::parse("08123456").is_err());
        assert!(Phone::parse("081234567").is_ok());
        assert!(Phone::parse("08123456789012").is_ok());
        assert!(Phone::parse("081234567890123").is_err());
    }

    #[test]
    fn a_phone_with_letters_or_a_doubled_prefix_is_rejected() {
        assert!(Phone::parse("0812-ABC-7890").is_err());
        assert!(Phone::parse("+62081234567").is_err());
        assert!(Phone::parse("").is_err());
    }

    #[test]
    fn an_email_is_lower_cased() {
        assert_eq!(
            Email::parse("Budi.S@Jakarta.GO.ID").expect("ok").as_str(),
            "budi.s@jakarta.go.id"
        );
    }

    #[test]
    fn an_email_needs_exactly_one_at_and_a_dotted_domain() {
        for bad in [
            "budi",
            "budi@@x.id",
            "a@b@c.id",
            "@x.id",
            "budi@localhost",
            "budi@x.",
            "budi@.id",
            "bu di@x.id",
            "",
        ] {
            let err = Email::parse(bad).expect_err(bad);
            assert_eq!(field_of(err), "email", "{bad}");
        }
    }

    #[test]
    fn an_email_longer_than_254_characters_is_rejected() {
        let long = format!("{}@x.id", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
        let fits = format!("{}@x.id", "a".repeat(249));
        assert!(Email::parse(&fits).is_ok());
    }

    #[test]
    fn a_bank_account_keeps_only_its_digits() {
        assert_eq!(
            BankAccount::parse("123-456 789").expect("ok").as_str(),
            "123456789"
        );
    }

    #[test]
    fn a_bank_account_outside_six_to_twenty_digits_is_rejected() {
        assert!(BankAccount::parse("12345").is_err());
        assert!(BankAccount::parse("123456").is_ok());
        assert!(BankAccount::parse(&"1".repeat(21)).is_err());
        let err = BankAccount::parse("12345X789").expect_err("letter");
        assert_eq!(field_of(err), "bank_account");
    }
}
