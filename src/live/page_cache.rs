//! A sub-second cache of the server-rendered `/live` listing page for signed-out visitors: the whole
//! response (status, headers, HTML) is kept for [`PAGE_CACHE_TTL`] and dropped at once when a stream goes
//! live or ends, so a burst of anonymous visitors costs one render instead of one each.

use crate::server::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a rendered page is served from the cache at most, in milliseconds' worth of `Duration`. Viewer
/// counts on the page may be this much older than the hub's (the page then follows `listings:live` live);
/// the set of streams is never stale, because going live and ending clear the cache.
pub const PAGE_CACHE_TTL: Duration = Duration::from_millis(500);

/// At most this many distinct URLs (`/live` and `/live?category=…`) are kept; the cache is emptied when a
/// new one would exceed it, so made-up query strings cannot grow it.
pub const PAGE_CACHE_MAX_ENTRIES: usize = 32;

/// A rendered page larger than this (bytes) is served but not cached.
pub const PAGE_CACHE_MAX_BODY: usize = 1 << 20;

/// The name of the session cookie: a request that carries it may be signed in and is never served from,
/// nor stored in, the cache.
const SESSION_COOKIE: &str = "onair_session";

/// Cached responses keyed by path and query.
#[derive(Default)]
pub struct PageCache {
    entries: Mutex<HashMap<String, CachedPage>>,
}

#[derive(Clone)]
struct CachedPage {
    /// The listing generation ([`crate::live::service::LiveState::listing_generation`]) it was rendered at.
    generation: u64,
    at: Instant,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl CachedPage {
    fn response(self) -> Response {
        let mut res = Response::new(Body::from(self.body));
        *res.status_mut() = self.status;
        *res.headers_mut() = self.headers;
        res
    }
}

impl PageCache {
    fn get(&self, key: &str, generation: u64) -> Option<CachedPage> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|p| p.generation == generation && p.at.elapsed() < PAGE_CACHE_TTL).cloned()
    }

    fn put(&self, key: String, page: CachedPage) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= PAGE_CACHE_MAX_ENTRIES && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, page);
    }
}

/// The cache key of a request this cache may answer: `GET /live` (any query of at most 128 bytes) without a
/// session cookie. `None` for everything else.
pub fn cache_key(method: &Method, uri: &axum::http::Uri, headers: &HeaderMap) -> Option<String> {
    if method != Method::GET || uri.path() != "/live" {
        return None;
    }
    let has_session = headers
        .get_all(header::COOKIE)
        .iter()
        .any(|v| v.to_str().map_or(true, |s| s.split(';').any(|c| c.trim_start().starts_with(SESSION_COOKIE))));
    if has_session {
        return None;
    }
    match uri.query() {
        None => Some("/live".to_owned()),
        Some(q) if q.len() <= 128 => Some(format!("/live?{q}")),
        Some(_) => None,
    }
}

/// Axum middleware (outermost, in front of the session layer): answers signed-out `GET /live` from the cache
/// when a page rendered at the current listing generation is younger than [`PAGE_CACHE_TTL`]; otherwise
/// renders it and keeps a `200 text/html` response that sets no cookie.
pub async fn serve_cached(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(key) = cache_key(req.method(), req.uri(), req.headers()) else {
        return next.run(req).await;
    };
    let generation = state.live.listing_generation();
    if let Some(page) = state.live_page_cache.get(&key, generation) {
        return page.response();
    }
    let res = next.run(req).await;
    let cacheable = res.status() == StatusCode::OK
        && !res.headers().contains_key(header::SET_COOKIE)
        && res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
    if !cacheable {
        return res;
    }
    let (parts, body) = res.into_parts();
    let body = match axum::body::to_bytes(body, PAGE_CACHE_MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            // Too large or the render failed half-way: the bytes are gone, so say so rather than send half a page.
            tracing::warn!(%e, "could not buffer the /live page");
            return Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .body(Body::from("The page could not be rendered. Please reload."))
                .unwrap_or_default();
        }
    };
    let page = CachedPage { generation, at: Instant::now(), status: parts.status, headers: parts.headers, body };
    // A stream that went live or ended during the render bumped the generation: keep nothing then.
    if state.live.listing_generation() == generation {
        state.live_page_cache.put(key, page.clone());
    }
    page.response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, Uri};

    fn key(method: Method, uri: &str, cookie: Option<&str>) -> Option<String> {
        let mut headers = HeaderMap::new();
        if let Some(c) = cookie {
            headers.insert(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        cache_key(&method, &uri.parse::<Uri>().unwrap(), &headers)
    }

    #[test]
    fn only_signed_out_gets_of_the_listing_are_cached() {
        assert_eq!(key(Method::GET, "/live", None).as_deref(), Some("/live"));
        assert_eq!(key(Method::GET, "/live?category=home", None).as_deref(), Some("/live?category=home"));
        assert_eq!(key(Method::GET, "/live", Some("theme=dark")).as_deref(), Some("/live"));
        assert_eq!(key(Method::GET, "/live", Some("theme=dark; onair_session=abc")), None);
        assert_eq!(key(Method::GET, "/live", Some("onair_session=abc")), None);
        assert_eq!(key(Method::HEAD, "/live", None), None);
        assert_eq!(key(Method::POST, "/live", None), None);
        assert_eq!(key(Method::GET, "/live/3", None), None);
        assert_eq!(key(Method::GET, "/", None), None);
        let long = format!("/live?category={}", "x".repeat(200));
        assert_eq!(key(Method::GET, &long, None), None);
    }

    fn page(generation: u64) -> CachedPage {
        CachedPage {
            generation,
            at: Instant::now(),
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"<html></html>"),
        }
    }

    #[test]
    fn a_page_from_another_generation_is_not_served_and_the_cache_stays_bounded() {
        let cache = PageCache::default();
        cache.put("/live".into(), page(3));
        assert!(cache.get("/live", 3).is_some());
        assert!(cache.get("/live", 4).is_none());
        assert!(cache.get("/live?category=home", 3).is_none());
        for i in 0..(PAGE_CACHE_MAX_ENTRIES * 3) {
            cache.put(format!("/live?category={i}"), page(3));
            assert!(cache.entries.lock().unwrap().len() <= PAGE_CACHE_MAX_ENTRIES);
        }
    }

    #[test]
    fn a_page_older_than_the_ttl_is_not_served() {
        let cache = PageCache::default();
        let mut old = page(1);
        old.at = Instant::now() - PAGE_CACHE_TTL - Duration::from_millis(1);
        cache.put("/live".into(), old);
        assert!(cache.get("/live", 1).is_none());
    }
}
