//! # kipp-derive
//!
//! `#[derive(MapDeserialize)]`: a `serde::Deserialize` for structs with named fields that reads
//! the struct from a map (a JSON object) only. serde's own derive also gives every struct an
//! array form (`visit_seq`: the fields in order), which serde_json compiles into every struct
//! decoder; kipp never sends or accepts structs as arrays, and the edge worker's wasm is ~10 KB
//! gzip smaller without them (docs/decisions.md § Edge worker, size).
//!
//! The decoder behaves as serde's derive does for a JSON object, with the same error messages
//! and positions: `missing field`, `duplicate field`, `unknown field … expected one of …` (with
//! `deny_unknown_fields`), `invalid type: …, expected struct Name`; an array is refused like any
//! other non-object (`invalid type: sequence, expected struct Name`). An absent field whose type
//! is spelled `Option<…>` is `None`; one whose type is a type parameter of the struct goes
//! through that type's own `Deserialize`, as serde does (`kipp_core::__de::missing`); any other
//! absent field is serde's `missing field` error at once. That is what serde's derive does for
//! every type whose `Deserialize` does not accept "no value" — among kipp's types only `Option`
//! does; a field of another such type (a type alias of `Option`, say) needs `#[serde(default)]`.
//!
//! The `#[serde(...)]` attributes it reads: `deny_unknown_fields` on the struct; `rename = "…"`
//! and `default` on fields. `skip_serializing_if` is left to `Serialize`; any other serde
//! attribute is a compile error here (use serde's derive for such types). The generated code
//! names `::serde` and `::kipp_core::__de`, so a crate that derives it depends on both.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Error, Fields, GenericParam, LitStr, Type};

/// Derives a map-only `serde::Deserialize` (see the crate docs).
#[proc_macro_derive(MapDeserialize, attributes(serde))]
pub fn derive_map_deserialize(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input).unwrap_or_else(Error::into_compile_error).into()
}

struct Field {
    ident: syn::Ident,
    ty: Type,
    wire: String,
    default: bool,
}

/// Reads the serde attributes this derive understands; `field` selects the field set.
fn serde_attrs(attrs: &[syn::Attribute], field: bool, mut on: impl FnMut(&str, Option<LitStr>)) -> syn::Result<()> {
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let name = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            match (field, name.as_str()) {
                (false, "deny_unknown_fields") | (true, "default") => on(&name, None),
                (true, "rename") => on(&name, Some(meta.value()?.parse()?)),
                (true, "skip_serializing_if") => {
                    let _: LitStr = meta.value()?.parse()?;
                }
                _ => return Err(meta.error("MapDeserialize does not support this serde attribute")),
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "Option" && !s.arguments.is_empty()))
}

fn is_param(ty: &Type, params: &[syn::Ident]) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.get_ident().is_some_and(|i| params.contains(i)))
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let Data::Struct(data) = &input.data else {
        return Err(Error::new(Span::call_site(), "MapDeserialize: structs only"));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(Error::new(Span::call_site(), "MapDeserialize: structs with named fields only"));
    };
    let mut deny = false;
    serde_attrs(&input.attrs, false, |_, _| deny = true)?;
    let mut fields = Vec::new();
    for f in &named.named {
        let ident = f.ident.clone().expect("named field");
        let mut wire = ident.to_string().trim_start_matches("r#").to_owned();
        let mut default = false;
        serde_attrs(&f.attrs, true, |name, value| match value {
            Some(v) if name == "rename" => wire = v.value(),
            _ => default = true,
        })?;
        fields.push(Field { ident, ty: f.ty.clone(), wire, default });
    }

    let name = &input.ident;
    let expecting = format!("struct {name}");
    let (_, ty_generics, where_clause) = input.generics.split_for_impl();
    // Every type parameter must be decodable (serde's derive bounds the ones its fields use;
    // kipp's generic structs use all of theirs).
    let params: Vec<_> = input.generics.params.iter().collect();
    let bounds: Vec<Tokens> = params
        .iter()
        .map(|p| match p {
            GenericParam::Type(t) => {
                let id = &t.ident;
                let b = &t.bounds;
                if b.is_empty() {
                    quote!(#id: ::serde::Deserialize<'de>)
                } else {
                    quote!(#id: #b + ::serde::Deserialize<'de>)
                }
            }
            GenericParam::Lifetime(l) => quote!(#l),
            GenericParam::Const(c) => quote!(#c),
        })
        .collect();
    let type_params: Vec<_> = input.generics.type_params().map(|t| &t.ident).collect();

    let params_idents: Vec<syn::Ident> = type_params.iter().map(|i| (*i).clone()).collect();
    let wires: Vec<&str> = fields.iter().map(|f| f.wire.as_str()).collect();
    let slots: Vec<syn::Ident> =
        (0..fields.len()).map(|i| syn::Ident::new(&format!("__f{i}"), Span::call_site())).collect();
    let tys: Vec<&Type> = fields.iter().map(|f| &f.ty).collect();
    let idx: Vec<usize> = (0..fields.len()).collect();
    let finish: Vec<Tokens> = fields
        .iter()
        .zip(&slots)
        .map(|(f, slot)| {
            let ident = &f.ident;
            let wire = &f.wire;
            let missing = if f.default {
                quote!(::core::default::Default::default())
            } else if is_option(&f.ty) {
                quote!(::core::option::Option::None)
            } else if is_param(&f.ty, &params_idents) {
                quote!(::kipp_core::__de::missing::<_, __A::Error>(#wire)?)
            } else {
                quote!(return ::core::result::Result::Err(<__A::Error as ::serde::de::Error>::missing_field(#wire)))
            };
            quote!(#ident: match #slot { ::core::option::Option::Some(v) => v, ::core::option::Option::None => #missing })
        })
        .collect();

    Ok(quote! {
        const _: () = {
            impl<'de, #(#bounds),*> ::serde::Deserialize<'de> for #name #ty_generics #where_clause {
                fn deserialize<__D: ::serde::Deserializer<'de>>(__d: __D) -> ::core::result::Result<Self, __D::Error> {
                    const FIELDS: &[&str] = &[#(#wires),*];
                    struct __V<#(#type_params),*>(::core::marker::PhantomData<fn() -> (#(#type_params,)*)>);
                    impl<'de, #(#bounds),*> ::serde::de::Visitor<'de> for __V<#(#type_params),*> #where_clause {
                        type Value = #name #ty_generics;
                        fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                            f.write_str(#expecting)
                        }
                        fn visit_map<__A: ::serde::de::MapAccess<'de>>(self, mut __map: __A) -> ::core::result::Result<Self::Value, __A::Error> {
                            #(let mut #slots: ::core::option::Option<#tys> = ::core::option::Option::None;)*
                            while let ::core::option::Option::Some(__k) =
                                __map.next_key_seed(::kipp_core::__de::Key { fields: FIELDS, deny: #deny })?
                            {
                                match __k {
                                    #(#idx => {
                                        if #slots.is_some() {
                                            return ::core::result::Result::Err(<__A::Error as ::serde::de::Error>::duplicate_field(#wires));
                                        }
                                        #slots = ::core::option::Option::Some(__map.next_value::<#tys>()?);
                                    })*
                                    _ => {
                                        __map.next_value::<::serde::de::IgnoredAny>()?;
                                    }
                                }
                            }
                            ::core::result::Result::Ok(#name { #(#finish),* })
                        }
                    }
                    __d.deserialize_map(__V(::core::marker::PhantomData))
                }
            }
        };
    })
}
