//! The camera / microphone picker used by Go Live, the room pre-join screen and the in-call device menu.

use leptos::prelude::*;

/// A `<select>` of capture devices: `options` are `(deviceId, label)` pairs (empty: one disabled
/// "Default" entry), `selected` gets the chosen `deviceId`. `label` is the visible caption (e.g. "Camera"),
/// `name` the form field name.
#[component]
pub fn DevicePicker(
    label: &'static str,
    name: &'static str,
    options: RwSignal<Vec<(String, String)>>,
    selected: RwSignal<String>,
) -> impl IntoView {
    view! {
        <label>
            {label}
            <select name=name on:change=move |ev| selected.set(event_target_value(&ev))
                disabled=move || options.with(Vec::is_empty)>
                {move || {
                    let list = options.get();
                    if list.is_empty() {
                        view! { <option value="">"Default"</option> }.into_any()
                    } else {
                        list.into_iter()
                            .enumerate()
                            .map(|(i, (id, label))| {
                                let label = if label.is_empty() { format!("Device {}", i + 1) } else { label };
                                let chosen = selected.get_untracked() == id;
                                view! { <option value=id selected=chosen>{label}</option> }
                            })
                            .collect_view()
                            .into_any()
                    }
                }}
            </select>
        </label>
    }
}
