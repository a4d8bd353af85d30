//! The web pages (customer join page, agent console), embedded in the binary from `src/web/`.
//! Debug builds read the files from disk, so page edits show on reload without a rebuild.

use actix_web::{web, HttpResponse};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "src/web/"]
struct Assets;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| page("index.html")))
        .route("/agent", web::get().to(|| page("agent.html")))
        .route("/join", web::get().to(|| page("join.html")))
        .route("/audit", web::get().to(|| page("audit.html")))
        .route("/docs/api", web::get().to(|| page("reference.html")))
        .route("/static/{name}", web::get().to(|name: web::Path<String>| asset(name.into_inner())));
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn serve(name: &str) -> Option<HttpResponse> {
    let file = Assets::get(name)?;
    Some(
        HttpResponse::Ok()
            .content_type(content_type(name))
            .insert_header(("Cache-Control", "no-cache"))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header((
                "Content-Security-Policy",
                "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob: mediastream:; img-src 'self' data: blob:; style-src 'self'; frame-ancestors 'none'",
            ))
            .body(file.data.into_owned()),
    )
}

async fn page(name: &'static str) -> HttpResponse {
    serve(name).unwrap_or_else(|| HttpResponse::NotFound().finish())
}

async fn asset(name: String) -> Result<HttpResponse, crate::error::ApiError> {
    // Only plain file names: no paths, no pages under /static.
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) && !name.starts_with('.');
    ok.then(|| serve(&name))
        .flatten()
        .ok_or_else(|| crate::error::ApiError::not_found("not_found", "no such file"))
}
