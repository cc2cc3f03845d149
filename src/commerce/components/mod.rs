//! Commerce views: the featured-products shelf with Buy now (shoppers), the seller's shop panel (feature
//! products, orders and revenue, live), and "My orders".

use crate::commerce::catalog::my_products;
use crate::commerce::{
    featured_products, format_money, my_orders, stream_orders, BuyNow, FeatureProduct, FeaturedProduct, OrderView,
    UnfeatureProduct,
};
use crate::error::AppError;
use crate::ids::{ProductId, StreamId};
use crate::ui::clock::{format_elapsed, use_now};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// Featured products in `stream`, kept current from `/ws` events (`featured_changed`, `stock_changed`).
fn use_featured(
    stream: StreamId,
) -> (Resource<Result<Vec<FeaturedProduct>, AppError>>, RwSignal<Vec<FeaturedProduct>>) {
    let loaded = Resource::new(move || stream, featured_products);
    let items = RwSignal::new(Vec::<FeaturedProduct>::new());
    #[cfg(feature = "hydrate")]
    {
        use crate::signaling::client::{self, ClientEvent};
        use crate::signaling::protocol::ServerMsg;
        client::subscribe_scoped(move |event| match event {
            ClientEvent::Msg(ServerMsg::FeaturedChanged { stream: s, products }) if *s == stream => {
                items.set(products.clone())
            }
            ClientEvent::Msg(ServerMsg::StockChanged { stream: s, product, stock }) if *s == stream => {
                items.update(|l| {
                    if let Some(p) = l.iter_mut().find(|p| p.product == *product) {
                        p.stock = *stock;
                    }
                })
            }
            _ => {}
        });
    }
    (loaded, items)
}

fn placeholder_or_image(image_url: Option<String>, name: String) -> impl IntoView {
    match image_url {
        Some(url) => view! { <img class="product-image" src=url alt=name loading="lazy"/> }.into_any(),
        None => view! { <div class="product-image placeholder" aria-hidden="true">"🛍"</div> }.into_any(),
    }
}

/// Shoppers' shelf of featured products with Buy now.
#[component]
pub fn FeaturedShelf(stream: StreamId) -> impl IntoView {
    let (loaded, items) = use_featured(stream);
    view! {
        <section class="card shelf" aria-label="Featured products">
            <h2>"Featured"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading products…"</p> }>
                {move || Suspend::new(async move {
                    items.set(loaded.await.unwrap_or_default());
                    view! {
                        <Show when=move || !items.with(Vec::is_empty)
                            fallback=|| view! { <p class="muted" data-testid="no-featured">"The seller has not featured any products yet."</p> }>
                            <ul class="featured-list">
                                <For each=move || items.get() key=|p| p.product let:p>
                                    <FeaturedCard stream=stream product=p.product items=items/>
                                </For>
                            </ul>
                        </Show>
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn FeaturedCard(stream: StreamId, product: ProductId, items: RwSignal<Vec<FeaturedProduct>>) -> impl IntoView {
    let item = Memo::new(move |_| items.with(|l| l.iter().find(|p| p.product == product).cloned()));
    let now = use_now(1000);
    let quantity = RwSignal::new(1i32);
    let buy = ServerAction::<BuyNow>::new();
    // One idempotency key per purchase attempt: a retry after a network error reuses it.
    let key = StoredValue::new(None::<uuid::Uuid>);
    let pending = buy.pending();
    let sale_over = move || item.get().and_then(|p| p.ends_at_ms).is_some_and(|end| end <= now.get());
    let max_qty =
        move || item.get().map(|p| p.stock.min(p.per_buyer_limit.unwrap_or(i32::MAX)).clamp(0, 20)).unwrap_or(0);
    Effect::new(move |_| match buy.value().get() {
        Some(Ok(_)) => {
            key.set_value(None);
            quantity.set(1);
        }
        Some(Err(AppError::Network(_))) | None => {}
        Some(Err(_)) => key.set_value(None),
    });
    let on_buy = move |_| {
        let k = key.get_value().unwrap_or_else(new_key);
        key.set_value(Some(k));
        buy.dispatch(BuyNow { stream, product, quantity: quantity.get_untracked(), idempotency_key: k });
    };

    move || {
        item.get().map(|p| {
            let name = p.name.clone();
            view! {
                <li class="featured-card" data-testid="featured-product" data-product-id=p.product.to_string()>
                    {placeholder_or_image(p.image_url.clone(), p.name.clone())}
                    <div class="featured-body">
                        <h3 class="product-name">{name.clone()}</h3>
                        <p class="prices">
                            <s class="list-price" data-testid="list-price" aria-label="List price">{format_money(p.list_price_cents)}</s>
                            " "
                            <strong class="special-price" data-testid="special-price">{format_money(p.special_price_cents)}</strong>
                        </p>
                        <p class="stock" data-testid="stock">
                            {if p.stock > 0 { format!("{} left", p.stock) } else { "Sold out".to_string() }}
                        </p>
                        {p.ends_at_ms.map(|end| view! {
                            <p class="countdown" data-testid="countdown">
                                {move || if end > now.get() { format!("Ends in {}", format_elapsed(end - now.get())) } else { "Sale ended".into() }}
                            </p>
                        })}
                        {p.per_buyer_limit.map(|l| view! { <p class="muted">"Limit " {l} " per buyer"</p> })}
                        <div class="buy-row">
                            <label class="qty">
                                "Quantity"
                                <input type="number" min="1" max=move || max_qty().max(1).to_string()
                                    prop:value=move || quantity.get().to_string()
                                    on:input=move |ev| quantity.set(event_target_value(&ev).parse().unwrap_or(1))/>
                            </label>
                            <button type="button" class="btn" on:click=on_buy
                                disabled=move || pending.get() || max_qty() == 0 || sale_over()
                                aria-label=format!("Buy {name} now")>
                                {move || if pending.get() { "Buying…" } else { "Buy now" }}
                            </button>
                        </div>
                        {move || buy.value().get().map(|r| match r {
                            Ok(order) => view! {
                                <p class="confirmation" role="status" data-testid="order-confirmation">
                                    "Order #" {order.number} " placed: " {order.quantity} " × " {order.product_name.clone()}
                                    " for " {format_money(order.total_cents)} "."
                                </p>
                            }.into_any(),
                            Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                        })}
                    </div>
                </li>
            }
        })
    }
}

/// A fresh idempotency key (`crypto.randomUUID()` in the browser).
fn new_key() -> uuid::Uuid {
    #[cfg(feature = "hydrate")]
    {
        let made = web_sys::window().and_then(|w| w.crypto().ok()).map(|c| c.random_uuid());
        if let Some(id) = made.and_then(|s| uuid::Uuid::parse_str(&s).ok()) {
            return id;
        }
    }
    // Not reached in a browser with Web Crypto; the server rejects nothing based on the key's version.
    uuid::Uuid::from_u128(js_random_u128())
}

fn js_random_u128() -> u128 {
    #[cfg(feature = "hydrate")]
    {
        let mut v: u128 = 0;
        for _ in 0..4 {
            v = (v << 32) | (js_sys::Math::random() * 4_294_967_296.0) as u128;
        }
        v
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

/// The seller's shop panel in their live stream: feature products, see orders and revenue as they come in.
#[component]
pub fn SellerShop(stream: StreamId, peak_viewers: Signal<u32>, viewers: Signal<u32>) -> impl IntoView {
    let (loaded_featured, featured) = use_featured(stream);
    let products = Resource::new(|| (), |_| my_products());
    let orders = RwSignal::new(Vec::<OrderView>::new());
    let revenue = RwSignal::new(0i64);
    let feature = ServerAction::<FeatureProduct>::new();
    let unfeature = ServerAction::<UnfeatureProduct>::new();
    Effect::new(move |_| {
        if let Some(Ok(list)) = feature.value().get() {
            featured.set(list);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(list)) = unfeature.value().get() {
            featured.set(list);
        }
    });

    let stream_str = stream.to_string();
    view! {
        <section class="card dashboard" aria-label="Sales dashboard">
            <dl class="stats">
                <div><dt>"Viewers now"</dt><dd>{move || viewers.get()}</dd></div>
                <div><dt>"Peak"</dt><dd data-testid="peak-viewers">{move || peak_viewers.get()}</dd></div>
                <div><dt>"Orders"</dt><dd data-testid="order-count">{move || orders.with(Vec::len)}</dd></div>
                <div><dt>"Revenue"</dt><dd data-testid="revenue">{move || format_money(revenue.get())}</dd></div>
            </dl>
        </section>
        <section class="card shop" aria-label="Your products">
            <h2>"Feature a product"</h2>
            <p class="muted">"Up to 3 at a time. Viewers see them at once, with your list price struck through."</p>
            {move || feature.value().get().and_then(Result::err).map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })}
            <Transition fallback=|| view! { <p class="muted">"Loading your products…"</p> }>
                {move || Suspend::new({
                    let stream_str = stream_str.clone();
                    async move {
                        let _ = loaded_featured.await.map(|l| featured.set(l));
                        let list = products.await.unwrap_or_default();
                        if list.is_empty() {
                            return view! {
                                <p>"You have no products yet. " <A href="/sell/products">"Add products"</A> " to feature them."</p>
                            }.into_any();
                        }
                        view! {
                            <ul class="shop-list">
                                {list.into_iter().map(|p| {
                                    let id = p.id;
                                    let is_featured = move || featured.with(|f| f.iter().any(|x| x.product == id));
                                    let stock_now = move || featured.with(|f| f.iter().find(|x| x.product == id).map(|x| x.stock)).unwrap_or(p.stock);
                                    let list_price = format_money(p.list_price_cents);
                                    let default_special = format!("{}.{:02}", p.list_price_cents / 100, p.list_price_cents % 100);
                                    let stream_str = stream_str.clone();
                                    let name = p.name.clone();
                                    view! {
                                        <li class="shop-item" data-testid="shop-item" data-product-id=id.to_string()>
                                            <div class="shop-item-head">
                                                <strong>{p.name.clone()}</strong>
                                                <span class="muted">{list_price} " · " {stock_now} " in stock"</span>
                                                <Show when=is_featured>
                                                    <span class="status status-connected">"Featured"</span>
                                                </Show>
                                            </div>
                                            <ActionForm action=feature attr:class="feature-form">
                                                <input type="hidden" name="stream" value=stream_str.clone()/>
                                                <input type="hidden" name="product" value=id.to_string()/>
                                                <label>"Special price" <input name="special_price" inputmode="decimal" value=default_special.clone() required/></label>
                                                <label>"Limit per buyer" <input name="per_buyer_limit" type="number" min="1" max="1000" placeholder="None"/></label>
                                                <label>"Flash sale (minutes)" <input name="ends_in_minutes" type="number" min="1" max="1440" placeholder="No end"/></label>
                                                <button type="submit" class="btn" aria-label=format!("Feature {name}")>
                                                    {move || if is_featured() { "Update" } else { "Feature" }}
                                                </button>
                                            </ActionForm>
                                            <Show when=is_featured>
                                                <button type="button" class="btn btn-ghost"
                                                    on:click=move |_| { unfeature.dispatch(UnfeatureProduct { stream, product: id }); }>
                                                    "Remove from stream"
                                                </button>
                                            </Show>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }
                })}
            </Transition>
        </section>
        <StreamOrders stream=stream orders=orders revenue=revenue/>
    }
}

/// A stream's orders for its seller, newest first, kept current from `order_placed`/`sales_stats` events.
/// `orders` and `revenue` (cents) are filled by this component, so a dashboard can show totals.
#[component]
pub fn StreamOrders(stream: StreamId, orders: RwSignal<Vec<OrderView>>, revenue: RwSignal<i64>) -> impl IntoView {
    let sales = Resource::new(move || stream, stream_orders);
    #[cfg(feature = "hydrate")]
    {
        use crate::signaling::client::{self, ClientEvent};
        use crate::signaling::protocol::ServerMsg;
        client::subscribe_scoped(move |event| match event {
            ClientEvent::Msg(ServerMsg::OrderPlaced { stream: s, order }) if *s == stream => orders.update(|l| {
                if !l.iter().any(|o| o.id == order.id) {
                    l.insert(0, order.clone());
                }
            }),
            ClientEvent::Msg(ServerMsg::SalesStats { stream: s, revenue_cents, .. }) if *s == stream => {
                revenue.set(*revenue_cents)
            }
            _ => {}
        });
    }

    view! {
        <section class="card orders" aria-label="Orders in this stream">
            <h2>"Orders"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    if let Ok(s) = sales.await {
                        orders.set(s.orders);
                        revenue.set(s.revenue_cents);
                    }
                    view! {
                        <Show when=move || !orders.with(Vec::is_empty)
                            fallback=|| view! { <p class="muted">"No orders yet."</p> }>
                            <ul class="order-list" data-testid="seller-orders">
                                <For each=move || orders.get() key=|o| o.id let:o>
                                    <li data-testid="seller-order">
                                        <strong>"#" {o.number}</strong> " " {o.buyer_name} " bought " {o.quantity} " × " {o.product_name}
                                        " · " {format_money(o.total_cents)}
                                    </li>
                                </For>
                            </ul>
                        </Show>
                    }
                })}
            </Transition>
        </section>
    }
}

/// `/orders`: the signed-in user's orders.
#[component]
pub fn MyOrdersPage() -> impl IntoView {
    let orders = Resource::new(|| (), |_| my_orders());
    view! {
        <Title text="My orders"/>
        <div class="page-head"><h1>"My orders"</h1></div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match orders.await {
                    Err(AppError::Unauthorized) => view! {
                        <section class="card narrow"><p>"Log in to see your orders."</p>
                        <A href="/login?next=/orders" attr:class="btn">"Log in"</A></section>
                    }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <section class="card empty"><h2>"No orders yet"</h2>
                        <p class="muted">"Products you buy during live streams show up here."</p>
                        <A href="/live" attr:class="btn">"See who is live"</A></section>
                    }.into_any(),
                    Ok(list) => view! {
                        <ul class="order-list card" data-testid="my-orders">
                            {list.into_iter().map(|o| view! {
                                <li data-testid="my-order">
                                    <strong>"#" {o.number}</strong> " " {o.quantity} " × " {o.product_name}
                                    " from " {o.seller_name} " · " {format_money(o.total_cents)}
                                    " · " <A href=format!("/live/{}", o.stream)>"stream"</A>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
