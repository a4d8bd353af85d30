//! The web pages (landing page, staff sign-in and first-start setup, agent console, supervisor
//! page, accounts page, customer join page, auditor page), embedded in the binary from
//! `src/web/`. The app pages share one head (`layout.html`) around their own body. Debug
//! builds read the files from disk, so page edits show on reload without a rebuild.

use actix_web::{web, HttpResponse};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "src/web/"]
struct Assets;

/// The app's pages: path, name (the body is `{name}.html`, its script `{name}.js`), title.
/// Each is served inside `layout.html`, the head they share.
const APP_PAGES: [(&str, &str, &str); 7] = [
    ("/signin", "signin", "Sign in · vkyc"),
    ("/setup", "setup", "First start · vkyc"),
    ("/agent", "agent", "Agent console · vkyc"),
    ("/supervisor", "supervisor", "Supervisor · vkyc"),
    ("/admin", "admin", "Accounts · vkyc"),
    ("/join", "join", "Video verification call"),
    ("/audit", "audit", "KYC audit · vkyc"),
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| page("index.html")));
    for (path, name, title) in APP_PAGES {
        cfg.route(path, web::get().to(move || app_page(name, title)));
    }
    cfg.route(
        "/static/{name}",
        web::get().to(|name: web::Path<String>| asset(name.into_inner())),
    );
    cfg.route("/docs/api", web::get().to(|| page("reference.html")));
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
    Some(respond(
        content_type(name),
        Assets::get(name)?.data.into_owned(),
    ))
}

fn respond(content_type: &'static str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; connect-src 'self'; media-src 'self' blob: mediastream:; img-src 'self' data: blob:; style-src 'self'; frame-ancestors 'none'",
        ))
        .body(body)
}

async fn page(name: &'static str) -> HttpResponse {
    serve(name).unwrap_or_else(|| HttpResponse::NotFound().finish())
}

/// `layout.html` with the page's title, script and body filled in.
async fn app_page(name: &'static str, title: &'static str) -> HttpResponse {
    let text =
        |file: &str| Assets::get(file).and_then(|f| String::from_utf8(f.data.into_owned()).ok());
    let (Some(layout), Some(body)) = (text("layout.html"), text(&format!("{name}.html"))) else {
        return HttpResponse::NotFound().finish();
    };
    let html = layout
        .replace("{title}", title)
        .replace("{script}", &format!("{name}.js"))
        .replace("{body}", &body);
    respond(content_type("layout.html"), html.into_bytes())
}

async fn asset(name: String) -> Result<HttpResponse, crate::error::ApiError> {
    // Only plain file names: no paths, no pages under /static.
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.');
    ok.then(|| serve(&name))
        .flatten()
        .ok_or_else(|| crate::error::ApiError::not_found("not_found", "no such file"))
}

#[cfg(test)]
mod tests {
    use actix_web::{test, App};

    #[actix_web::test]
    async fn an_app_page_is_its_body_inside_the_shared_head() {
        let app = test::init_service(App::new().configure(super::routes)).await;
        for (path, name, title) in super::APP_PAGES {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status(), 200, "{path}");
            assert_eq!(
                res.headers().get("content-type").unwrap(),
                "text/html; charset=utf-8"
            );
            assert!(res
                .headers()
                .get("content-security-policy")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("default-src 'self';"));
            let html = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
            assert!(
                html.starts_with("<!doctype html>\n<html lang=\"en\">\n<head>\n"),
                "{path}"
            );
            assert!(
                html.contains(&format!("  <title>{title}</title>\n")),
                "{path}"
            );
            assert!(html.contains(&format!("<script type=\"module\" src=\"/static/{name}.js\"></script>\n</head>\n<body class=\"page-{name}\"")), "{path}");
            assert!(html.ends_with("</body>\n</html>\n"), "{path}");
            assert!(
                !html.contains("{title}") && !html.contains("{script}") && !html.contains("{body}"),
                "{path}"
            );
        }
    }
}
