//! `#[derive_mlp]`: compiles a model written in index notation into an implementation of
//! `mlp_runtime::Model` for a struct that contains the model's parameters.
//!
//! ```
//! use mlp_runtime::{derive_mlp, Model};
//!
//! #[derive_mlp(relations = "
//!     dim I, N, O
//!     input x[I]
//!     target y[O]
//!     param W1[N, I], b1[N], W2[O, N], b2[O]
//!     a[i] = sum_j W1[i, j] * x[j] + b1[i]
//!     h[i] = relu(a[i])
//!     yhat[i] = sum_j W2[i, j] * h[j] + b2[i]
//!     L = sum_i (yhat[i] - y[i])^2
//! ")]
//! #[allow(non_snake_case)]
//! pub struct Net<const I: usize, const N: usize, const O: usize> {
//!     pub W1: [[f32; I]; N],
//!     pub b1: [f32; N],
//!     pub W2: [[f32; N]; O],
//!     pub b2: [f32; O],
//! }
//!
//! // Every parameter is zero, so the prediction is 0 and the loss is 0.5².
//! let model = Net::<2, 3, 1>::default();
//! let mut tape = <Net<2, 3, 1> as Model>::Tape::default();
//! assert_eq!(model.forward(&[1.0, 2.0], &[0.5], &mut tape), 0.25);
//! ```
//!
//! Arguments of the attribute:
//! - `file = "path.mlp"`, relative to the crate's `Cargo.toml`, or `relations = "..."` with the
//!   model inline;
//! - `output = "yhat"`: the relation `Model::output` returns. The default is the last relation
//!   in forward order that does not read a target;
//! - `fns(sigma = my_sigma, sigma_prime = my_sigma_prime)`: Rust functions `fn(T) -> T` for
//!   every abstract `fn` of the model and each derivative order the derivation uses.
//!
//! Each field is named like a parameter and is an array of `f32` or `f64` shaped like it.
//! An array length is either the const generic named like the model's dimension or a literal,
//! which must equal a size the model gives (`dim N = 64`). The macro also generates
//! `NetTape`, `NetGradients` and `impl Default for Net` (all parameters zero).

use std::collections::BTreeMap;
use std::path::PathBuf;

use mlp_symbolic::codegen::rust::{
    emit_impl, function_key, required_functions, RustTarget, ScalarType,
};
use mlp_symbolic::{derive_with, Derivation, DeriveOptions, Dim};
use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, GenericParam, ItemStruct, Lit, LitStr, Type};

/// Implements `mlp_runtime::Model` for the struct from the model in `file` or `relations`;
/// see the [crate documentation](crate).
#[proc_macro_attribute]
pub fn derive_mlp(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    let item = TokenStream::from(item);
    match expand(args.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            // The struct is emitted unchanged too, so its uses report no second error.
            let error = error.to_compile_error();
            quote!(#item #error).into()
        }
    }
}

/// The origin of the model's source: a file or an inline string.
enum Source {
    File(LitStr),
    Inline(LitStr),
}

#[derive(Default)]
struct Args {
    source: Option<Source>,
    output: Option<LitStr>,
    functions: Vec<(syn::Ident, syn::Path)>,
}

fn parse_args(tokens: TokenStream) -> syn::Result<Args> {
    let mut args = Args::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("file") || meta.path.is_ident("relations") {
            if args.source.is_some() {
                return Err(meta.error("give the model once: either `file` or `relations`"));
            }
            let literal: LitStr = meta.value()?.parse()?;
            args.source = Some(if meta.path.is_ident("file") {
                Source::File(literal)
            } else {
                Source::Inline(literal)
            });
            Ok(())
        } else if meta.path.is_ident("output") {
            args.output = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("fns") {
            meta.parse_nested_meta(|inner| {
                let key = inner
                    .path
                    .get_ident()
                    .cloned()
                    .ok_or_else(|| inner.error("expected a function name such as `sigma`"))?;
                let path: syn::Path = inner.value()?.parse()?;
                args.functions.push((key, path));
                Ok(())
            })
        } else {
            Err(meta.error(
                "unknown argument; expected `file = \"...\"`, `relations = \"...\"`, `output = \"...\"` or `fns(...)`",
            ))
        }
    });
    syn::parse::Parser::parse2(parser, tokens)?;
    Ok(args)
}

fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(args)?;
    let item: ItemStruct = syn::parse2(item)?;
    let Some(source) = &args.source else {
        return Err(syn::Error::new(
            Span::call_site(),
            "missing model: add `file = \"model.mlp\"` or `relations = \"...\"`",
        ));
    };
    let (text, origin, include) = read_source(source)?;
    let derivation = load(&text, &origin, source_literal(source))?;
    let target = resolve_target(&derivation, &item, &args)?;
    let code = emit_impl(&derivation, &target)
        .map_err(|error| syn::Error::new(source_literal(source).span(), error))?;
    let generated: TokenStream = code.parse().map_err(|error| {
        syn::Error::new(
            Span::call_site(),
            format!("internal error: generated code does not tokenize: {error}"),
        )
    })?;
    let include = include.map(|path| {
        quote!(
            const _: &str = ::core::include_str!(#path);
        )
    });
    Ok(quote! {
        #item
        #include
        #generated
    })
}

fn source_literal(source: &Source) -> &LitStr {
    match source {
        Source::File(literal) | Source::Inline(literal) => literal,
    }
}

/// Returns the model's text, a name for messages, and the absolute path to `include_str!`.
fn read_source(source: &Source) -> syn::Result<(String, String, Option<String>)> {
    match source {
        Source::Inline(literal) => Ok((literal.value(), "relations".into(), None)),
        Source::File(literal) => {
            let relative = PathBuf::from(literal.value());
            let path = match std::env::var_os("CARGO_MANIFEST_DIR") {
                Some(dir) if relative.is_relative() => PathBuf::from(dir).join(&relative),
                _ => relative.clone(),
            };
            let text = std::fs::read_to_string(&path).map_err(|error| {
                syn::Error::new(
                    literal.span(),
                    format!(
                        "cannot read model file `{}`: {error}; paths are relative to the directory of Cargo.toml",
                        path.display()
                    ),
                )
            })?;
            let absolute = path.to_string_lossy().into_owned();
            Ok((text, literal.value(), Some(absolute)))
        }
    }
}

/// Parses, checks and differentiates the model, turning every error diagnostic into one
/// compile error at the attribute's literal.
fn load(text: &str, origin: &str, literal: &LitStr) -> syn::Result<Derivation> {
    let (checked, diagnostics) = mlp_grammar::parse_and_check(text);
    let mut errors: Option<syn::Error> = None;
    for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
        let (line, column) = mlp_grammar::line_column(text, diagnostic.span.start);
        let mut message = format!(
            "{origin}:{line}:{column}: {} [{}]",
            diagnostic.message, diagnostic.code
        );
        if let Some(help) = &diagnostic.help {
            message.push_str(&format!("\n  help: {help}"));
        }
        let error = syn::Error::new(literal.span(), message);
        match &mut errors {
            Some(all) => all.combine(error),
            None => errors = Some(error),
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }
    let Some(checked) = checked else {
        return Err(syn::Error::new(
            literal.span(),
            format!("{origin}: the model is invalid"),
        ));
    };
    let model = mlp_symbolic::Model::from_checked(&checked).map_err(|error| {
        let (line, column) = mlp_grammar::line_column(text, error.span.start);
        syn::Error::new(
            literal.span(),
            format!("{origin}:{line}:{column}: {}", error.message),
        )
    })?;
    Ok(derive_with(&model, DeriveOptions { expand: false }))
}

/// The length of one array axis of a field, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Length {
    Literal(u64),
    Generic(String),
}

impl std::fmt::Display for Length {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Length::Literal(n) => write!(f, "{n}"),
            Length::Generic(name) => write!(f, "{name}"),
        }
    }
}

/// Splits a field type such as `[[f32; I]; N]` into its scalar and its axis lengths, outer
/// axis first (`[N, I]`).
fn field_shape(ty: &Type) -> syn::Result<(ScalarType, Vec<Length>)> {
    match ty {
        Type::Array(array) => {
            let (scalar, mut inner) = field_shape(&array.elem)?;
            inner.insert(0, array_length(&array.len)?);
            Ok((scalar, inner))
        }
        Type::Path(path) if path.qself.is_none() && path.path.is_ident("f32") => {
            Ok((ScalarType::F32, Vec::new()))
        }
        Type::Path(path) if path.qself.is_none() && path.path.is_ident("f64") => {
            Ok((ScalarType::F64, Vec::new()))
        }
        Type::Paren(inner) => field_shape(&inner.elem),
        _ => Err(syn::Error::new(
            ty.span(),
            "expected `f32`, `f64` or an array of them such as `[[f32; I]; N]`",
        )),
    }
}

fn array_length(expr: &Expr) -> syn::Result<Length> {
    match expr {
        Expr::Lit(literal) => match &literal.lit {
            Lit::Int(int) => Ok(Length::Literal(int.base10_parse()?)),
            other => Err(syn::Error::new(other.span(), "expected an integer length")),
        },
        Expr::Path(path) if path.qself.is_none() => match path.path.get_ident() {
            Some(ident) => Ok(Length::Generic(ident.to_string())),
            None => Err(syn::Error::new(
                path.span(),
                "expected a const generic name or a literal",
            )),
        },
        Expr::Block(block) if block.block.stmts.len() == 1 => match &block.block.stmts[0] {
            syn::Stmt::Expr(inner, None) => array_length(inner),
            _ => Err(syn::Error::new(
                block.span(),
                "expected a const generic name or a literal",
            )),
        },
        _ => Err(syn::Error::new(
            expr.span(),
            "expected a const generic name or a literal",
        )),
    }
}

/// Checks the struct against the model's parameters and collects what the emitter needs.
fn resolve_target(
    derivation: &Derivation,
    item: &ItemStruct,
    args: &Args,
) -> syn::Result<RustTarget> {
    let model = &derivation.model;
    let mut const_generics = Vec::new();
    for param in &item.generics.params {
        match param {
            GenericParam::Const(constant) if is_usize(&constant.ty) => {
                const_generics.push(constant.ident.to_string());
            }
            _ => {
                return Err(syn::Error::new(
                    param.span(),
                    "only `const NAME: usize` generics are supported; the scalar type comes from the fields",
                ))
            }
        }
    }
    let syn::Fields::Named(fields) = &item.fields else {
        return Err(syn::Error::new(
            item.ident.span(),
            "expected a struct with named fields, one per parameter",
        ));
    };

    let mut errors: Vec<syn::Error> = Vec::new();
    let mut dims: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &model.dims {
        if let Some(value) = value {
            if const_generics.contains(name) {
                errors.push(syn::Error::new(
                    item.generics.span(),
                    format!("dimension `{name}` has size {value} in the model, so it cannot also be the const generic `{name}`; remove the generic or the size"),
                ));
            }
            dims.insert(name.clone(), value.to_string());
        } else if const_generics.contains(name) {
            dims.insert(name.clone(), name.clone());
        }
    }

    let mut scalar: Option<(ScalarType, Span)> = None;
    let params: Vec<_> = model.params().collect();
    for field in &fields.named {
        let Some(ident) = &field.ident else { continue };
        let field_name = ident.to_string();
        let Some(param) = params.iter().find(|p| *p.name == *field_name) else {
            let names: Vec<String> = params.iter().map(|p| format!("`{}`", p.name)).collect();
            errors.push(syn::Error::new(
                ident.span(),
                format!(
                    "field `{field_name}` is not a parameter of the model; the parameters are {}",
                    names.join(", ")
                ),
            ));
            continue;
        };
        let (field_scalar, lengths) = match field_shape(&field.ty) {
            Ok(shape) => shape,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        match scalar {
            None => scalar = Some((field_scalar, field.ty.span())),
            Some((first, _)) if first != field_scalar => errors.push(syn::Error::new(
                field.ty.span(),
                format!(
                    "field `{field_name}` has element type `{}` but an earlier field has `{}`; use one scalar type for all parameters",
                    field_scalar.name(),
                    first.name()
                ),
            )),
            Some(_) => {}
        }
        let expected = shape_text(&param.shape);
        if lengths.len() != param.shape.len() {
            errors.push(syn::Error::new(
                field.ty.span(),
                format!(
                    "field `{field_name}` has {} axes but parameter `{}` has shape {expected}",
                    lengths.len(),
                    param.name
                ),
            ));
            continue;
        }
        for (axis, (length, dim)) in lengths.iter().zip(&param.shape).enumerate() {
            if let Err(message) = match_length(length, dim, &mut dims, &const_generics) {
                errors.push(syn::Error::new(
                    field.ty.span(),
                    format!(
                        "field `{field_name}` does not match parameter `{}` of shape {expected}: axis {axis} {message}",
                        param.name
                    ),
                ));
            }
        }
    }
    for param in &params {
        let has_field = fields
            .named
            .iter()
            .any(|f| f.ident.as_ref().is_some_and(|i| *i == *param.name));
        if !has_field {
            errors.push(syn::Error::new(
                item.ident.span(),
                format!(
                    "parameter `{}` of shape {} has no field; add `pub {}: ...` to `{}`",
                    param.name,
                    shape_text(&param.shape),
                    param.name,
                    item.ident
                ),
            ));
        }
    }
    if let Some(error) = errors.into_iter().reduce(|mut all, error| {
        all.combine(error);
        all
    }) {
        return Err(error);
    }

    let functions = resolve_functions(derivation, args)?;
    Ok(RustTarget {
        name: item.ident.to_string(),
        visibility: item.vis.to_token_stream().to_string(),
        const_generics,
        scalar: scalar.map_or(ScalarType::F32, |(s, _)| s),
        dims,
        output: args.output.as_ref().map(LitStr::value),
        functions,
        runtime: "::mlp_runtime".into(),
    })
}

fn is_usize(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.path.is_ident("usize"))
}

fn shape_text(shape: &[Dim]) -> String {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// Checks one axis length of a field against a dimension of the model and records the size
/// a literal gives to a dimension that has none yet.
fn match_length(
    length: &Length,
    dim: &Dim,
    dims: &mut BTreeMap<String, String>,
    const_generics: &[String],
) -> Result<(), String> {
    let expected = match dim {
        Dim::Fixed(size) => Some(size.to_string()),
        Dim::Named(name) => dims.get(name).cloned(),
    };
    match (length, expected) {
        (Length::Generic(generic), _) if !const_generics.contains(generic) => Err(format!(
            "has length `{generic}`, which is not a const generic of the struct"
        )),
        (length, Some(expected)) if length.to_string() == expected => Ok(()),
        (length, Some(expected)) => Err(format!("has length `{length}`, expected `{expected}`")),
        (Length::Literal(size), None) => {
            if let Dim::Named(name) = dim {
                dims.insert(name.clone(), size.to_string());
            }
            Ok(())
        }
        (Length::Generic(generic), None) => Err(format!(
            "has length `{generic}`, expected `{dim}` (name the const generic like the dimension)"
        )),
    }
}

/// Maps each abstract function and derivative order that the derivation calls to the path
/// given in `fns(...)`.
fn resolve_functions(
    derivation: &Derivation,
    args: &Args,
) -> syn::Result<BTreeMap<(String, u32), String>> {
    let required = required_functions(derivation);
    let mut functions = BTreeMap::new();
    for (key, path) in &args.functions {
        let entry = required
            .iter()
            .find(|(name, order)| *key == function_key(name, *order));
        match entry {
            Some(entry) => {
                functions.insert(entry.clone(), path.to_token_stream().to_string());
            }
            None => {
                let expected: Vec<String> = required
                    .iter()
                    .map(|(name, order)| format!("`{}`", function_key(name, *order)))
                    .collect();
                let message = if expected.is_empty() {
                    format!("`{key}` is not used: the model calls no abstract function")
                } else {
                    format!(
                        "`{key}` is not used: the model needs {}",
                        expected.join(", ")
                    )
                };
                return Err(syn::Error::new(key.span(), message));
            }
        }
    }
    Ok(functions)
}
