//! Emission of Rust source that implements `mlp_runtime::Model` for a struct holding a model's
//! parameters: a forward pass, the derived backprop recurrence and the visitors.
//!
//! Every relation becomes nested `for` loops over its free indices with compile-time bounds,
//! and every sum over indices becomes an inner loop with an accumulator, so the generated code
//! does no interpretation and no allocation at run time. The `#[derive_mlp]` macro and
//! `mlp codegen` share this emitter.
//!
//! Storage of the generated types:
//! - the tape contains a copy of every input and target and the value of every relation;
//! - the gradients struct holds one accumulator per parameter and, in private fields, one
//!   buffer per adjoint, because `Model::backward` receives the tape by shared reference.

mod batch;

use std::collections::{BTreeMap, BTreeSet};

use std::fmt::Write as _;
use std::sync::Arc;

use mlp_grammar::TensorRole;
use num_traits::{One, Signed, ToPrimitive};

use crate::chain_rule::function_derivative;
use crate::expr::{Builtin, Dim, Element, Expr, Function, Number};
use crate::gradient::Derivation;

/// The floating-point type the generated code computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarType {
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl ScalarType {
    /// Returns the Rust type name.
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::F32 => "f32",
            ScalarType::F64 => "f64",
        }
    }
}

/// The user's struct that the generated code implements `Model` for, and the mapping of the
/// model's names to Rust.
#[derive(Debug, Clone)]
pub struct RustTarget {
    /// The struct's name, such as `Net`.
    pub name: String,
    /// The struct's visibility as written (`pub`, `pub(crate)` or empty), given to the tape
    /// and gradients structs too.
    pub visibility: String,
    /// Names of the struct's `const N: usize` generic parameters, in declaration order.
    pub const_generics: Vec<String>,
    /// The scalar type of every parameter field.
    pub scalar: ScalarType,
    /// The Rust expression of each dimension's size, by dimension name: a const generic name
    /// or a literal.
    pub dims: BTreeMap<String, String>,
    /// The relation returned by `Model::output`; `None` picks the last relation in forward
    /// order that does not read a target.
    pub output: Option<String>,
    /// Rust paths of the abstract functions and their derivatives, by name and order
    /// (`("sigma", 1)` is `sigma'`).
    pub functions: BTreeMap<(String, u32), String>,
    /// The path of the runtime crate, normally `::mlp_runtime`.
    pub runtime: String,
}

/// A reason a derivation cannot be emitted as Rust.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RustEmitError {
    /// A dimension has no size: no literal in the model and no Rust expression given.
    #[error("dimension `{0}` has no size: add `const {0}: usize` to the struct's generics, use a literal array length in a field, or declare `dim {0} = <size>` in the model")]
    MissingDim(String),
    /// An abstract function (or one of its derivatives) has no Rust implementation.
    #[error("{what} has no Rust implementation; pass `fns({key} = path::to::function)` with a function from the scalar type to itself")]
    MissingFunction {
        /// The function's name.
        name: String,
        /// The function or derivative, such as "the abstract function `sigma`".
        what: String,
        /// The key to pass, such as `sigma_prime`.
        key: String,
    },
    /// The requested output relation does not exist.
    #[error("`{0}` is not a relation of the model; `output` must name a relation")]
    UnknownOutput(String),
    /// The output relation reads a target, so it cannot be computed at prediction time.
    #[error("the output relation `{0}` reads a target, so `predict` cannot compute it; name a relation computed from inputs and parameters with `output = \"...\"`")]
    OutputReadsTarget(String),
    /// Every relation reads a target.
    #[error("every relation reads a target, so the model has no prediction")]
    NoOutput,
    /// The model declares no input or no target tensor.
    #[error(
        "the model declares no {0} tensor; the runtime needs at least one input and one target"
    )]
    MissingRole(&'static str),
    /// An expression still contains an unevaluated partial derivative.
    #[error("`{0}` contains an unevaluated partial derivative, which has no numeric value")]
    Partial(String),
}

/// The name of the key in `fns(...)` for an abstract function of a given derivative order:
/// `sigma`, `sigma_prime`, `sigma_prime2`, ...
pub fn function_key(name: &str, order: u32) -> String {
    match order {
        0 => name.to_string(),
        1 => format!("{name}_prime"),
        _ => format!("{name}_prime{order}"),
    }
}

fn describe_function(name: &str, order: u32) -> String {
    if order == 0 {
        format!("the abstract function `{name}`")
    } else {
        let primes = "'".repeat(order as usize);
        format!("`{name}{primes}`, a derivative of the abstract function `{name}`,")
    }
}

/// Returns the abstract functions, with their derivative orders, that the forward pass and
/// the backward pass call.
pub fn required_functions(derivation: &Derivation) -> BTreeSet<(String, u32)> {
    let mut needed = BTreeSet::new();
    let model = &derivation.model;
    let bodies = model
        .relations
        .iter()
        .map(|r| &r.body)
        .chain(derivation.adjoints.iter().map(|a| &a.recurrence))
        .chain(derivation.gradients.iter().map(|g| &g.recurrence));
    for body in bodies {
        body.walk(&mut |e| {
            if let Expr::Call(Function::Abstract(name), order, _) = e {
                needed.insert((name.to_string(), *order));
            }
        });
    }
    needed
}

/// The place of a tensor's values in the generated code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    /// A field of the user's struct: `self.W1`.
    Param,
    /// A field of the tape: an input, a target or a relation.
    Tape,
}

struct Emitter<'a> {
    derivation: &'a Derivation,
    target: &'a RustTarget,
    storage: BTreeMap<Arc<str>, Storage>,
    /// The tape expression in the current function (`tape`).
    tape: &'static str,
    /// The expression that contains the adjoint buffers (`grads`).
    adjoints: &'static str,
    /// Set while emitting the batched step: per-sample values then live in batch buffers.
    batch: Option<batch::Layout>,
}

/// Returns the name of the private gradients field that stores `∂L/∂R` of a relation.
fn adjoint_field(relation: &str) -> String {
    format!("__adjoint_{relation}")
}

/// Emits the struct definition that `mlp codegen` prints: one public field per parameter,
/// shaped by the model's declaration.
pub fn emit_struct(derivation: &Derivation, target: &RustTarget) -> Result<String, RustEmitError> {
    let emitter = Emitter::new(derivation, target);
    let mut out = String::new();
    writeln!(
        out,
        "/// The parameters of the model, one field per `param` declaration."
    )
    .ok();
    out.push_str("#[allow(non_snake_case)]\n#[derive(Debug, Clone, PartialEq)]\n");
    writeln!(
        out,
        "{} struct {}{} {{",
        target.visibility,
        target.name,
        emitter.generics_decl()
    )
    .ok();
    for param in derivation.model.params() {
        writeln!(
            out,
            "    pub {}: {},",
            param.name,
            emitter.array_type(&param.shape)?
        )
        .ok();
    }
    out.push_str("}\n");
    Ok(out)
}

/// Emits the tape and gradients structs and the `Default` and `Model` implementations for
/// the target struct.
///
/// # Errors
///
/// Fails if a dimension has no size, an abstract function has no implementation, the output
/// relation is invalid, or the model has no input or no target.
pub fn emit_impl(derivation: &Derivation, target: &RustTarget) -> Result<String, RustEmitError> {
    let emitter = Emitter::new(derivation, target);
    emitter.check()?;
    let mut out = String::new();
    emitter.write_tape(&mut out)?;
    emitter.write_gradients(&mut out)?;
    emitter.write_default(&mut out)?;
    emitter.write_model_impl(&mut out)?;
    emitter.write_batch_helper(&mut out)?;
    Ok(out)
}

impl<'a> Emitter<'a> {
    fn new(derivation: &'a Derivation, target: &'a RustTarget) -> Self {
        let model = &derivation.model;
        let mut storage = BTreeMap::new();
        for tensor in &model.tensors {
            let place = match tensor.role {
                TensorRole::Param => Storage::Param,
                _ => Storage::Tape,
            };
            storage.insert(tensor.name.clone(), place);
        }
        for relation in &model.relations {
            storage.insert(relation.lhs.name.clone(), Storage::Tape);
        }
        Emitter {
            derivation,
            target,
            storage,
            tape: "tape",
            adjoints: "grads",
            batch: None,
        }
    }

    fn check(&self) -> Result<(), RustEmitError> {
        let model = &self.derivation.model;
        for (name, value) in &model.dims {
            if value.is_none() && !self.target.dims.contains_key(name) {
                return Err(RustEmitError::MissingDim(name.clone()));
            }
        }
        for (role, word) in [(TensorRole::Input, "input"), (TensorRole::Target, "target")] {
            if !model.tensors.iter().any(|t| t.role == role) {
                return Err(RustEmitError::MissingRole(word));
            }
        }
        for (name, order) in required_functions(self.derivation) {
            if !self.target.functions.contains_key(&(name.clone(), order)) {
                let what = describe_function(&name, order);
                return Err(RustEmitError::MissingFunction {
                    key: function_key(&name, order),
                    name,
                    what,
                });
            }
        }
        self.output_relation()?;
        Ok(())
    }

    /// Returns the relations that read a target, directly or through other relations.
    fn target_dependent(&self) -> BTreeSet<Arc<str>> {
        let model = &self.derivation.model;
        let mut dependent: BTreeSet<Arc<str>> = model
            .tensors
            .iter()
            .filter(|t| t.role == TensorRole::Target)
            .map(|t| t.name.clone())
            .collect();
        for relation in &model.relations {
            let mut reads = false;
            relation.body.walk(&mut |e| {
                if let Expr::Tensor(element) = e {
                    reads |= dependent.contains(&element.name);
                }
            });
            if reads {
                dependent.insert(relation.lhs.name.clone());
            }
        }
        dependent
    }

    fn output_relation(&self) -> Result<&'a crate::model::RelationDef, RustEmitError> {
        let model = &self.derivation.model;
        let dependent = self.target_dependent();
        match &self.target.output {
            Some(name) => {
                let relation = model
                    .relation(name)
                    .ok_or_else(|| RustEmitError::UnknownOutput(name.clone()))?;
                if dependent.contains(&relation.lhs.name) {
                    return Err(RustEmitError::OutputReadsTarget(name.clone()));
                }
                Ok(relation)
            }
            None => model
                .relations
                .iter()
                .rev()
                .find(|r| !dependent.contains(&r.lhs.name))
                .ok_or(RustEmitError::NoOutput),
        }
    }

    fn generics_decl(&self) -> String {
        if self.target.const_generics.is_empty() {
            return String::new();
        }
        let params: Vec<String> = self
            .target
            .const_generics
            .iter()
            .map(|name| format!("const {name}: usize"))
            .collect();
        format!("<{}>", params.join(", "))
    }

    fn generics_use(&self) -> String {
        if self.target.const_generics.is_empty() {
            return String::new();
        }
        format!("<{}>", self.target.const_generics.join(", "))
    }

    fn dim(&self, dim: &Dim) -> Result<String, RustEmitError> {
        match dim {
            Dim::Fixed(size) => Ok(size.to_string()),
            Dim::Named(name) => {
                if let Some(expr) = self.target.dims.get(name) {
                    return Ok(expr.clone());
                }
                self.derivation
                    .model
                    .dim_value(dim)
                    .map(|v| v.to_string())
                    .ok_or_else(|| RustEmitError::MissingDim(name.clone()))
            }
        }
    }

    /// `[[f32; I]; N]` for a shape `[N, I]`.
    fn array_type(&self, shape: &[Dim]) -> Result<String, RustEmitError> {
        let mut ty = self.target.scalar.name().to_string();
        for dim in shape.iter().rev() {
            ty = format!("[{ty}; {}]", self.dim(dim)?);
        }
        Ok(ty)
    }

    /// `[[0.0; I]; N]` for a shape `[N, I]`.
    fn zeros(&self, shape: &[Dim]) -> Result<String, RustEmitError> {
        let mut value = format!("0.0_{}", self.target.scalar.name());
        for dim in shape.iter().rev() {
            value = format!("[{value}; {}]", self.dim(dim)?);
        }
        Ok(value)
    }

    /// Returns the number of entries of a shape, as a Rust constant expression.
    fn len(&self, shape: &[Dim]) -> Result<String, RustEmitError> {
        if shape.is_empty() {
            return Ok("1".into());
        }
        let dims: Vec<String> = shape
            .iter()
            .map(|d| self.dim(d).map(|d| format!("({d})")))
            .collect::<Result<_, _>>()?;
        Ok(dims.join(" * "))
    }

    /// `&[N, I]`: the shape as a `ParamInfo` slice.
    fn shape_slice(&self, shape: &[Dim]) -> Result<String, RustEmitError> {
        let dims: Vec<String> = shape
            .iter()
            .map(|d| self.dim(d))
            .collect::<Result<_, _>>()?;
        Ok(format!("&[{}]", dims.join(", ")))
    }

    /// Returns a flat slice of a field: `&x`, `x.as_flattened()`, `core::slice::from_ref(&x)`.
    fn flat(&self, place: &str, rank: usize, mutable: bool) -> String {
        let borrow = if mutable { "&mut " } else { "&" };
        match rank {
            0 if mutable => format!("::core::slice::from_mut(&mut {place})"),
            0 => format!("::core::slice::from_ref(&{place})"),
            1 => format!("{borrow}{place}"),
            _ => {
                let method = if mutable {
                    ".as_flattened_mut()"
                } else {
                    ".as_flattened()"
                };
                format!("{place}{}", method.repeat(rank - 1))
            }
        }
    }

    fn tape_name(&self) -> String {
        format!("{}Tape", self.target.name)
    }

    fn gradients_name(&self) -> String {
        format!("{}Gradients", self.target.name)
    }

    fn tape_fields(&self) -> Vec<(Arc<str>, Vec<Dim>)> {
        let model = &self.derivation.model;
        let mut fields: Vec<(Arc<str>, Vec<Dim>)> = model
            .tensors
            .iter()
            .filter(|t| t.role != TensorRole::Param)
            .map(|t| (t.name.clone(), t.shape.clone()))
            .collect();
        fields.extend(
            model
                .relations
                .iter()
                .map(|r| (r.lhs.name.clone(), r.shape())),
        );
        fields
    }

    fn write_tape(&self, out: &mut String) -> Result<(), RustEmitError> {
        let vis = &self.target.visibility;
        let name = self.tape_name();
        writeln!(
            out,
            "/// Forward intermediates of [`{}`]: a copy of each input and target and the value of each relation.",
            self.target.name
        )
        .ok();
        out.push_str("#[allow(non_snake_case)]\n#[derive(Debug, Clone)]\n");
        writeln!(out, "{vis} struct {name}{} {{", self.generics_decl()).ok();
        for (field, shape) in self.tape_fields() {
            writeln!(out, "    pub {field}: {},", self.array_type(&shape)?).ok();
        }
        for field in self.batch_fields() {
            writeln!(
                out,
                "    {field}: ::std::vec::Vec<{}>,",
                self.target.scalar.name()
            )
            .ok();
        }
        out.push_str("}\n");
        writeln!(
            out,
            "#[automatically_derived]\nimpl{} ::core::default::Default for {name}{} {{\n    fn default() -> Self {{\n        Self {{",
            self.generics_decl(),
            self.generics_use()
        )
        .ok();
        for (field, shape) in self.tape_fields() {
            writeln!(out, "            {field}: {},", self.zeros(&shape)?).ok();
        }
        for field in self.batch_fields() {
            writeln!(out, "            {field}: ::std::vec::Vec::new(),").ok();
        }
        out.push_str("        }\n    }\n}\n");
        Ok(())
    }

    fn write_gradients(&self, out: &mut String) -> Result<(), RustEmitError> {
        let vis = &self.target.visibility;
        let name = self.gradients_name();
        let model = &self.derivation.model;
        writeln!(
            out,
            "/// Gradient accumulators of [`{}`], one per parameter with its shape, and the adjoint buffers of the backward pass.",
            self.target.name
        )
        .ok();
        out.push_str("#[allow(non_snake_case)]\n#[derive(Debug, Clone)]\n");
        writeln!(out, "{vis} struct {name}{} {{", self.generics_decl()).ok();
        for param in model.params() {
            writeln!(
                out,
                "    pub {}: {},",
                param.name,
                self.array_type(&param.shape)?
            )
            .ok();
        }
        for adjoint in &self.derivation.adjoints {
            let shape: Vec<Dim> = adjoint.wrt.indices.iter().map(|i| i.dim.clone()).collect();
            writeln!(
                out,
                "    {}: {},",
                adjoint_field(&adjoint.wrt.name),
                self.array_type(&shape)?
            )
            .ok();
        }
        out.push_str("}\n");
        writeln!(
            out,
            "#[automatically_derived]\nimpl{} ::core::default::Default for {name}{} {{\n    fn default() -> Self {{\n        Self {{",
            self.generics_decl(),
            self.generics_use()
        )
        .ok();
        for param in model.params() {
            writeln!(
                out,
                "            {}: {},",
                param.name,
                self.zeros(&param.shape)?
            )
            .ok();
        }
        for adjoint in &self.derivation.adjoints {
            let shape: Vec<Dim> = adjoint.wrt.indices.iter().map(|i| i.dim.clone()).collect();
            writeln!(
                out,
                "            {}: {},",
                adjoint_field(&adjoint.wrt.name),
                self.zeros(&shape)?
            )
            .ok();
        }
        out.push_str("        }\n    }\n}\n");
        Ok(())
    }

    fn write_default(&self, out: &mut String) -> Result<(), RustEmitError> {
        writeln!(
            out,
            "#[automatically_derived]\nimpl{} ::core::default::Default for {}{} {{\n    /// Returns a model with every parameter zero.\n    fn default() -> Self {{\n        Self {{",
            self.generics_decl(),
            self.target.name,
            self.generics_use()
        )
        .ok();
        for param in self.derivation.model.params() {
            writeln!(
                out,
                "            {}: {},",
                param.name,
                self.zeros(&param.shape)?
            )
            .ok();
        }
        out.push_str("        }\n    }\n}\n");
        Ok(())
    }

    fn write_model_impl(&self, out: &mut String) -> Result<(), RustEmitError> {
        let rt = &self.target.runtime;
        let model = &self.derivation.model;
        let scalar = self.target.scalar.name();
        let generics = self.generics_use();
        let len_of = |role: TensorRole| -> Result<String, RustEmitError> {
            let lens: Vec<String> = model
                .tensors
                .iter()
                .filter(|t| t.role == role)
                .map(|t| self.len(&t.shape))
                .collect::<Result<_, _>>()?;
            Ok(lens.join(" + "))
        };
        let output = self.output_relation()?;

        out.push_str(
            "#[automatically_derived]\n#[allow(non_snake_case, unused_parens, clippy::all)]\n",
        );
        writeln!(
            out,
            "impl{} {rt}::Model for {}{generics} {{",
            self.generics_decl(),
            self.target.name
        )
        .ok();
        writeln!(out, "type Scalar = {scalar};").ok();
        writeln!(out, "type Tape = {}{generics};", self.tape_name()).ok();
        writeln!(out, "type Gradients = {}{generics};", self.gradients_name()).ok();
        writeln!(
            out,
            "const INPUT_LEN: usize = {};",
            len_of(TensorRole::Input)?
        )
        .ok();
        writeln!(
            out,
            "const TARGET_LEN: usize = {};",
            len_of(TensorRole::Target)?
        )
        .ok();
        writeln!(
            out,
            "const OUTPUT_LEN: usize = {};",
            self.len(&output.shape())?
        )
        .ok();

        // forward
        writeln!(
            out,
            "fn forward(&self, input: &[{scalar}], target: &[{scalar}], tape: &mut Self::Tape) -> {scalar} {{"
        )
        .ok();
        self.write_copy_in(out, TensorRole::Input, "input")?;
        self.write_copy_in(out, TensorRole::Target, "target")?;
        for relation in &model.relations {
            self.write_relation(out, relation)?;
        }
        writeln!(out, "tape.{}", model.loss().lhs.name).ok();
        out.push_str("}\n");

        // predict
        writeln!(
            out,
            "fn predict(&self, input: &[{scalar}], tape: &mut Self::Tape) {{"
        )
        .ok();
        self.write_copy_in(out, TensorRole::Input, "input")?;
        let dependent = self.target_dependent();
        for relation in &model.relations {
            if !dependent.contains(&relation.lhs.name) {
                self.write_relation(out, relation)?;
            }
        }
        out.push_str("}\n");

        writeln!(
            out,
            "fn output(tape: &Self::Tape) -> &[{scalar}] {{ {} }}",
            self.flat(
                &format!("tape.{}", output.lhs.name),
                output.lhs.indices.len(),
                false
            )
        )
        .ok();

        // backward
        writeln!(
            out,
            "fn backward(&self, tape: &Self::Tape, grads: &mut Self::Gradients) {{"
        )
        .ok();
        for adjoint in &self.derivation.adjoints {
            let place = format!("grads.{}", adjoint_field(&adjoint.wrt.name));
            self.write_assignment(out, &place, &adjoint.wrt, &adjoint.recurrence, "=")?;
        }
        for gradient in &self.derivation.gradients {
            if gradient.recurrence.is_zero() {
                continue;
            }
            let place = format!("grads.{}", gradient.wrt.name);
            self.write_assignment(out, &place, &gradient.wrt, &gradient.recurrence, "+=")?;
        }
        out.push_str("}\n");

        self.write_batch_step(out)?;

        self.write_visitors(out)?;
        out.push_str("}\n");
        Ok(())
    }

    fn write_copy_in(
        &self,
        out: &mut String,
        role: TensorRole,
        slice: &str,
    ) -> Result<(), RustEmitError> {
        let mut offset = String::from("0");
        for tensor in self
            .derivation
            .model
            .tensors
            .iter()
            .filter(|t| t.role == role)
        {
            let len = self.len(&tensor.shape)?;
            let place = format!("tape.{}", tensor.name);
            if tensor.shape.is_empty() {
                writeln!(out, "{place} = {slice}[{offset}];").ok();
            } else {
                // Arrays of rank 1 coerce to slices as method receivers; deeper ones flatten.
                let receiver = match tensor.shape.len() {
                    1 => place,
                    rank => format!("{place}{}", ".as_flattened_mut()".repeat(rank - 1)),
                };
                writeln!(
                    out,
                    "{receiver}.copy_from_slice(&{slice}[{offset}..{offset} + {len}]);"
                )
                .ok();
            }
            offset = format!("{offset} + {len}");
        }
        Ok(())
    }

    fn write_relation(
        &self,
        out: &mut String,
        relation: &crate::model::RelationDef,
    ) -> Result<(), RustEmitError> {
        let place = format!("tape.{}", relation.lhs.name);
        self.write_assignment(out, &place, &relation.lhs, &relation.body, "=")
    }

    /// Writes `place[i][j] op body` inside loops over the element's indices.
    fn write_assignment(
        &self,
        out: &mut String,
        place: &str,
        lhs: &Element,
        body: &Expr,
        op: &str,
    ) -> Result<(), RustEmitError> {
        let mut indexed = place.to_string();
        for index in &lhs.indices {
            writeln!(
                out,
                "for {} in 0..{} {{",
                index_var(&index.name),
                self.dim(&index.dim)?
            )
            .ok();
            write!(indexed, "[{}]", index_var(&index.name)).ok();
        }
        let value = self.expr(body, &lhs.name)?;
        writeln!(out, "{indexed} {op} {value};").ok();
        for _ in &lhs.indices {
            out.push_str("}\n");
        }
        Ok(())
    }

    fn element(&self, element: &Element) -> String {
        let base = match (self.storage.get(&element.name), &self.batch) {
            (Some(Storage::Param), _) => format!("self.{}", element.name),
            (_, Some(layout)) => {
                return layout.access(
                    &batch::tensor_field(&element.name),
                    &element.name,
                    &element.indices,
                )
            }
            _ => format!("{}.{}", self.tape, element.name),
        };
        let mut out = base;
        for index in &element.indices {
            write!(out, "[{}]", index_var(&index.name)).ok();
        }
        out
    }

    fn number(&self, n: &Number) -> String {
        let value = n.to_f64().unwrap_or(f64::NAN);
        format!("{value:?}_{}", self.target.scalar.name())
    }

    /// Returns the Rust expression of `expr`. `context` names the quantity for error messages.
    fn expr(&self, expr: &Expr, context: &str) -> Result<String, RustEmitError> {
        let scalar = self.target.scalar.name();
        Ok(match expr {
            Expr::Num(n) => self.number(n),
            Expr::Size(dim) => format!("(({}) as {scalar})", self.dim(dim)?),
            Expr::Tensor(element) => self.element(element),
            Expr::Adjoint(element) => {
                if element.name == self.derivation.model.loss().lhs.name {
                    format!("1.0_{scalar}")
                } else if let Some(layout) = &self.batch {
                    layout.access(
                        &batch::adjoint_field(&element.name),
                        &element.name,
                        &element.indices,
                    )
                } else {
                    let mut out = format!("{}.{}", self.adjoints, adjoint_field(&element.name));
                    for index in &element.indices {
                        write!(out, "[{}]", index_var(&index.name)).ok();
                    }
                    out
                }
            }
            Expr::Partial(_) => return Err(RustEmitError::Partial(context.to_string())),
            Expr::Delta(a, b) => format!(
                "(if {} == {} {{ 1.0_{scalar} }} else {{ 0.0_{scalar} }})",
                index_var(&a.name),
                index_var(&b.name)
            ),
            Expr::Add(terms) => {
                let terms: Vec<String> = terms
                    .iter()
                    .map(|t| self.expr(t, context))
                    .collect::<Result<_, _>>()?;
                format!("({})", terms.join(" + "))
            }
            Expr::Mul(factors) => {
                let mut sign = "";
                let mut parts = Vec::new();
                for (position, factor) in factors.iter().enumerate() {
                    match factor {
                        Expr::Num(n) if position == 0 && *n == -Number::one() => sign = "-",
                        _ => parts.push(self.expr(factor, context)?),
                    }
                }
                if parts.is_empty() {
                    parts.push(format!("1.0_{scalar}"));
                }
                format!("({sign}{})", parts.join(" * "))
            }
            Expr::Pow(base, exponent) => {
                let base = self.expr(base, context)?;
                if exponent.is_integer() {
                    let n = exponent.to_integer().to_i32().unwrap_or(i32::MAX);
                    match n {
                        -1 => format!("(1.0_{scalar} / {base})"),
                        2 => format!("({{ let __b: {scalar} = {base}; __b * __b }})"),
                        _ => format!("{base}.powi({n})"),
                    }
                } else if *exponent == Number::new(1.into(), 2.into()) {
                    format!("{base}.sqrt()")
                } else if exponent.is_negative() && *exponent == -Number::new(1.into(), 2.into()) {
                    format!("(1.0_{scalar} / {base}.sqrt())")
                } else {
                    format!("{base}.powf({})", self.number(exponent))
                }
            }
            Expr::Call(function, order, arg) => match function {
                Function::Builtin(builtin) if *order == 0 => {
                    self.builtin(*builtin, &self.expr(arg, context)?)
                }
                Function::Builtin(_) => {
                    self.expr(&function_derivative(function, order - 1, arg), context)?
                }
                Function::Abstract(name) => {
                    let path = self
                        .target
                        .functions
                        .get(&(name.to_string(), *order))
                        .ok_or_else(|| RustEmitError::MissingFunction {
                            name: name.to_string(),
                            what: describe_function(name, *order),
                            key: function_key(name, *order),
                        })?;
                    format!("{path}({})", self.expr(arg, context)?)
                }
            },
            Expr::Sum(bound, body) => {
                let mut out = format!("({{ let mut __sum: {scalar} = 0.0; ");
                for index in bound {
                    write!(
                        out,
                        "for {} in 0..{} {{ ",
                        index_var(&index.name),
                        self.dim(&index.dim)?
                    )
                    .ok();
                }
                write!(out, "__sum += {}; ", self.expr(body, context)?).ok();
                for _ in bound {
                    out.push_str("} ");
                }
                out.push_str("__sum })");
                out
            }
        })
    }

    fn builtin(&self, builtin: Builtin, x: &str) -> String {
        let s = self.target.scalar.name();
        match builtin {
            Builtin::Relu => format!("{x}.max(0.0_{s})"),
            Builtin::Tanh => format!("{x}.tanh()"),
            Builtin::Logistic => format!("(1.0_{s} / (1.0_{s} + (-{x}).exp()))"),
            Builtin::Exp => format!("{x}.exp()"),
            Builtin::Log => format!("{x}.ln()"),
            Builtin::Sqrt => format!("{x}.sqrt()"),
            // log(1 + e^x) computed as max(x, 0) + log1p(e^(-|x|)), which cannot overflow.
            Builtin::Softplus => format!(
                "({{ let __x: {s} = {x}; __x.max(0.0) + (-__x.abs()).exp().ln_1p() }})"
            ),
            Builtin::Abs => format!("{x}.abs()"),
            Builtin::Sin => format!("{x}.sin()"),
            Builtin::Cos => format!("{x}.cos()"),
            Builtin::Step => format!("(if {x} > 0.0_{s} {{ 1.0_{s} }} else {{ 0.0_{s} }})"),
            Builtin::Sign => format!(
                "({{ let __x: {s} = {x}; if __x > 0.0 {{ 1.0_{s} }} else if __x < 0.0 {{ -1.0_{s} }} else {{ 0.0_{s} }} }})"
            ),
        }
    }

    fn write_visitors(&self, out: &mut String) -> Result<(), RustEmitError> {
        let scalar = self.target.scalar.name();
        let rt = &self.target.runtime;
        let params: Vec<_> = self.derivation.model.params().collect();
        let info = |name: &str, shape: &[Dim]| -> Result<String, RustEmitError> {
            Ok(format!(
                "{rt}::ParamInfo::new(\"{name}\", {})",
                self.shape_slice(shape)?
            ))
        };
        let signatures = [
            ("fn visit_params(&self, mut visit: impl FnMut({rt}::ParamInfo<'_>, &[{scalar}]))", "self", false),
            ("fn visit_params_mut(&mut self, mut visit: impl FnMut({rt}::ParamInfo<'_>, &mut [{scalar}]))", "self", true),
            ("fn visit_gradients(grads: &Self::Gradients, mut visit: impl FnMut({rt}::ParamInfo<'_>, &[{scalar}]))", "grads", false),
            ("fn visit_gradients_mut(grads: &mut Self::Gradients, mut visit: impl FnMut({rt}::ParamInfo<'_>, &mut [{scalar}]))", "grads", true),
        ];
        for (signature, owner, mutable) in signatures {
            let signature = signature.replace("{rt}", rt).replace("{scalar}", scalar);
            writeln!(out, "{signature} {{").ok();
            for param in &params {
                let place = format!("{owner}.{}", param.name);
                writeln!(
                    out,
                    "visit({}, {});",
                    info(&param.name, &param.shape)?,
                    self.flat(&place, param.shape.len(), mutable)
                )
                .ok();
            }
            out.push_str("}\n");
        }
        writeln!(
            out,
            "fn update(&mut self, grads: &Self::Gradients, mut visit: impl FnMut({rt}::ParamInfo<'_>, &mut [{scalar}], &[{scalar}])) {{"
        )
        .ok();
        for param in &params {
            writeln!(
                out,
                "visit({}, {}, {});",
                info(&param.name, &param.shape)?,
                self.flat(&format!("self.{}", param.name), param.shape.len(), true),
                self.flat(&format!("grads.{}", param.name), param.shape.len(), false)
            )
            .ok();
        }
        out.push_str("}\n");
        Ok(())
    }
}

/// The loop variable of an index. The prefix keeps index names such as `self` or `tape` from
/// clashing with the generated code's own names.
fn index_var(name: &str) -> String {
    format!("__{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derivation(source: &str) -> Derivation {
        let (checked, diagnostics) = mlp_grammar::parse_and_check(source);
        let checked = checked.unwrap_or_else(|| panic!("invalid model: {diagnostics:?}"));
        let model = crate::Model::from_checked(&checked).expect("lowering");
        crate::derive_with(&model, crate::DeriveOptions { expand: false })
    }

    fn target(dims: &[&str]) -> RustTarget {
        RustTarget {
            name: "Net".into(),
            visibility: "pub".into(),
            const_generics: dims.iter().map(|d| d.to_string()).collect(),
            scalar: ScalarType::F32,
            dims: dims
                .iter()
                .map(|d| (d.to_string(), d.to_string()))
                .collect(),
            output: None,
            functions: BTreeMap::new(),
            runtime: "::mlp_runtime".into(),
        }
    }

    const RELU_NET: &str =
        "dim I, N, O\ninput x[I]\ntarget y[O]\nparam W1[N, I], b1[N], W2[O, N], b2[O]\n\
        a[i] = sum_j W1[i, j] * x[j] + b1[i]\nh[i] = relu(a[i])\n\
        yhat[i] = sum_j W2[i, j] * h[j] + b2[i]\nL = sum_i (yhat[i] - y[i])^2\n";

    #[test]
    fn relu_net_forward_loops_over_relations() {
        let code = emit_impl(&derivation(RELU_NET), &target(&["I", "N", "O"])).expect("emits");
        assert!(code.contains("for __i in 0..N {"), "{code}");
        assert!(
            code.contains("tape.h[__i] = tape.a[__i].max(0.0_f32);"),
            "{code}"
        );
        assert!(code.contains("type Tape = NetTape<I, N, O>;"), "{code}");
        assert!(code.contains("const OUTPUT_LEN: usize = (O);"), "{code}");
        assert!(code.contains("grads.W1["), "{code}");
    }

    #[test]
    fn missing_dim_is_reported() {
        let error = emit_impl(&derivation(RELU_NET), &target(&["I", "N"])).unwrap_err();
        assert_eq!(error, RustEmitError::MissingDim("O".into()));
    }

    #[test]
    fn abstract_function_needs_a_path() {
        let source = RELU_NET
            .replace("relu", "sigma")
            .replace("dim I", "fn sigma\ndim I");
        let error = emit_impl(&derivation(&source), &target(&["I", "N", "O"])).unwrap_err();
        assert!(
            matches!(&error, RustEmitError::MissingFunction { key, .. } if key == "sigma"),
            "{error:?}"
        );
        let mut with_fns = target(&["I", "N", "O"]);
        with_fns
            .functions
            .insert(("sigma".into(), 0), "my_sigma".into());
        with_fns
            .functions
            .insert(("sigma".into(), 1), "my_sigma_prime".into());
        let code = emit_impl(&derivation(&source), &with_fns).expect("emits");
        assert!(code.contains("my_sigma_prime(tape.a["), "{code}");
    }

    #[test]
    fn output_reading_target_is_rejected() {
        let mut with_output = target(&["I", "N", "O"]);
        with_output.output = Some("L".into());
        let error = emit_impl(&derivation(RELU_NET), &with_output).unwrap_err();
        assert_eq!(error, RustEmitError::OutputReadsTarget("L".into()));
    }
}
