//! The dashboard's files, built into the binary (Leaflet included: the page
//! loads nothing from elsewhere but the map tiles, when a tile server is
//! configured), and the OpenAPI document of the JSON and CSV API.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

macro_rules! embedded {
    ($path:literal, $type:literal) => {
        get(|| async {
            (
                [
                    (header::CONTENT_TYPE, $type),
                    (header::CACHE_CONTROL, "public, max-age=300"),
                ],
                &include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path))[..],
            )
                .into_response()
        })
    };
}

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", embedded!("web/index.html", "text/html; charset=utf-8"))
        .route(
            "/assets/app.js",
            embedded!("web/app.js", "text/javascript; charset=utf-8"),
        )
        .route(
            "/assets/app.css",
            embedded!("web/app.css", "text/css; charset=utf-8"),
        )
        .route(
            "/assets/leaflet/leaflet.js",
            embedded!(
                "web/vendor/leaflet/leaflet.js",
                "text/javascript; charset=utf-8"
            ),
        )
        .route(
            "/assets/leaflet/leaflet.css",
            embedded!("web/vendor/leaflet/leaflet.css", "text/css; charset=utf-8"),
        )
        .route(
            "/assets/leaflet/LICENSE",
            embedded!("web/vendor/leaflet/LICENSE", "text/plain; charset=utf-8"),
        )
        .route(
            "/assets/leaflet/images/marker-icon.png",
            embedded!("web/vendor/leaflet/images/marker-icon.png", "image/png"),
        )
        .route(
            "/assets/leaflet/images/marker-icon-2x.png",
            embedded!("web/vendor/leaflet/images/marker-icon-2x.png", "image/png"),
        )
        .route(
            "/assets/leaflet/images/marker-shadow.png",
            embedded!("web/vendor/leaflet/images/marker-shadow.png", "image/png"),
        )
        .route(
            "/assets/leaflet/images/layers.png",
            embedded!("web/vendor/leaflet/images/layers.png", "image/png"),
        )
        .route(
            "/assets/leaflet/images/layers-2x.png",
            embedded!("web/vendor/leaflet/images/layers-2x.png", "image/png"),
        )
        .route(
            "/api/openapi.yaml",
            embedded!("openapi.yaml", "application/yaml; charset=utf-8"),
        )
}
