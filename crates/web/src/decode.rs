//! Request objects from JavaScript into kipp-core types, every field checked
//! with its path; then kipp-core's own rules ([`Validate`]) run on the result.

use kipp_core::api::devices::UpdateDeviceRequest;
use kipp_core::api::enrollments::{CreateEnrollmentRequest, EnrollmentTtl};
use kipp_core::api::locations::LocationRequest;
use kipp_core::api::sessions::{CreateSessionRequest, OrderItem, OrderItemType};
use kipp_core::api::Validate;
use kipp_core::ids::{DeviceId, InvalidId, LocationId};
use kipp_core::metadata::{Metadata, MetadataFilter};
use kipp_core::money::{Amount, Currency, TaxRate, AMOUNT_RANGE, TAX_RATE_RANGE};
use kipp_core::time::Timestamp;
use kipp_core::validate::{join, FieldError};
use wasm_bindgen::{JsCast, JsValue};

use crate::json::{self, Json, Parent, Reader, ROOT};

fn id_reason(e: InvalidId) -> String {
    e.reason.to_owned()
}

/// Reads a JS value as JSON (through `JSON.stringify`, so `undefined`
/// properties are simply absent).
pub fn read(value: &JsValue) -> Result<String, Vec<FieldError>> {
    let bad = || vec![FieldError::new("", "invalid", "must be a plain JSON-compatible object")];
    if value.is_undefined() || value.is_null() {
        return Err(vec![FieldError::new("", "required", "a request object is required")]);
    }
    let text = crate::js::json_text(value);
    let text = text.dyn_ref::<js_sys::JsString>().ok_or_else(bad)?;
    // One byte per UTF-16 unit fits ASCII (the usual request); else 3 always fits.
    let units = text.length() as usize;
    let mut buf = vec![0u8; units];
    let mut n = crate::js::utf8_into(text, &mut buf);
    if n < 0 {
        buf = vec![0u8; units * 3];
        n = crate::js::utf8_into(text, &mut buf);
    }
    buf.truncate(usize::try_from(n).map_err(|_| bad())?);
    String::from_utf8(buf).map_err(|_| bad())
}

/// Reads a JS value with [`read`] and hands the parsed JSON to `decode`.
pub fn read_with<T>(value: &JsValue, decode: fn(&Json) -> Result<T, Vec<FieldError>>) -> Result<T, Vec<FieldError>> {
    let text = read(value)?;
    let json = json::parse(&text)
        .map_err(|_| vec![FieldError::new("", "invalid", "must be a plain JSON-compatible object")])?;
    decode(&json)
}

fn finish<T>(r: Reader, v: Option<T>) -> Result<T, Vec<FieldError>> {
    match v {
        Some(v) if r.errors.is_empty() => Ok(v),
        _ => Err(r.errors),
    }
}

/// Decodes and validates.
pub fn valid<T: Validate>(v: Result<T, Vec<FieldError>>) -> Result<T, Vec<FieldError>> {
    let v = v?;
    let errors = v.validate();
    if errors.is_empty() {
        Ok(v)
    } else {
        Err(errors)
    }
}

fn amount(r: &mut Reader, o: &Json, p: Parent<'_>, key: &str, required: bool) -> Option<Amount> {
    r.int_as(o, p, key, required, Amount::new, AMOUNT_RANGE)
}

fn order_item(r: &mut Reader, o: &Json, p: Parent<'_>) -> Option<OrderItem> {
    r.object(o, p)?;
    let item_type = r.str_ref(o, p, "type", false).map(OrderItemType::from_wire);
    let reference = r.str(o, p, "reference", false);
    let name = r.str(o, p, "name", true);
    let quantity = r.int_as(o, p, "quantity", false, u32::try_from, "must be from 1 to 1000000");
    let unit_price = amount(r, o, p, "unit_price", true);
    let total_amount = amount(r, o, p, "total_amount", true);
    let tax_rate = r.int_as(o, p, "tax_rate", true, TaxRate::new, TAX_RATE_RANGE);
    let total_discount_amount = amount(r, o, p, "total_discount_amount", false);
    let total_tax_amount = amount(r, o, p, "total_tax_amount", true);
    Some(OrderItem {
        item_type,
        reference,
        name: name?,
        quantity,
        unit_price: unit_price?,
        total_amount: total_amount?,
        tax_rate: tax_rate?,
        total_discount_amount,
        total_tax_amount: total_tax_amount?,
    })
}

/// A `CreateSessionRequest`.
pub fn create_session(v: &Json) -> Result<CreateSessionRequest, Vec<FieldError>> {
    let mut r = Reader::default();
    let out = (|| {
        r.object(v, ROOT)?;
        let device_id = r.parsed(v, ROOT, "device_id", true, DeviceId::parse, id_reason);
        let order_amount = amount(&mut r, v, ROOT, "order_amount", true);
        let purchase_currency = r.parsed(v, ROOT, "purchase_currency", true, Currency::parse, |_| {
            "must be an ISO 4217 currency code such as SEK".to_owned()
        });
        let purchase_started_at = r.parsed(v, ROOT, "purchase_started_at", false, Timestamp::parse, |e| e.0.to_owned());
        let order_tax_amount = amount(&mut r, v, ROOT, "order_tax_amount", true);
        let merchant_reference1 = r.str(v, ROOT, "merchant_reference1", false);
        let merchant_reference2 = r.str(v, ROOT, "merchant_reference2", false);
        let merchant_data = r.str(v, ROOT, "merchant_data", false);
        let items = r.arr(v, ROOT, "order_items", true);
        let mut order_items = Vec::new();
        let mut items_ok = items.is_some();
        if let Some(items) = items {
            order_items.reserve(items.len());
            for (i, it) in items.iter().enumerate() {
                match order_item(&mut r, it, Parent::item("order_items", i)) {
                    Some(item) => order_items.push(item),
                    None => items_ok = false,
                }
            }
        }
        if !items_ok {
            return None;
        }
        Some(CreateSessionRequest {
            device_id: device_id?,
            order_amount: order_amount?,
            purchase_currency: purchase_currency?,
            purchase_started_at,
            order_tax_amount: order_tax_amount?,
            merchant_reference1,
            merchant_reference2,
            merchant_data,
            order_items,
        })
    })();
    finish(r, out)
}

fn metadata(r: &mut Reader, o: &Json, p: Parent<'_>) -> Option<Metadata> {
    let path = p.join("metadata");
    let m = o.get("metadata")?;
    let Json::Obj(entries) = m else {
        r.err(path, "invalid", "must be an object of string values");
        return None;
    };
    let mut pairs = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        match v {
            Json::Str(s) => pairs.push((k.to_string(), s.to_string())),
            _ => r.err(join(&path, k), "invalid", "must be a string"),
        }
    }
    match Metadata::from_pairs(pairs) {
        Ok(m) => Some(m),
        Err(e) => {
            r.err(path, "invalid", &e.0);
            None
        }
    }
}

fn location_id(r: &mut Reader, o: &Json) -> Option<LocationId> {
    r.parsed(o, ROOT, "location_id", false, LocationId::parse, id_reason)
}

/// An `UpdateDeviceRequest`.
pub fn update_device(v: &Json) -> Result<UpdateDeviceRequest, Vec<FieldError>> {
    let mut r = Reader::default();
    let out = r.object(v, ROOT).map(|v| UpdateDeviceRequest {
        name: r.str(v, ROOT, "name", false),
        metadata: metadata(&mut r, v, ROOT),
        location_id: location_id(&mut r, v),
    });
    finish(r, out)
}

/// A `CreateEnrollmentRequest`.
pub fn create_enrollment(v: &Json) -> Result<CreateEnrollmentRequest, Vec<FieldError>> {
    let mut r = Reader::default();
    let out = r.object(v, ROOT).map(|v| CreateEnrollmentRequest {
        metadata: metadata(&mut r, v, ROOT),
        expires_in: r.int_as(
            v,
            ROOT,
            "expires_in",
            false,
            u64::try_from,
            "must be from 10000 to 259200000 milliseconds",
        ),
        ttl: r.str(v, ROOT, "ttl", false).map(|t| EnrollmentTtl::from_wire(&t)),
        location_id: location_id(&mut r, v),
    });
    finish(r, out)
}

/// A `LocationRequest`.
pub fn location(v: &Json) -> Result<LocationRequest, Vec<FieldError>> {
    let mut r = Reader::default();
    let out = (|| {
        r.object(v, ROOT)?;
        let name = r.str(v, ROOT, "name", true);
        Some(LocationRequest {
            street_address: r.str(v, ROOT, "street_address", false),
            street_address2: r.str(v, ROOT, "street_address2", false),
            postal_code: r.str(v, ROOT, "postal_code", false),
            city: r.str(v, ROOT, "city", false),
            country: r.str(v, ROOT, "country", false),
            name: name?,
        })
    })();
    finish(r, out)
}

/// The options of `createSimulatedDevice`.
pub fn simulated_device_options(v: &Json) -> Result<(Option<LocationId>, Option<Metadata>), Vec<FieldError>> {
    let mut r = Reader::default();
    let out = r.object(v, ROOT).map(|v| (location_id(&mut r, v), metadata(&mut r, v, ROOT)));
    finish(r, out)
}

/// A list filter: `{ location_id?, metadata?: ["key:value"], page_number?, page_size?, include_consumed? }`.
#[derive(Debug, Default)]
pub struct Filter {
    /// `location_id`.
    pub location_id: Option<LocationId>,
    /// `metadata` filters.
    pub metadata: Vec<MetadataFilter>,
    /// `page_number`.
    pub page_number: Option<u32>,
    /// `page_size`.
    pub page_size: Option<u32>,
    /// `include_consumed` (enrollments).
    pub include_consumed: Option<bool>,
}

/// Reads a [`Filter`].
pub fn filter(v: &Json) -> Result<Filter, Vec<FieldError>> {
    let mut r = Reader::default();
    let out = r.object(v, ROOT).map(|v| {
        let mut metadata = Vec::new();
        if let Some(items) = r.arr(v, ROOT, "metadata", false) {
            for (i, it) in items.iter().enumerate() {
                let p = || Parent::item("metadata", i).path();
                match it {
                    Json::Str(s) => match MetadataFilter::parse(s) {
                        Ok(f) => metadata.push(f),
                        Err(e) => r.err(p(), "invalid", &e.0),
                    },
                    _ => r.err(p(), "invalid", "must be a key:value string"),
                }
            }
        }
        Filter {
            location_id: location_id(&mut r, v),
            metadata,
            page_number: r.int_as(v, ROOT, "page_number", false, u32::try_from, "must be an integer ≥ 0"),
            page_size: r.int_as(v, ROOT, "page_size", false, u32::try_from, "must be an integer from 1 to 100"),
            include_consumed: r.bool(v, ROOT, "include_consumed"),
        }
    });
    finish(r, out)
}

/// `{ role, location_id?, ttl_seconds? }` of `issueToken`.
pub fn issue_token(v: &Json) -> Result<(String, Option<LocationId>, Option<u32>), Vec<FieldError>> {
    let mut r = Reader::default();
    let out = (|| {
        r.object(v, ROOT)?;
        let role = r.str(v, ROOT, "role", true);
        if role.as_deref().is_some_and(|s| s != "clerk" && s != "admin") {
            r.err("role".to_owned(), "unsupported", "must be clerk or admin");
        }
        let loc = location_id(&mut r, v);
        let ttl = r.int_as(v, ROOT, "ttl_seconds", false, u32::try_from, "must be a positive number of seconds");
        Some((role?, loc, ttl))
    })();
    finish(r, out)
}

#[cfg(test)]
mod tests {
    //! The browser's offline check and the worker's decode (kipp-core's serde path, which the
    //! worker and the emulator run) must report a broken field at the same path with the same
    //! code, so a form shows the same error whichever of them caught it. Wording may differ (the
    //! browser names what it got: "must be a string, not a number").

    use kipp_core::api::{decode_and_validate, Validate};
    use kipp_core::CoreError;
    use serde::de::DeserializeOwned;

    use super::*;

    type Decode<T> = fn(&Json) -> Result<T, Vec<FieldError>>;

    fn worker<T: DeserializeOwned + Validate>(body: &str) -> Vec<(String, String)> {
        match decode_and_validate::<T>(body.as_bytes()) {
            Ok(_) => vec![],
            Err(CoreError::Validation(e)) => e.into_iter().map(|f| (f.path, f.code)).collect(),
            Err(e) => panic!("{body}: {e}"),
        }
    }

    fn browser<T: Validate>(body: &str, decode: Decode<T>) -> Vec<(String, String)> {
        match valid(decode(&json::parse(body).unwrap())) {
            Ok(_) => vec![],
            Err(e) => e.into_iter().map(|f| (f.path, f.code)).collect(),
        }
    }

    fn agree<T: DeserializeOwned + Validate>(bodies: &[String], decode: Decode<T>) {
        for body in bodies {
            let (w, b) = (worker::<T>(body), browser(body, decode));
            assert!(!w.is_empty(), "{body} is valid");
            assert_eq!(w, b, "{body}");
        }
    }

    const CART: &str = r#"{"device_id":"6b1b2f4e-3c7a-4b8e-9f0a-1d2e3f4a5b6c","order_amount":1000,"purchase_currency":"SEK","order_tax_amount":200,"order_items":[{"name":"Tea","quantity":1,"unit_price":1000,"total_amount":1000,"tax_rate":2500,"total_tax_amount":200}]}"#;

    #[test]
    fn a_broken_field_gets_the_same_path_and_code_offline_and_from_the_worker() {
        // One fault each: serde stops at the first, the browser reports them all.
        let session: Vec<String> = [
            ("\"order_amount\":1000", "\"order_amount\":-5"),
            ("\"order_amount\":1000", "\"order_amount\":0"),
            ("\"order_amount\":1000", "\"order_amount\":1.5"),
            ("\"order_amount\":1000", "\"order_amount\":1e3"),
            ("\"order_amount\":1000", "\"order_amount\":\"1000\""),
            ("\"order_amount\":1000", "\"order_amount\":true"),
            ("\"order_amount\":1000", "\"order_amount\":null"),
            ("\"order_amount\":1000,", ""),
            ("\"order_amount\":1000", "\"order_amount\":9007199254740992"),
            ("\"order_amount\":1000", "\"order_amount\":99999999999999999999"),
            ("\"order_tax_amount\":200", "\"order_tax_amount\":-1"),
            ("\"device_id\":\"6b1b2f4e-3c7a-4b8e-9f0a-1d2e3f4a5b6c\"", "\"device_id\":\"x\""),
            ("\"device_id\":\"6b1b2f4e-3c7a-4b8e-9f0a-1d2e3f4a5b6c\"", "\"device_id\":5"),
            ("\"device_id\":\"6b1b2f4e-3c7a-4b8e-9f0a-1d2e3f4a5b6c\",", ""),
            ("\"SEK\"", "\"sek\""),
            ("\"SEK\"", "null"),
            ("\"purchase_currency\"", "\"purchase_started_at\":\"bad\",\"purchase_currency\""),
            ("\"purchase_currency\"", "\"merchant_reference1\":5,\"purchase_currency\""),
            ("\"order_items\":[", "\"order_items\":5,\"x\":["),
            ("[{\"name\"", "[null,{\"name\""),
            ("\"quantity\":1", "\"quantity\":0"),
            ("\"quantity\":1", "\"quantity\":-1"),
            ("\"quantity\":1", "\"quantity\":2000000"),
            ("\"quantity\":1", "\"quantity\":5000000000"),
            ("\"tax_rate\":2500", "\"tax_rate\":10001"),
            ("\"tax_rate\":2500", "\"tax_rate\":-1"),
            ("\"tax_rate\":2500", "\"tax_rate\":null"),
            ("\"name\":\"Tea\"", "\"name\":null"),
            ("\"name\":\"Tea\"", "\"name\":\"Tea\",\"type\":5"),
            ("\"name\":\"Tea\"", "\"name\":\"Tea\",\"total_discount_amount\":-1"),
            ("\"unit_price\":1000", "\"unit_price\":-1"),
            ("\"total_tax_amount\":200", "\"total_tax_amount\":-1"),
        ]
        .iter()
        .map(|(from, to)| {
            assert!(CART.contains(from), "{from}");
            CART.replacen(from, to, 1)
        })
        .collect();
        agree(&session, create_session);
        let all = |bodies: &[&str]| bodies.iter().map(|b| (*b).to_owned()).collect::<Vec<_>>();
        agree(
            &all(&[
                r#"{"expires_in":-1}"#,
                r#"{"expires_in":5}"#,
                r#"{"expires_in":1.5}"#,
                r#"{"expires_in":"1"}"#,
                r#"{"ttl":5}"#,
                r#"{"ttl":"P1D"}"#,
                r#"{"location_id":"x"}"#,
                r#"{"metadata":5}"#,
                r#"{"metadata":{"k":null}}"#,
                r#"{"metadata":{"bad key!":"v"}}"#,
                "[]",
                "null",
            ]),
            create_enrollment,
        );
        agree(
            &all(&[
                r#"{}"#,
                r#"{"name":null}"#,
                r#"{"name":5}"#,
                r#"{"name":""}"#,
                r#"{"name":"x","country":"sweden"}"#,
            ]),
            location,
        );
        agree(
            &all(&[r#"{"name":5}"#, r#"{"name":""}"#, r#"{"location_id":"nope"}"#, r#"{"metadata":{"":"v"}}"#]),
            update_device,
        );
        // kipp-web's own: a NaN (marked by `jsonText`) is named, in a required and an optional field.
        let nan = CART.replace("\"order_amount\":1000", "\"order_amount\":\"\\u0000NaN\"");
        let e = valid(create_session(&json::parse(&nan).unwrap())).unwrap_err();
        assert_eq!(
            (e[0].path.as_str(), e[0].code.as_str(), e[0].message.as_str()),
            ("order_amount", "invalid", "must be an integer, not NaN")
        );
        let inf = CART.replace("\"name\":\"Tea\"", "\"name\":\"Tea\",\"total_discount_amount\":\"\\u0000-Infinity\"");
        let e = valid(create_session(&json::parse(&inf).unwrap())).unwrap_err();
        assert_eq!(e[0].message, "must be an integer, not -Infinity");
    }
}
