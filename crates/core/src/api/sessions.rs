//! Sessions: `POST /ipp/v1/sessions`, `GET /ipp/v1/sessions/{session_id}`,
//! `PUT /ipp/v1/sessions/{session_id}/cancel`.
//! Docs: <https://docs.kustom.co/contents/api/in-person-payments/sessions/getsession>

use kipp_derive::MapDeserialize;
use serde::Serialize;

use super::{wire_enum, Operation, OperationId, Validate};
use crate::ids::{escape_segment, DeviceId, LocationId, OrderId, SessionId};
use crate::money::{Amount, Currency, TaxRate};
use crate::time::Timestamp;
use crate::validate::{push_decimal, FieldError, Validator};

/// Most order lines in one session.
pub const MAX_ORDER_ITEMS: usize = 1000;
/// Largest quantity on one line.
pub const MAX_QUANTITY: u32 = 1_000_000;
/// Longest item name.
pub const MAX_NAME_LEN: usize = 255;
/// Longest item reference.
pub const MAX_REFERENCE_LEN: usize = 64;
/// Longest merchant reference.
pub const MAX_MERCHANT_REFERENCE_LEN: usize = 255;
/// Longest `merchant_data`.
pub const MAX_MERCHANT_DATA_LEN: usize = 6000;

wire_enum!(
    /// A session's status (`SessionStatusDto`).
    SessionStatus {
        /// Created and pushed to the device.
        Created = "CREATED",
        /// The clerk chose a payment method; a payment is in progress.
        Active = "ACTIVE",
        /// Paid; `order_id` is set. Terminal.
        Finalized = "FINALIZED",
        /// Cancelled by the clerk or the merchant. Terminal.
        Cancelled = "CANCELLED",
        /// Not finished within its lifetime. Terminal.
        Expired = "EXPIRED",
        /// Failed for good. Terminal.
        Failed = "FAILED",
    }
);

wire_enum!(
    /// An order line's type.
    OrderItemType {
        /// Goods.
        Physical = "physical",
        /// A discount line; its amounts count negatively in the order sums.
        Discount = "discount",
    }
);

/// One order line. Amounts are minor units, tax included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct OrderItem {
    /// `physical` (default) or `discount`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<OrderItemType>,
    /// The merchant's reference (SKU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Display name.
    pub name: String,
    /// Quantity (1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// Price of one unit.
    pub unit_price: Amount,
    /// Line total: quantity × unit price − discount.
    pub total_amount: Amount,
    /// Tax rate in basis points.
    pub tax_rate: TaxRate,
    /// Discount on the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_discount_amount: Option<Amount>,
    /// Tax contained in `total_amount`.
    pub total_tax_amount: Amount,
}

impl OrderItem {
    /// A physical line whose total and tax are computed by kipp's rules
    /// (`quantity × unit_price`, tax rounded half up); `None` when the line would not pass
    /// validation (quantity outside 1–1,000,000, a name outside 1–255 characters, an overflow).
    pub fn physical(name: &str, quantity: u32, unit_price: Amount, tax_rate: TaxRate) -> Option<Self> {
        let total = Amount::new(i64::from(quantity).checked_mul(unit_price.minor())?).ok()?;
        let item = Self {
            item_type: Some(OrderItemType::Physical),
            reference: None,
            name: name.to_owned(),
            quantity: Some(quantity),
            unit_price,
            total_amount: total,
            tax_rate,
            total_discount_amount: None,
            total_tax_amount: tax_rate.included_tax(total),
        };
        let mut v = Validator::new();
        item.validate_into(&mut v, 0);
        v.is_ok().then_some(item)
    }

    fn is_discount(&self) -> bool {
        self.item_type == Some(OrderItemType::Discount)
    }

    /// Checks one line; `index` is its position in `order_items`. Paths
    /// (`order_items[3].name`) are only built for the errors found.
    fn validate_into(&self, v: &mut Validator, index: usize) {
        let at = |field: &str| item_path(index, field);
        v.text_at(|| at("name"), &self.name, 1, MAX_NAME_LEN);
        if let Some(r) = &self.reference {
            v.text_at(|| at("reference"), r, 0, MAX_REFERENCE_LEN);
        }
        if let Some(OrderItemType::Unknown(wire)) = &self.item_type {
            // `{t:?}` of the `Unknown` value, without the Debug machinery: `Unknown("…")`.
            let mut m = "Unknown(".to_owned();
            crate::metadata::push_debug_str(&mut m, wire);
            m.push_str(") is not one of physical, discount");
            v.push(at("type"), "unsupported", m);
        }
        let qty = self.quantity.unwrap_or(1);
        if qty == 0 || qty > MAX_QUANTITY {
            v.push(at("quantity"), "out_of_range", ["must be from 1 to ", &int(MAX_QUANTITY.into())].concat());
            return;
        }
        let discount = self.total_discount_amount.unwrap_or(Amount::ZERO).minor();
        let price = self.unit_price.minor();
        // qty ≤ 2^20, so below 2^43 the product cannot overflow (and needs no 128-bit check).
        let gross = if price < 1 << 43 { Some(i64::from(qty) * price) } else { i64::from(qty).checked_mul(price) };
        let Some(gross) = gross.filter(|g| Amount::new(*g).is_ok()) else {
            v.push(at("total_amount"), "overflow", "quantity × unit_price is too large");
            return;
        };
        if discount > gross {
            v.push(at("total_discount_amount"), "out_of_range", "must not exceed quantity × unit_price");
            return;
        }
        let expected = gross - discount;
        if self.total_amount.minor() != expected {
            v.push(
                at("total_amount"),
                "mismatch",
                ["must equal quantity × unit_price − total_discount_amount = ", &int(expected)].concat(),
            );
        }
        let tax = self.total_tax_amount.minor();
        if !self.tax_rate.is_included_tax(self.total_amount, tax) {
            let (lo, hi) = self.tax_rate.included_tax_bounds(self.total_amount);
            let want = if lo == hi { int(lo) } else { [int(lo), " or ".to_owned(), int(hi)].concat() };
            v.push(
                at("total_tax_amount"),
                "mismatch",
                ["must equal total_amount × tax_rate / (10000 + tax_rate) = ", &want].concat(),
            );
        }
    }
}

/// `n` in decimal (messages are built without the formatting machinery).
fn int(n: i64) -> String {
    let mut s = String::new();
    if n < 0 {
        s.push('-');
    }
    push_decimal(&mut s, n.unsigned_abs());
    s
}

/// `order_items[{index}].{field}`, built without the formatting machinery.
fn item_path(index: usize, field: &str) -> String {
    let mut p = String::with_capacity(16 + field.len());
    p.push_str("order_items[");
    crate::validate::push_decimal(&mut p, index as u64);
    p.push_str("].");
    p.push_str(field);
    p
}

/// The body of `POST /ipp/v1/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct CreateSessionRequest {
    /// The device that takes the payment.
    pub device_id: DeviceId,
    /// Total including tax: Σ physical `total_amount` − Σ discount `total_amount`.
    pub order_amount: Amount,
    /// ISO 4217 currency.
    pub purchase_currency: Currency,
    /// When the purchase started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_started_at: Option<Timestamp>,
    /// Σ physical `total_tax_amount` − Σ discount `total_tax_amount`.
    pub order_tax_amount: Amount,
    /// The merchant's own order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_reference1: Option<String>,
    /// A second merchant reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_reference2: Option<String>,
    /// Free-form merchant data (a string, often JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_data: Option<String>,
    /// The order lines (1–1000).
    pub order_items: Vec<OrderItem>,
}

impl CreateSessionRequest {
    /// Builds a request from lines, computing `order_amount` and
    /// `order_tax_amount` by the same rules validation checks; `None` when the request would not
    /// pass validation (no lines or more than 1,000, a total that is not positive, an overflow).
    pub fn from_items(device_id: DeviceId, currency: Currency, items: Vec<OrderItem>) -> Option<Self> {
        let (amount, tax) = sums(&items)?;
        let request = Self {
            device_id,
            order_amount: Amount::new(amount).ok()?,
            purchase_currency: currency,
            purchase_started_at: None,
            order_tax_amount: Amount::new(tax).ok()?,
            merchant_reference1: None,
            merchant_reference2: None,
            merchant_data: None,
            order_items: items,
        };
        request.validate().is_empty().then_some(request)
    }
}

/// Σ physical − Σ discount for amount and tax, with checked arithmetic.
fn sums(items: &[OrderItem]) -> Option<(i64, i64)> {
    items.iter().try_fold((0i64, 0i64), |(a, t), it| {
        let sign = if it.is_discount() { -1 } else { 1 };
        Some((a.checked_add(sign * it.total_amount.minor())?, t.checked_add(sign * it.total_tax_amount.minor())?))
    })
}

impl Validate for CreateSessionRequest {
    fn validate(&self) -> Vec<FieldError> {
        let mut v = Validator::new();
        if self.order_items.is_empty() {
            v.push("order_items", "required", "must contain at least one item");
        } else if self.order_items.len() > MAX_ORDER_ITEMS {
            v.push("order_items", "too_many", ["at most ", &int(MAX_ORDER_ITEMS as i64), " items"].concat());
        }
        for (i, item) in self.order_items.iter().take(MAX_ORDER_ITEMS).enumerate() {
            item.validate_into(&mut v, i);
        }
        for (path, value, max) in [
            ("merchant_reference1", &self.merchant_reference1, MAX_MERCHANT_REFERENCE_LEN),
            ("merchant_reference2", &self.merchant_reference2, MAX_MERCHANT_REFERENCE_LEN),
            ("merchant_data", &self.merchant_data, MAX_MERCHANT_DATA_LEN),
        ] {
            if let Some(s) = value {
                v.text(path, s, 0, max);
            }
        }
        if self.order_items.len() <= MAX_ORDER_ITEMS {
            match sums(&self.order_items) {
                None => v.push("order_amount", "overflow", "the order lines add up to more than can be represented"),
                Some((amount, tax)) => {
                    if self.order_amount.minor() != amount {
                        v.push(
                            "order_amount",
                            "mismatch",
                            ["must equal the sum of the order lines = ", &int(amount)].concat(),
                        );
                    }
                    if self.order_tax_amount.minor() != tax {
                        v.push(
                            "order_tax_amount",
                            "mismatch",
                            ["must equal the sum of the lines' tax = ", &int(tax)].concat(),
                        );
                    }
                }
            }
        }
        if self.order_amount.minor() == 0 && !self.order_items.is_empty() {
            v.push("order_amount", "out_of_range", "must be greater than 0");
        }
        v.into_errors()
    }
}

/// A session as Kustom returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct Session {
    /// Session id.
    pub session_id: SessionId,
    /// Current status.
    pub status: SessionStatus,
    /// Device handling the session.
    pub device_id: DeviceId,
    /// Kustom Order Management order, once finalized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    /// Total, minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_amount: Option<Amount>,
    /// ISO 4217 currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_currency: Option<Currency>,
    /// When the purchase started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_started_at: Option<Timestamp>,
    /// When the payment completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_completed_at: Option<Timestamp>,
    /// Tax total, minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_tax_amount: Option<Amount>,
    /// Order lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_items: Option<Vec<OrderItem>>,
    /// Merchant reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_reference1: Option<String>,
    /// Second merchant reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_reference2: Option<String>,
    /// Merchant data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_data: Option<String>,
}

/// What a session answer must carry for a worker to follow the sale: read when the whole
/// [`Session`] cannot be (see [`decode_session`]).
#[derive(MapDeserialize)]
struct SessionEssentials {
    session_id: SessionId,
    status: SessionStatus,
    device_id: DeviceId,
    #[serde(default)]
    order_id: Option<OrderId>,
    // They tell a worker which of its carts the session is (an adoption's match); the amount is
    // kept when kipp's rules accept it.
    #[serde(default)]
    order_amount: Option<i64>,
    #[serde(default)]
    merchant_reference1: Option<String>,
}

/// A session answer (create, get, cancel, simulate-tap) read as a worker must read it: whole when
/// kipp's types can read it, else its id, status, device, order id, reference and amount (when
/// kipp can read it), with the rest of the cart left out.
///
/// kipp's amounts, currencies, tax rates and timestamps carry kipp's own request rules, and
/// Kustom's answers are not fully documented. A field kipp cannot read (a currency added to ISO
/// 4217 after kipp's list, a negative discount) must not make a session created at Kustom look
/// unknown: a create would then be sent again, and a second sale opened once the first ends.
pub fn decode_session(status: u16, body: &[u8]) -> Result<Session, crate::CoreError> {
    super::decode_response::<GetSession>(status, body).or_else(|e| {
        if !(200..300).contains(&status) {
            return Err(e);
        }
        let Ok(s) = serde_json::from_slice::<SessionEssentials>(body) else { return Err(e) };
        Ok(Session {
            session_id: s.session_id,
            status: s.status,
            device_id: s.device_id,
            order_id: s.order_id,
            order_amount: s.order_amount.and_then(|a| Amount::new(a).ok()),
            purchase_currency: None,
            purchase_started_at: None,
            purchase_completed_at: None,
            order_tax_amount: None,
            order_items: None,
            merchant_reference1: s.merchant_reference1,
            merchant_reference2: None,
            merchant_data: None,
        })
    })
}

/// `POST /ipp/v1/sessions[?location_id=]` → 200 [`Session`] with status `CREATED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSession {
    /// The cart and device.
    pub body: CreateSessionRequest,
    /// The `location_id` query parameter seen in every docs sample.
    pub location_id: Option<LocationId>,
}

impl Operation for CreateSession {
    type Body = CreateSessionRequest;
    type Response = Session;
    const ID: OperationId = OperationId::CreateSession;
    fn path(&self) -> String {
        "/ipp/v1/sessions".to_owned()
    }
    fn query(&self) -> Vec<(&'static str, String)> {
        self.location_id.iter().map(|l| ("location_id", l.as_str().to_owned())).collect()
    }
    fn body(&self) -> Option<&CreateSessionRequest> {
        Some(&self.body)
    }
}

/// `GET /ipp/v1/sessions/{session_id}` → 200 [`Session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetSession(pub SessionId);

impl Operation for GetSession {
    type Body = ();
    type Response = Session;
    const ID: OperationId = OperationId::GetSession;
    fn path(&self) -> String {
        ["/ipp/v1/sessions/", &escape_segment(self.0.as_str())].concat()
    }
}

/// `PUT /ipp/v1/sessions/{session_id}/cancel` → 200 [`Session`] with status `CANCELLED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelSession(pub SessionId);

impl Operation for CancelSession {
    type Body = ();
    type Response = Session;
    const ID: OperationId = OperationId::CancelSession;
    fn path(&self) -> String {
        ["/ipp/v1/sessions/", &escape_segment(self.0.as_str()), "/cancel"].concat()
    }
}
