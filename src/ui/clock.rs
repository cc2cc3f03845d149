//! Wall-clock helpers for live UI: a ticking "now" signal, human-readable durations, and (hydrate) a promise
//! that a browser callback or a timer resolves, for awaiting either.

use leptos::prelude::*;

/// Milliseconds since the Unix epoch, now (UTC).
pub fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    }
}

/// A signal with the current time in milliseconds since the Unix epoch, updated every `every_ms`
/// milliseconds in the browser (fixed during server rendering). The timer stops with the component.
pub fn use_now(every_ms: u64) -> ReadSignal<i64> {
    let (now, set_now) = signal(now_ms());
    #[cfg(feature = "hydrate")]
    {
        if let Ok(handle) =
            set_interval_with_handle(move || set_now.set(now_ms()), std::time::Duration::from_millis(every_ms))
        {
            on_cleanup(move || handle.clear());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (set_now, every_ms);
    now
}

/// A duration in milliseconds as people read it: "45 s", "12 min", "2 h 05 min". Negative counts as 0.
pub fn format_elapsed(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        _ => format!("{} h {:02} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// A count with its noun: "1 viewer", "3 viewers".
pub fn plural(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_is_readable() {
        assert_eq!(format_elapsed(-5), "0 s");
        assert_eq!(format_elapsed(45_999), "45 s");
        assert_eq!(format_elapsed(12 * 60_000 + 5), "12 min");
        assert_eq!(format_elapsed(2 * 3_600_000 + 5 * 60_000), "2 h 05 min");
        assert_eq!(plural(1, "viewer", "viewers"), "1 viewer");
        assert_eq!(plural(0, "viewer", "viewers"), "0 viewers");
    }
}

/// A promise and its `resolve` function, for awaiting a browser callback. Resolving twice is harmless.
#[cfg(feature = "hydrate")]
pub fn deferred() -> (js_sys::Promise, js_sys::Function) {
    let mut resolve = None;
    let promise = js_sys::Promise::new(&mut |res, _rej| resolve = Some(res));
    // The executor runs synchronously inside the constructor, so `resolve` is set here.
    (promise, resolve.unwrap_or_else(|| js_sys::Function::new_no_args("")))
}

/// Calls `resolve` after `ms` milliseconds (a timeout for a [`deferred`] promise).
#[cfg(feature = "hydrate")]
pub fn resolve_after(resolve: &js_sys::Function, ms: u32) {
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(resolve, ms.min(i32::MAX as u32) as i32);
    }
}
