//! Where a worker may check in: named sites with a geofence. Several sites
//! per worker are normal (street crews move between parks).

use pantau_proto::{events::v1 as ev, identity::v1 as api};

use super::error::DomainError;
use super::values::parse_text;

/// A WGS84 point. Finite and in range, so geofence maths never sees NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    latitude: f64,
    longitude: f64,
}

impl Coordinates {
    /// Fields `latitude` and `longitude`.
    pub fn parse(latitude: f64, longitude: f64) -> Result<Coordinates, DomainError> {
        if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
            return Err(DomainError::invalid(
                "latitude",
                "must be between -90 and 90",
            ));
        }
        if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
            return Err(DomainError::invalid(
                "longitude",
                "must be between -180 and 180",
            ));
        }
        Ok(Coordinates {
            latitude,
            longitude,
        })
    }

    pub fn latitude(self) -> f64 {
        self.latitude
    }

    pub fn longitude(self) -> f64 {
        self.longitude
    }
}

/// A work site as requested, before the service gives it an id.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkSite {
    name: String,
    coordinates: Coordinates,
    radius_m: u32,
}

impl WorkSite {
    /// Below 10 m GPS noise alone fails honest workers; above 5 km the fence
    /// proves nothing.
    pub const RADIUS_M: std::ops::RangeInclusive<u32> = 10..=5000;

    /// Fields `name`, `latitude`, `longitude`, `radius_m`; see [`parse_sites`]
    /// for the `sites[i].` prefix.
    pub fn parse(
        name: &str,
        latitude: f64,
        longitude: f64,
        radius_m: u32,
    ) -> Result<WorkSite, DomainError> {
        let name = parse_text("name", name, 100)?;
        let coordinates = Coordinates::parse(latitude, longitude)?;
        if !Self::RADIUS_M.contains(&radius_m) {
            return Err(DomainError::invalid(
                "radius_m",
                format!(
                    "must be {}-{} metres",
                    Self::RADIUS_M.start(),
                    Self::RADIUS_M.end()
                ),
            ));
        }
        Ok(WorkSite {
            name,
            coordinates,
            radius_m,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn coordinates(&self) -> Coordinates {
        self.coordinates
    }

    pub fn radius_m(&self) -> u32 {
        self.radius_m
    }

    /// Attaches the id the adapter generated (ids are random, so not ours).
    pub fn with_id(self, site_id: impl Into<String>) -> AssignedSite {
        AssignedSite {
            site_id: site_id.into(),
            site: self,
        }
    }
}

/// A work site with its service-assigned id, ready to go into an event.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignedSite {
    pub site_id: String,
    pub site: WorkSite,
}

impl AssignedSite {
    pub fn to_event(&self) -> ev::WorkSite {
        ev::WorkSite {
            site_id: self.site_id.clone(),
            name: self.site.name.clone(),
            latitude: self.site.coordinates.latitude,
            longitude: self.site.coordinates.longitude,
            radius_m: self.site.radius_m,
        }
    }
}

/// Parses the `sites` of a request, naming errors `sites[i].field`.
pub fn parse_sites(sites: &[api::WorkSite]) -> Result<Vec<WorkSite>, DomainError> {
    sites
        .iter()
        .enumerate()
        .map(|(i, s)| {
            WorkSite::parse(&s.name, s.latitude, s.longitude, s.radius_m)
                .map_err(|e| e.nested_in(&format!("sites[{i}]")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_site(name: &str, lat: f64, lon: f64, radius_m: u32) -> api::WorkSite {
        api::WorkSite {
            name: name.into(),
            latitude: lat,
            longitude: lon,
            radius_m,
            site_id: String::new(),
        }
    }

    #[test]
    fn coordinates_at_the_edges_of_the_globe_are_accepted() {
        assert!(Coordinates::parse(90.0, 180.0).is_ok());
        assert!(Coordinates::parse(-90.0, -180.0).is_ok());
    }

    #[test]
    fn coordinates_out_of_range_or_not_finite_name_the_axis() {
        let field = |lat: f64, lon: f64| {
            Coordinates::parse(lat, lon)
                .expect_err("invalid")
                .field()
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(field(90.1, 0.0), "latitude");
        assert_eq!(field(f64::NAN, 0.0), "latitude");
        assert_eq!(field(0.0, -180.5), "longitude");
        assert_eq!(field(0.0, f64::INFINITY), "longitude");
    }

    #[test]
    fn a_site_radius_must_be_between_ten_metres_and_five_kilometres() {
        assert!(WorkSite::parse("Taman Suropati", -6.199, 106.832, 9).is_err());
        assert!(WorkSite::parse("Taman Suropati", -6.199, 106.832, 10).is_ok());
        assert!(WorkSite::parse("Taman Suropati", -6.199, 106.832, 5000).is_ok());
        assert!(WorkSite::parse("Taman Suropati", -6.199, 106.832, 5001).is_err());
    }

    #[test]
    fn a_site_name_is_trimmed_and_limited_to_one_hundred_characters() {
        let site = WorkSite::parse("  Taman Menteng ", -6.19, 106.83, 100).expect("ok");
        assert_eq!(site.name(), "Taman Menteng");
        assert!(WorkSite::parse(" ", -6.19, 106.83, 100).is_err());
        assert!(WorkSite::parse(&"a".repeat(101), -6.19, 106.83, 100).is_err());
    }

    #[test]
    fn errors_in_a_site_list_name_the_index_and_the_field() {
        let sites = [
            api_site("Kantor", -6.18, 106.82, 50),
            api_site("Taman", -6.19, 106.83, 3),
        ];
        let err = parse_sites(&sites).expect_err("second site");
        assert_eq!(err.field(), Some("sites[1].radius_m"));
        let sites = [api_site("Kantor", 95.0, 106.82, 50)];
        assert_eq!(
            parse_sites(&sites).expect_err("lat").field(),
            Some("sites[0].latitude")
        );
    }

    #[test]
    fn an_assigned_site_becomes_an_event_site_with_its_id() {
        let site = WorkSite::parse("Kantor", -6.18, 106.82, 50)
            .expect("ok")
            .with_id("site-1");
        let ev = site.to_event();
        assert_eq!(ev.site_id, "site-1");
        assert_eq!(ev.name, "Kantor");
        assert_eq!(ev.radius_m, 50);
        assert!((ev.latitude + 6.18).abs() < f64::EPSILON);
    }
}
