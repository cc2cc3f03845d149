//! `/sell/products`: the signed-in seller's catalog. A form adds a product (name, description, image,
//! price, stock); each product in the list can be edited in place or deleted after a confirmation.
//! Validation messages from the server appear under the field they belong to.

#[cfg(feature = "hydrate")]
mod upload;

use crate::auth::components::use_auth;
use crate::commerce::catalog::{
    image_id_of, image_url, my_products, CreateProduct, DeleteProduct, ImageId, UpdateProduct, IMAGE_TYPES,
    MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS,
};
use crate::commerce::{format_money, Product};
use crate::error::AppError;
use crate::ids::ProductId;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// The form fields a validation error can name.
const FIELDS: [&str; 5] = ["name", "description", "price", "stock", "image"];

/// "5 in stock", or "Out of stock".
pub fn stock_label(stock: i32) -> String {
    if stock <= 0 {
        "Out of stock".into()
    } else {
        format!("{stock} in stock")
    }
}

/// Cents as a form shows them for editing: `1234.50` (no sign, no grouping, no currency).
fn plain_money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A product's image, or a neutral placeholder when it has none.
fn thumb(url: Option<String>) -> AnyView {
    match url {
        Some(url) => {
            view! { <img class="catalog-thumb" src=url alt="" loading="lazy" width="96" height="96"/> }.into_any()
        }
        None => view! {
            <div class="catalog-thumb catalog-placeholder" aria-hidden="true" data-testid="image-placeholder">
                <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.5"
                    stroke-linecap="round" stroke-linejoin="round">
                    <rect x="3" y="4" width="18" height="16" rx="2"/>
                    <circle cx="9" cy="10" r="2"/>
                    <path d="M21 17l-5-5-9 8"/>
                </svg>
            </div>
        }
        .into_any(),
    }
}

/// `/sell/products`.
#[component]
pub fn MyProductsPage() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Title text="My products"/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                auth.user.get().map(|u| match u.ok().flatten() {
                    Some(_) => view! { <Catalog/> }.into_any(),
                    None => view! {
                        <section class="card narrow">
                            <h1>"My products"</h1>
                            <p>"Log in to add and manage the products you sell."</p>
                            <A href="/login?next=/sell/products" attr:class="btn">"Log in"</A>
                        </section>
                    }
                    .into_any(),
                })
            }}
        </Transition>
    }
}

#[component]
fn Catalog() -> impl IntoView {
    let create = ServerAction::<CreateProduct>::new();
    let update = ServerAction::<UpdateProduct>::new();
    let delete = ServerAction::<DeleteProduct>::new();
    let products = Resource::new(
        move || (create.version().get(), update.version().get(), delete.version().get()),
        |_| my_products(),
    );
    // Which product is open for editing, and which one asks "Delete?".
    let editing = RwSignal::new(None::<ProductId>);
    let confirming = RwSignal::new(None::<ProductId>);
    // Bumped after each product added, so the add form starts empty again.
    let added = RwSignal::new(0u32);

    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            added.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = update.value().get() {
            editing.set(None);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            confirming.set(None);
        }
    });

    let create_errors = Signal::derive(move || create.value().get().and_then(Result::err));
    let update_errors = Signal::derive(move || update.value().get().and_then(Result::err));
    let rows = RowActions { update, delete, editing, confirming, update_errors };

    view! {
        <div class="page-head"><h1>"My products"</h1></div>
        <div class="catalog">
            <section class="card catalog-add" data-testid="add-product" aria-labelledby="add-product-title">
                <h2 id="add-product-title">"Add a product"</h2>
                // Keyed by `added`, so a fresh (empty) form replaces the old one after each product added.
                <For each=move || std::iter::once(added.get()) key=|n| *n children=move |_| view! {
                    <ActionForm action=create attr:class="form">
                        <ProductFields prefix="new".into() initial=None errors=create_errors
                            submit_label="Add product" pending=create.pending().into()/>
                    </ActionForm>
                }/>
                {move || create.value().get().and_then(Result::ok).map(|p| view! {
                    <p class="form-ok" role="status">"Added “" {p.name} "” to your catalog."</p>
                })}
            </section>
            <section class="catalog-list" aria-labelledby="catalog-list-title">
                <h2 id="catalog-list-title">"Your products"</h2>
                <Transition fallback=|| view! { <p class="muted">"Loading your products…"</p> }>
                    {move || Suspend::new(async move {
                        match products.await {
                            Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                            Ok(list) if list.is_empty() => view! {
                                <div class="card empty" data-testid="catalog-empty">
                                    <p class="muted">"No products yet. Add your first one with the form."</p>
                                </div>
                            }
                            .into_any(),
                            Ok(list) => view! {
                                <ul class="catalog-items" data-testid="product-list">
                                    {list.into_iter().map(|p| view! { <ProductItem product=p rows=rows/> }).collect_view()}
                                </ul>
                            }
                            .into_any(),
                        }
                    })}
                </Transition>
            </section>
        </div>
    }
}

/// What each row of the list shares: the update and delete actions and which row is in which state.
#[derive(Clone, Copy)]
struct RowActions {
    update: ServerAction<UpdateProduct>,
    delete: ServerAction<DeleteProduct>,
    editing: RwSignal<Option<ProductId>>,
    confirming: RwSignal<Option<ProductId>>,
    update_errors: Signal<Option<AppError>>,
}

#[component]
fn ProductItem(product: Product, rows: RowActions) -> impl IntoView {
    let id = product.id;
    let RowActions { update, delete, editing, confirming, update_errors } = rows;
    let start_edit = move |_| {
        update.clear();
        confirming.set(None);
        editing.set(Some(id));
    };
    let ask_delete = move |_| {
        delete.clear();
        confirming.set(Some(id));
    };
    let deleting = delete.pending();
    let name = product.name.clone();

    view! {
        <li class="card catalog-item" data-testid="product" data-product-id=id.to_string()>
            {move || {
                let p = product.clone();
                if editing.get() == Some(id) {
                    view! {
                        <ActionForm action=update attr:class="form catalog-edit">
                            <input type="hidden" name="id" value=id.to_string()/>
                            <ProductFields prefix=id.to_string() initial=Some(p) errors=update_errors
                                submit_label="Save changes" pending=update.pending().into()
                                on_cancel=Callback::new(move |()| editing.set(None))/>
                        </ActionForm>
                    }
                    .into_any()
                } else {
                    let label = p.name.clone();
                    view! {
                        {thumb(p.image_url.clone())}
                        <div class="catalog-info">
                            <h3 class="catalog-name" data-testid="product-name">{p.name}</h3>
                            <p class="catalog-meta">
                                <span class="catalog-price" data-testid="product-price">{format_money(p.list_price_cents)}</span>
                                <span class="catalog-stock" class:catalog-out={p.stock == 0} data-testid="product-stock">
                                    {stock_label(p.stock)}
                                </span>
                            </p>
                            {(!p.description.is_empty()).then(|| view! { <p class="catalog-desc">{p.description}</p> })}
                        </div>
                        <div class="catalog-actions">
                            <button type="button" class="btn btn-ghost" on:click=start_edit
                                aria-label=format!("Edit {label}")>"Edit"</button>
                            <button type="button" class="btn btn-ghost" on:click=ask_delete
                                aria-label=format!("Delete {label}")>"Delete"</button>
                        </div>
                    }
                    .into_any()
                }
            }}
            {move || (confirming.get() == Some(id)).then(|| {
                let name = name.clone();
                view! {
                    <div class="catalog-confirm" role="group" aria-label="Confirm delete">
                        <p>"Delete “" {name} "” for good?"</p>
                        <button type="button" class="btn btn-danger" disabled=move || deleting.get()
                            on:click=move |_| { delete.dispatch(DeleteProduct { id }); }>
                            "Yes, delete"
                        </button>
                        <button type="button" class="btn btn-ghost" on:click=move |_| confirming.set(None)>"Keep it"</button>
                        {move || delete.value().get().and_then(Result::err).map(|e| view! {
                            <p class="form-error" role="alert">{e.to_string()}</p>
                        })}
                    </div>
                }
            })}
        </li>
    }
}

/// Where an image upload stands.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Clone, Debug, PartialEq)]
enum UploadState {
    Idle,
    Uploading,
    Failed(String),
}

/// The product form's fields and buttons (inside an `ActionForm`). `prefix` keeps element ids unique
/// when several forms are on the page.
#[component]
fn ProductFields(
    prefix: String,
    initial: Option<Product>,
    errors: Signal<Option<AppError>>,
    submit_label: &'static str,
    pending: Signal<bool>,
    #[prop(optional)] on_cancel: Option<Callback<()>>,
) -> impl IntoView {
    let initial_image = initial.as_ref().and_then(image_id_of);
    let (name, description, price, stock) = match &initial {
        Some(p) => (p.name.clone(), p.description.clone(), plain_money(p.list_price_cents), p.stock.to_string()),
        None => Default::default(),
    };
    let image = RwSignal::new(initial_image);
    let upload_state = RwSignal::new(UploadState::Idle);
    // Counts file choices, so that only the latest upload's answer is used.
    let choice = RwSignal::new(0u32);
    let file_input = NodeRef::<leptos::html::Input>::new();

    let id = move |field: &str| format!("product-{prefix}-{field}");
    let error_of = move |field: &'static str| errors.get().filter(|e| e.field() == Some(field)).map(|e| e.to_string());
    let field_error = move |field: &'static str| {
        move || error_of(field).map(|msg| view! { <p class="field-error" role="alert">{msg}</p> })
    };
    let invalid = move |field: &'static str| move || error_of(field).is_some().then_some("true");
    let form_error = move || {
        errors
            .get()
            .filter(|e| !e.field().is_some_and(|f| FIELDS.contains(&f)))
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    };

    let on_file = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            let Some(file) = upload::chosen_file(&ev) else { return };
            choice.update(|n| *n += 1);
            let mine = choice.get_untracked();
            upload_state.set(UploadState::Uploading);
            leptos::task::spawn_local(async move {
                let result = upload::upload(&file).await;
                // Another file was chosen meanwhile, or the form is gone (saved or cancelled).
                if choice.try_get_untracked() != Some(mine) {
                    return;
                }
                match result {
                    Ok(uploaded) => {
                        image.try_set(Some(uploaded.id));
                        upload_state.try_set(UploadState::Idle);
                    }
                    Err(e) => {
                        upload_state.try_set(UploadState::Failed(e.to_string()));
                        if let Some(input) = file_input.get_untracked() {
                            input.set_value("");
                        }
                    }
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let remove_image = move |_| {
        choice.update(|n| *n += 1);
        image.set(None);
        upload_state.set(UploadState::Idle);
        if let Some(input) = file_input.get_untracked() {
            input.set_value("");
        }
    };
    let uploading = move || upload_state.get() == UploadState::Uploading;
    let image_value = move || image.get().map(|i| i.to_string()).unwrap_or_default();
    let accept = IMAGE_TYPES.join(",");

    view! {
        <div class="field">
            <label for=id("name")>"Name"</label>
            <input id=id("name") name="name" value=name required maxlength=MAX_NAME_CHARS.to_string()
                autocomplete="off" aria-invalid=invalid("name")/>
            {field_error("name")}
        </div>
        <div class="field">
            <label for=id("description")>"Description"</label>
            <textarea id=id("description") name="description" rows="3" maxlength=MAX_DESCRIPTION_CHARS.to_string()
                aria-invalid=invalid("description")>{description}</textarea>
            {field_error("description")}
        </div>
        <div class="field-row">
            <div class="field">
                <label for=id("price")>"Price"</label>
                <input id=id("price") name="price" value=price required inputmode="decimal" autocomplete="off"
                    placeholder="12.50" aria-invalid=invalid("price") aria-describedby=id("price-hint")/>
                <small class="hint" id=id("price-hint")>"In dollars, like 12.50"</small>
                {field_error("price")}
            </div>
            <div class="field">
                <label for=id("stock")>"Stock"</label>
                <input id=id("stock") name="stock" value=stock required type="number" min="0" step="1"
                    inputmode="numeric" placeholder="5" aria-invalid=invalid("stock") aria-describedby=id("stock-hint")/>
                <small class="hint" id=id("stock-hint")>"Units you can ship"</small>
                {field_error("stock")}
            </div>
        </div>
        <div class="field">
            <label for=id("image")>"Image"</label>
            <div class="image-picker">
                {move || thumb(image.get().map(image_url))}
                <div class="image-picker-controls">
                    <input id=id("image") type="file" accept=accept node_ref=file_input on:change=on_file
                        aria-invalid=invalid("image") aria-describedby=id("image-hint")/>
                    <small class="hint" id=id("image-hint")>"PNG, JPEG, WebP or GIF, up to 2 MB. Optional."</small>
                    {move || image.get().is_some().then(|| view! {
                        <button type="button" class="btn btn-ghost btn-small" on:click=remove_image>"Remove image"</button>
                    })}
                </div>
            </div>
            <input type="hidden" name="image" value=initial_image.map(|i: ImageId| i.to_string()).unwrap_or_default()
                prop:value=image_value/>
            {move || match upload_state.get() {
                UploadState::Idle => None,
                UploadState::Uploading => Some(view! { <p class="hint" role="status">"Uploading image…"</p> }.into_any()),
                UploadState::Failed(msg) => Some(view! { <p class="field-error" role="alert">{msg}</p> }.into_any()),
            }}
            {field_error("image")}
        </div>
        {form_error}
        <div class="form-actions">
            <button type="submit" class="btn" disabled=move || pending.get() || uploading()>{submit_label}</button>
            {on_cancel.map(|cancel| view! {
                <button type="button" class="btn btn-ghost" on:click=move |_| cancel.run(())>"Cancel"</button>
            })}
        </div>
    }
}
