//! Positions and geofences. Distances are great-circle (haversine) on a
//! spherical Earth: at the scale of a work site the error is centimetres.

use pantau_proto::events::v1 as ev;

use super::DomainError;

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Indonesia's extent with a margin for outlying islands and GPS noise:
/// Sabang to Merauke, Miangas to Rote.
const LAT_MIN: f64 = -11.5;
const LAT_MAX: f64 = 6.5;
const LON_MIN: f64 = 94.5;
const LON_MAX: f64 = 141.5;

/// A position inside Indonesia's bounding box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    /// Fields `<prefix>latitude` / `<prefix>longitude`.
    pub fn parse(lat: f64, lon: f64, prefix: &str) -> Result<Point, DomainError> {
        if !lat.is_finite() || !(LAT_MIN..=LAT_MAX).contains(&lat) {
            return Err(DomainError::invalid(
                format!("{prefix}latitude"),
                format!("{lat} is outside Indonesia ({LAT_MIN} to {LAT_MAX})"),
            ));
        }
        if !lon.is_finite() || !(LON_MIN..=LON_MAX).contains(&lon) {
            return Err(DomainError::invalid(
                format!("{prefix}longitude"),
                format!("{lon} is outside Indonesia ({LON_MIN} to {LON_MAX})"),
            ));
        }
        Ok(Point { lat, lon })
    }

    pub fn from_event(p: &ev::GeoPoint) -> Point {
        Point {
            lat: p.latitude,
            lon: p.longitude,
        }
    }

    pub fn to_event(self) -> ev::GeoPoint {
        ev::GeoPoint {
            latitude: self.lat,
            longitude: self.lon,
        }
    }

    /// Metres to `other`.
    pub fn distance_m(self, other: Point) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
    }
}

/// GPS accuracy (metres, 68% radius) as the phone reports it.
pub fn parse_accuracy(accuracy: f32, limit_m: f32, field: &str) -> Result<f32, DomainError> {
    if !accuracy.is_finite() || accuracy < 0.0 {
        return Err(DomainError::invalid(field, "must be a non-negative number"));
    }
    if accuracy > limit_m {
        return Err(DomainError::invalid(
            field,
            format!("{accuracy} m is worse than the {limit_m} m this deployment accepts"),
        ));
    }
    Ok(accuracy)
}

/// Where a session takes place.
#[derive(Debug, Clone, PartialEq)]
pub enum Geofence {
    Circle { center: Point, radius_m: u32 },
    Polygon(Vec<Point>),
}

/// Largest fence: a city square is a few hundred metres.
const MAX_RADIUS_M: u32 = 50_000;
const MAX_POLYGON_POINTS: usize = 200;

impl Geofence {
    /// Field `geofence`: a circle (center + radius_m) or a polygon of 3 to
    /// 200 points.
    pub fn parse(g: Option<&ev::Geofence>) -> Result<Geofence, DomainError> {
        let Some(g) = g else {
            return Err(DomainError::invalid("geofence", "is required"));
        };
        if !g.polygon.is_empty() {
            if g.polygon.len() < 3 || g.polygon.len() > MAX_POLYGON_POINTS {
                return Err(DomainError::invalid(
                    "geofence.polygon",
                    format!("needs 3 to {MAX_POLYGON_POINTS} points"),
                ));
            }
            let points = g
                .polygon
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    Point::parse(p.latitude, p.longitude, &format!("geofence.polygon[{i}]."))
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Geofence::Polygon(points));
        }
        let Some(c) = &g.center else {
            return Err(DomainError::invalid(
                "geofence.center",
                "give a center and radius_m, or a polygon",
            ));
        };
        let center = Point::parse(c.latitude, c.longitude, "geofence.center.")?;
        if g.radius_m == 0 || g.radius_m > MAX_RADIUS_M {
            return Err(DomainError::invalid(
                "geofence.radius_m",
                format!("must be 1 to {MAX_RADIUS_M} metres"),
            ));
        }
        Ok(Geofence::Circle {
            center,
            radius_m: g.radius_m,
        })
    }

    /// Reads a fence already validated when its event was written.
    pub fn from_event(g: &ev::Geofence) -> Geofence {
        if g.polygon.len() >= 3 {
            Geofence::Polygon(g.polygon.iter().map(Point::from_event).collect())
        } else {
            Geofence::Circle {
                center: g
                    .center
                    .as_ref()
                    .map(Point::from_event)
                    .unwrap_or(Point { lat: 0.0, lon: 0.0 }),
                radius_m: g.radius_m,
            }
        }
    }

    pub fn to_event(&self) -> ev::Geofence {
        match self {
            Geofence::Circle { center, radius_m } => ev::Geofence {
                center: Some(center.to_event()),
                radius_m: *radius_m,
                polygon: Vec::new(),
            },
            Geofence::Polygon(points) => ev::Geofence {
                center: None,
                radius_m: 0,
                polygon: points.iter().map(|p| p.to_event()).collect(),
            },
        }
    }

    /// Whether a position reported with `accuracy_m` may be inside. A circle
    /// forgives up to 50 m of reported inaccuracy (a phone among a crowd in
    /// a square); a polygon is drawn by hand and taken as drawn.
    pub fn contains(&self, p: Point, accuracy_m: f32) -> bool {
        match self {
            Geofence::Circle { center, radius_m } => {
                let slack = f64::from(accuracy_m.clamp(0.0, 50.0));
                center.distance_m(p) <= f64::from(*radius_m) + slack
            }
            Geofence::Polygon(points) => point_in_polygon(p, points),
        }
    }
}

/// Ray casting on the lat/lon plane, fine for fences a few km across that do
/// not straddle the antimeridian (Indonesia does not).
fn point_in_polygon(p: Point, poly: &[Point]) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        if (a.lat > p.lat) != (b.lat > p.lat) {
            let x = (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon;
            if p.lon < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(lat: f64, lon: f64) -> Point {
        Point { lat, lon }
    }

    #[test]
    fn coordinates_outside_indonesia_name_the_field() {
        let err = Point::parse(51.5, -0.12, "").unwrap_err();
        assert_eq!(err.field(), Some("latitude"));
        let err = Point::parse(-1.0, 150.0, "scans[2].").unwrap_err();
        assert_eq!(err.field(), Some("scans[2].longitude"));
        assert!(Point::parse(f64::NAN, 120.0, "").is_err());
        assert!(Point::parse(-0.5022, 117.1536, "").is_ok());
    }

    #[test]
    fn distances_match_known_values() {
        // One degree of latitude is about 111.2 km.
        let d = pt(0.0, 117.0).distance_m(pt(1.0, 117.0));
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
        assert_eq!(pt(-0.5, 117.1).distance_m(pt(-0.5, 117.1)), 0.0);
    }

    #[test]
    fn a_circle_forgives_at_most_fifty_metres_of_inaccuracy() {
        let fence = Geofence::Circle {
            center: pt(-0.5, 117.15),
            radius_m: 100,
        };
        let north = |m: f64| pt(-0.5 + m / 111_195.0, 117.15);
        assert!(!fence.contains(north(130.0), 0.0));
        assert!(fence.contains(north(130.0), 45.0));
        // A phone claiming 500 m of inaccuracy gets no more than 50 m.
        assert!(!fence.contains(north(170.0), 500.0));
    }

    #[test]
    fn a_polygon_contains_its_inside_and_not_its_outside() {
        let square = Geofence::Polygon(vec![
            pt(-0.50, 117.10),
            pt(-0.50, 117.20),
            pt(-0.40, 117.20),
            pt(-0.40, 117.10),
        ]);
        assert!(square.contains(pt(-0.45, 117.15), 0.0));
        assert!(!square.contains(pt(-0.35, 117.15), 0.0));
        assert!(!square.contains(pt(-0.45, 117.25), 0.0));
    }

    #[test]
    fn fences_are_validated_field_by_field() {
        assert_eq!(Geofence::parse(None).unwrap_err().field(), Some("geofence"));
        let two = ev::Geofence {
            polygon: vec![ev::GeoPoint::default(); 2],
            ..Default::default()
        };
        assert_eq!(
            Geofence::parse(Some(&two)).unwrap_err().field(),
            Some("geofence.polygon")
        );
        let no_radius = ev::Geofence {
            center: Some(ev::GeoPoint {
                latitude: -0.5,
                longitude: 117.1,
            }),
            ..Default::default()
        };
        assert_eq!(
            Geofence::parse(Some(&no_radius)).unwrap_err().field(),
            Some("geofence.radius_m")
        );
    }

    #[test]
    fn accuracy_beyond_the_limit_is_refused() {
        assert!(parse_accuracy(20.0, 100.0, "accuracy_m").is_ok());
        assert_eq!(
            parse_accuracy(250.0, 100.0, "accuracy_m")
                .unwrap_err()
                .field(),
            Some("accuracy_m")
        );
        assert!(parse_accuracy(f32::NAN, 100.0, "accuracy_m").is_err());
    }
}
