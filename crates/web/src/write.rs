//! kipp-core values → JSON text, written by hand for the few types the
//! browser sends (request bodies) or hands to JavaScript (`FieldError[]`).
//!
//! serde_json's serializer came to ~7 KB of wasm for these ten types; this is
//! about a third of that. The output is byte for byte what
//! `serde_json::to_string` writes for the same value (field order, skipped
//! `None`s, escapes): the tests below compare the two for every type.

use kipp_core::api::devices::UpdateDeviceRequest;
use kipp_core::api::enrollments::CreateEnrollmentRequest;
use kipp_core::api::locations::LocationRequest;
use kipp_core::api::sessions::{CreateSessionRequest, OrderItem};
use kipp_core::api::testing::CreateSimulatedDeviceRequest;
use kipp_core::metadata::Metadata;
use kipp_core::text::{push_decimal, push_json_str};
use kipp_core::validate::FieldError;

/// A value that writes itself as JSON.
pub trait ToJson {
    /// Appends the JSON text of `self` to `out`.
    fn write_json(&self, out: &mut JsonWriter);
}

/// Builds the JSON text of one value (objects of objects, arrays, strings, integers).
#[derive(Debug, Default)]
pub struct JsonWriter {
    out: String,
    /// Whether the object being written already has a member (a `,` is due).
    more: bool,
}

impl JsonWriter {
    /// The JSON text of `value`.
    pub fn text(value: &(impl ToJson + ?Sized)) -> String {
        let mut w = JsonWriter::default();
        value.write_json(&mut w);
        w.into_text()
    }

    /// The text written so far.
    #[must_use]
    pub fn into_text(self) -> String {
        self.out
    }

    /// `{`, members written by `f`, `}`.
    pub fn object(&mut self, f: impl FnOnce(&mut Self)) {
        self.out.push('{');
        self.more = false;
        f(self);
        self.out.push('}');
        self.more = true;
    }

    /// `[`, each value, `]`.
    pub fn array<T: ToJson>(&mut self, items: &[T]) {
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            item.write_json(self);
        }
        self.out.push(']');
        self.more = true;
    }

    /// `"key":` (with the `,` before it when due).
    pub fn key(&mut self, key: &str) {
        if self.more {
            self.out.push(',');
        }
        self.string(key);
        self.out.push(':');
        self.more = false;
    }

    /// A string member.
    pub fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        self.string(value);
    }

    /// A string member, left out when `None`.
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    /// An integer member.
    pub fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        if value < 0 {
            self.out.push('-');
        }
        push_decimal(&mut self.out, value.unsigned_abs());
        self.more = true;
    }

    /// An integer member, left out when `None`.
    pub fn opt_int(&mut self, key: &str, value: Option<i64>) {
        if let Some(v) = value {
            self.int(key, v);
        }
    }

    /// A non-negative integer member, left out when `None`.
    pub fn opt_uint(&mut self, key: &str, value: Option<u64>) {
        if let Some(v) = value {
            self.key(key);
            push_decimal(&mut self.out, v);
            self.more = true;
        }
    }

    /// A member whose value writes itself.
    pub fn value(&mut self, key: &str, value: &(impl ToJson + ?Sized)) {
        self.key(key);
        value.write_json(self);
        self.more = true;
    }

    /// A quoted string, escaped as serde_json escapes it.
    fn string(&mut self, s: &str) {
        push_json_str(&mut self.out, s);
        self.more = true;
    }
}

/// The body type of operations without a body (`Operation::Body = ()`): `Call::op` needs the
/// bound, and `body()` of such an operation is `None`, so this is never written in practice.
impl ToJson for () {
    fn write_json(&self, out: &mut JsonWriter) {
        out.out.push_str("null");
        out.more = true;
    }
}

impl ToJson for Metadata {
    fn write_json(&self, out: &mut JsonWriter) {
        out.object(|o| {
            for (k, v) in self.iter() {
                o.str(k, v);
            }
        });
    }
}

impl ToJson for FieldError {
    fn write_json(&self, out: &mut JsonWriter) {
        out.object(|o| {
            o.str("path", &self.path);
            o.str("code", &self.code);
            o.str("message", &self.message);
        });
    }
}

impl ToJson for [FieldError] {
    fn write_json(&self, out: &mut JsonWriter) {
        out.array(self);
    }
}

impl ToJson for OrderItem {
    fn write_json(&self, out: &mut JsonWriter) {
        out.object(|o| {
            o.opt_str("type", self.item_type.as_ref().map(|t| t.as_str()));
            o.opt_str("reference", self.reference.as_deref());
            o.str("name", &self.name);
            o.opt_int("quantity", self.quantity.map(i64::from));
            o.int("unit_price", self.unit_price.minor());
            o.int("total_amount", self.total_amount.minor());
            o.int("tax_rate", i64::from(self.tax_rate.basis_points()));
            o.opt_int("total_discount_amount", self.total_discount_amount.map(|a| a.minor()));
            o.int("total_tax_amount", self.total_tax_amount.minor());
        });
    }
}

impl ToJson for CreateSessionRequest {
    fn write_json(&self, out: &mut JsonWriter) {
        out.object(|o| {
            o.str("device_id", self.device_id.as_str());
            o.int("order_amount", self.order_amount.minor());
            o.str("purchase_currency", self.purchase_currency.code());
            o.opt_str("purchase_started_at", self.purchase_started_at.as_ref().map(|t| t.as_str()));
            o.int("order_tax_amount", self.order_tax_amount.minor());
            o.opt_str("merchant_reference1", self.merchant_reference1.as_deref());
            o.opt_str("merchant_reference2", self.merchant_reference2.as_deref());
            o.opt_str("merchant_data", self.merchant_data.as_deref());
            o.key("order_items");
            o.array(&self.order_items);
        });
    }
}

impl ToJson for LocationRequest {
    fn write_json(&self, out: &mut JsonWriter) {
        out.object(|o| {
            o.str("name", &self.name);
            o.opt_str("street_address", self.street_address.as_deref());
            o.opt_str("street_address2", self.street_address2.as_deref());
            o.opt_str("postal_code", self.postal_code.as_deref());
            o.opt_str("city", self.city.as_deref());
            o.opt_str("country", self.country.as_deref());
        });
    }
}

/// `"metadata":{…}` when present.
fn opt_metadata(o: &mut JsonWriter, metadata: Option<&Metadata>) {
    if let Some(m) = metadata {
        o.value("metadata", m);
    }
}

impl ToJson for CreateEnrollmentRequest {
    fn write_json(&self, out: &mut JsonWriter) {
        out.object(|o| {
            opt_metadata(o, self.metadata.as_ref());
            o.opt_uint("expires_in", self.expires_in);
            o.opt_str("ttl", self.ttl.as_ref().map(|t| t.as_str()));
            o.opt_str("location_id", self.location_id.as_ref().map(|l| l.as_str()));
        });
    }
}

impl ToJson for UpdateDeviceRequest {
    fn write_json(&self, out: &mut JsonWriter) {
        out.object(|o| {
            o.opt_str("name", self.name.as_deref());
            opt_metadata(o, self.metadata.as_ref());
            o.opt_str("location_id", self.location_id.as_ref().map(|l| l.as_str()));
        });
    }
}

impl ToJson for CreateSimulatedDeviceRequest {
    fn write_json(&self, out: &mut JsonWriter) {
        out.object(|o| {
            o.str("name", &self.name);
            o.opt_str("location_id", self.location_id.as_ref().map(|l| l.as_str()));
            opt_metadata(o, self.metadata.as_ref());
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kipp_core::api::enrollments::EnrollmentTtl;
    use kipp_core::api::sessions::OrderItemType;
    use kipp_core::ids::{DeviceId, LocationId};
    use kipp_core::money::{Amount, Currency, TaxRate};
    use kipp_core::time::Timestamp;
    use serde::Serialize;

    use super::*;

    fn same<T: ToJson + Serialize + ?Sized>(value: &T) {
        assert_eq!(JsonWriter::text(value), serde_json::to_string(value).unwrap());
    }

    const AWKWARD: &str = "a\"b\\c/d\u{0}\u{1f}\u{7f}\n\r\t\u{8}\u{c} åé😀 </script>";

    fn metadata() -> Metadata {
        let mut m = BTreeMap::new();
        m.insert("z".to_owned(), AWKWARD.to_owned());
        m.insert("a".to_owned(), String::new());
        Metadata::new(m).unwrap()
    }

    fn item(full: bool) -> OrderItem {
        OrderItem {
            item_type: full.then_some(OrderItemType::Discount),
            reference: full.then(|| AWKWARD.to_owned()),
            name: "Kaffe ☕".to_owned(),
            quantity: full.then_some(3),
            unit_price: Amount::new(9_007_199_254_740_991).unwrap(),
            total_amount: Amount::new(0).unwrap(),
            tax_rate: TaxRate::new(10_000).unwrap(),
            total_discount_amount: full.then(|| Amount::new(5).unwrap()),
            total_tax_amount: Amount::new(1).unwrap(),
        }
    }

    #[test]
    fn order_lines_and_sessions_match_serde_json() {
        same(&item(true));
        same(&item(false));
        for full in [true, false] {
            same(&CreateSessionRequest {
                device_id: DeviceId::parse("3f0c8a52-7c1e-4b7a-9a43-0d2f6b1e9c11").unwrap(),
                order_amount: Amount::new(12_900).unwrap(),
                purchase_currency: Currency::parse("SEK").unwrap(),
                purchase_started_at: full.then(|| Timestamp::parse("2026-11-30T10:00:00.123+01:00").unwrap()),
                order_tax_amount: Amount::new(2_580).unwrap(),
                merchant_reference1: full.then(|| "order-1".to_owned()),
                merchant_reference2: full.then(|| AWKWARD.to_owned()),
                merchant_data: full.then(|| "{\"k\":[1,2]}".to_owned()),
                order_items: if full { vec![item(true), item(false)] } else { vec![] },
            });
        }
    }

    #[test]
    fn the_other_bodies_match_serde_json() {
        let loc = || LocationId::parse("9b2f7c3e-1d4a-4e8b-8f6a-2c5d7e9a1b3c").unwrap();
        same(&LocationRequest {
            name: AWKWARD.to_owned(),
            street_address: Some("Gatan 1".to_owned()),
            street_address2: Some(String::new()),
            postal_code: Some("111 22".to_owned()),
            city: Some("Stockholm".to_owned()),
            country: Some("SE".to_owned()),
        });
        same(&LocationRequest { name: "x".to_owned(), ..LocationRequest::default() });
        same(&CreateEnrollmentRequest {
            metadata: Some(metadata()),
            expires_in: Some(259_200_000),
            ttl: Some(EnrollmentTtl::from_wire("TWELVE_HOURS")),
            location_id: Some(loc()),
        });
        same(&CreateEnrollmentRequest::default());
        same(&UpdateDeviceRequest {
            name: Some("Kassa 2".to_owned()),
            metadata: Some(metadata()),
            location_id: Some(loc()),
        });
        same(&UpdateDeviceRequest { metadata: Some(Metadata::empty()), ..UpdateDeviceRequest::default() });
        same(&UpdateDeviceRequest::default());
        same(&CreateSimulatedDeviceRequest {
            name: "Sim".to_owned(),
            location_id: Some(loc()),
            metadata: Some(metadata()),
        });
        same(&CreateSimulatedDeviceRequest { name: String::new(), location_id: None, metadata: None });
    }

    #[test]
    fn field_errors_match_serde_json() {
        let errors = vec![
            FieldError::new("order_items[0].name", "required", "is required"),
            FieldError::new("", "invalid", AWKWARD),
        ];
        same(errors.as_slice());
        same(&errors[..0]);
    }

    #[test]
    fn every_control_character_is_escaped_like_serde_json() {
        let all: String = (0u8..0x80).map(char::from).collect();
        let e = FieldError::new(&all, "c", "m");
        same(&e);
    }
}
