//! The batched training step. Every per-sample value (inputs, targets, relations, adjoints)
//! gets a buffer in the tape with one row per sample, grown on first use and then reused. Two
//! shapes of term become GEMM calls: a parameter matrix times a per-sample vector summed over
//! their shared index (`Σ_j W[i, j] h[j]`, `Σ_i ∂L/∂a[i] W[i, j]`), and a weight gradient, the
//! outer product of two per-sample vectors summed over the batch (`∂L/∂a[j] x[k]`). Every other
//! term runs as loops over the samples. The GEMM calls are the only allocations of a steady
//! batched step, because `matrixmultiply` allocates its packing buffers on every call.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use mlp_grammar::TensorRole;

use super::{Emitter, RustEmitError, Storage};
use crate::expr::{Element, Expr, Index};

/// Products with fewer multiply-adds over the whole batch than this run as loops, because for small layers
/// the setup of a GEMM kernel costs more than it saves. An estimate, not a measured crossover.
const GEMM_MIN_WORK: usize = 16_384;

/// Returns the tape field that holds a tensor's values for every sample.
pub(super) fn tensor_field(name: &str) -> String {
    format!("__batch_{name}")
}

/// Returns the tape field that holds `∂L/∂name` for every sample.
pub(super) fn adjoint_field(name: &str) -> String {
    format!("__batch_adjoint_{name}")
}

/// The row length and axis sizes of every per-sample buffer, as Rust expressions, and where
/// inputs and targets are read: straight from the caller's rows, which saves copying them.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    shapes: HashMap<Arc<str>, (String, Vec<String>)>,
    /// For inputs and targets: the slice (`inputs`), its row length and the tensor's offset.
    rows: HashMap<Arc<str>, (&'static str, &'static str, String)>,
    /// Set inside a per-sample loop that bound each buffer's row to `__row_<field>`, a
    /// fixed-size array, so element reads need no bounds check.
    rows_bound: bool,
}

impl Layout {
    /// Returns the expression of one element of a per-sample value for sample `__b`.
    pub(super) fn access(&self, field: &str, name: &str, indices: &[Index]) -> String {
        let (len, dims) = &self.shapes[name];
        let mut flat = String::from("0");
        for (index, dim) in indices.iter().zip(dims) {
            flat = format!("({flat}) * ({dim}) + {}", super::index_var(&index.name));
        }
        if self.rows_bound {
            return format!("__row_{field}[{flat}]");
        }
        match self.rows.get(name) {
            Some((slice, row_len, offset)) if field == tensor_field(name) => {
                format!("{slice}[__b * {row_len} + ({offset}) + {flat}]")
            }
            _ => format!("tape.{field}[__b * ({len}) + {flat}]"),
        }
    }

    /// Returns the type of a bound row: a fixed-size array where stable Rust can name its
    /// length (a scalar or a vector), else a slice.
    fn row_type(&self, name: &str, scalar: &str) -> String {
        match self.shapes[name].1.as_slice() {
            [] => format!("[{scalar}; 1]"),
            [dim] => format!("[{scalar}; {dim}]"),
            _ => format!("[{scalar}]"),
        }
    }

    /// Returns the slice expression of sample `__b`'s row of a per-sample value.
    fn row_of(&self, field: &str, name: &str, mutable: bool) -> String {
        let len = self.len(name);
        let borrow = if mutable { "&mut " } else { "&" };
        match self.rows.get(name) {
            Some((slice, row_len, offset)) if field == tensor_field(name) => format!(
                "{borrow}{slice}[__b * {row_len} + ({offset})..__b * {row_len} + ({offset}) + ({len})]"
            ),
            _ => format!("{borrow}tape.{field}[__b * ({len})..(__b + 1) * ({len})]"),
        }
    }

    /// Returns a slice expression that starts at sample 0 of a per-sample value, and the
    /// distance between samples.
    fn rows_of(&self, field: &str, name: &str) -> (String, String) {
        match self.rows.get(name) {
            Some((slice, row_len, offset)) if field == tensor_field(name) => {
                (format!("&{slice}[{offset}..]"), row_len.to_string())
            }
            _ => (
                format!("&tape.{field}[..]"),
                format!("({})", self.len(name)),
            ),
        }
    }

    fn len(&self, name: &str) -> &str {
        &self.shapes[name].0
    }
}

/// Where a batched assignment writes.
enum Place<'a> {
    /// A per-sample batch buffer of the tape, by field name.
    Buffer(String),
    /// A parameter gradient, summed over the samples.
    Gradient(&'a str),
}

/// The beta of a GEMM call.
#[derive(Debug, Clone, Copy)]
enum Beta {
    /// A literal such as `0.0` or `1.0`.
    Fixed(&'static str),
    /// 0 while the generated `__fresh` flag is set, else 1.
    ZeroWhileFresh,
}

/// A GEMM call `c ← alpha a b + beta c`, each operand a slice expression and its strides.
struct Gemm {
    shape: (String, String, String),
    alpha: String,
    a: (String, String, String),
    b: (String, String, String),
    c: (String, String, String),
    /// Multiply-adds per sample, to choose between the call and loops at run time.
    work: String,
}

impl Emitter<'_> {
    /// Returns the names of the batch buffers of the tape.
    pub(super) fn batch_fields(&self) -> Vec<String> {
        let model = &self.derivation.model;
        let mut fields: Vec<String> = model
            .relations
            .iter()
            .map(|r| tensor_field(r.name()))
            .collect();
        fields.extend(
            self.derivation
                .adjoints
                .iter()
                .map(|a| adjoint_field(&a.wrt.name)),
        );
        fields
    }

    fn layout(&self) -> Result<Layout, RustEmitError> {
        let model = &self.derivation.model;
        let mut shapes = HashMap::new();
        let named = model
            .tensors
            .iter()
            .filter(|t| t.role != TensorRole::Param)
            .map(|t| (t.name.clone(), t.shape.clone()))
            .chain(
                model
                    .relations
                    .iter()
                    .map(|r| (r.lhs.name.clone(), r.shape())),
            );
        for (name, shape) in named {
            let dims = shape
                .iter()
                .map(|d| self.dim(d))
                .collect::<Result<Vec<_>, _>>()?;
            shapes.insert(name, (self.len(&shape)?, dims));
        }
        let mut rows = HashMap::new();
        for (role, slice, row_len) in [
            (TensorRole::Input, "inputs", "__input_len"),
            (TensorRole::Target, "targets", "__target_len"),
        ] {
            let mut offset = String::from("0");
            for tensor in model.tensors.iter().filter(|t| t.role == role) {
                rows.insert(tensor.name.clone(), (slice, row_len, offset.clone()));
                offset = format!("{offset} + ({})", self.len(&tensor.shape)?);
            }
        }
        Ok(Layout {
            shapes,
            rows,
            rows_bound: false,
        })
    }

    /// Writes `forward_backward_batch`: the forward pass, the adjoints and the summed parameter
    /// gradients of a whole mini-batch, with GEMM calls where the layers are large enough.
    pub(super) fn write_batch_step(&self, out: &mut String) -> Result<(), RustEmitError> {
        let scalar = self.target.scalar.name();
        for (method, overwrite) in [("forward_backward_batch", false), ("gradients_batch", true)] {
            writeln!(
                out,
                "fn {method}(&self, inputs: &[{scalar}], targets: &[{scalar}], tape: &mut Self::Tape, grads: &mut Self::Gradients) -> {scalar} {{ self.__mlp_batch_step(inputs, targets, tape, grads, {overwrite}) }}"
            )
            .ok();
        }
        Ok(())
    }

    /// Writes the inherent impl with the batched step that both batch methods of the `Model`
    /// impl call.
    pub(super) fn write_batch_helper(&self, out: &mut String) -> Result<(), RustEmitError> {
        let batched = Emitter {
            derivation: self.derivation,
            target: self.target,
            storage: self.storage.clone(),
            tape: self.tape,
            adjoints: self.adjoints,
            batch: Some(self.layout()?),
        };
        writeln!(
            out,
            "#[automatically_derived]\n#[allow(non_snake_case, unused_parens)]\nimpl{} {}{} {{",
            self.generics_decl(),
            self.target.name,
            self.generics_use()
        )
        .ok();
        batched.write_batch_body(out)?;
        out.push_str("}\n");
        Ok(())
    }

    fn write_batch_body(&self, out: &mut String) -> Result<(), RustEmitError> {
        let model = &self.derivation.model;
        let layout = self
            .batch
            .as_ref()
            .expect("the batched emitter has a layout");
        let scalar = self.target.scalar.name();
        let rt = &self.target.runtime;
        let model_trait = format!("<Self as {rt}::Model>");
        writeln!(
            out,
            "#[doc(hidden)]\n#[allow(clippy::all)]\nfn __mlp_batch_step(&self, inputs: &[{scalar}], targets: &[{scalar}], tape: &mut {model_trait}::Tape, grads: &mut {model_trait}::Gradients, __overwrite: bool) -> {scalar} {{"
        )
        .ok();
        writeln!(
            out,
            "let __input_len = {model_trait}::INPUT_LEN;\nlet __target_len = {model_trait}::TARGET_LEN;\nlet __n = ::core::cmp::min(inputs.len() / __input_len, targets.len() / __target_len);"
        )
        .ok();
        // Without a product large enough for GEMM, the batch buffers only add copies: small
        // batches and small layers run the per-sample passes, which keep values in the tape.
        let max_work = self.max_gemm_work()?;
        writeln!(
            out,
            "if __n * ({max_work}) < {GEMM_MIN_WORK} {{ if __overwrite {{ {model_trait}::zero_gradients(grads); }} let mut __loss: {scalar} = 0.0; for __b in 0..__n {{ __loss += {model_trait}::forward(self, &inputs[__b * __input_len..(__b + 1) * __input_len], &targets[__b * __target_len..(__b + 1) * __target_len], tape); {model_trait}::backward(self, tape, grads); }} return __loss; }}"
        )
        .ok();
        // Buffers grow only when a larger batch arrives, so steady-state steps do not allocate.
        for relation in &model.relations {
            self.write_grow(
                out,
                &tensor_field(relation.name()),
                layout.len(relation.name()),
            );
        }
        for adjoint in &self.derivation.adjoints {
            self.write_grow(
                out,
                &adjoint_field(&adjoint.wrt.name),
                layout.len(&adjoint.wrt.name),
            );
        }

        for relation in &model.relations {
            let place = Place::Buffer(tensor_field(relation.name()));
            self.write_batch_assignment(out, &place, &relation.lhs, &relation.body)?;
        }
        for adjoint in &self.derivation.adjoints {
            let place = Place::Buffer(adjoint_field(&adjoint.wrt.name));
            self.write_batch_assignment(out, &place, &adjoint.wrt, &adjoint.recurrence)?;
        }
        for gradient in &self.derivation.gradients {
            if gradient.recurrence.is_zero() {
                continue;
            }
            let place = Place::Gradient(&gradient.wrt.name);
            self.write_batch_assignment(out, &place, &gradient.wrt, &gradient.recurrence)?;
        }

        let loss = tensor_field(model.loss().name());
        writeln!(
            out,
            "let mut __loss: {scalar} = 0.0; for __b in 0..__n {{ __loss += tape.{loss}[__b]; }} __loss"
        )
        .ok();
        out.push_str("}\n");
        Ok(())
    }

    /// Returns the largest per-sample work of a term that can run as GEMM, as a Rust
    /// expression; `0` if there is none.
    fn max_gemm_work(&self) -> Result<String, RustEmitError> {
        let mut works = Vec::new();
        let mut collect =
            |place: &Place<'_>, lhs: &Element, body: &Expr| -> Result<(), RustEmitError> {
                let terms: Vec<&Expr> = match body {
                    Expr::Add(terms) => terms.iter().collect(),
                    other => vec![other],
                };
                for term in terms {
                    if let Some(gemm) = self.match_gemm(place, lhs, term)? {
                        works.push(gemm.work);
                    }
                }
                Ok(())
            };
        for relation in &self.derivation.model.relations {
            collect(
                &Place::Buffer(tensor_field(relation.name())),
                &relation.lhs,
                &relation.body,
            )?;
        }
        for adjoint in &self.derivation.adjoints {
            collect(
                &Place::Buffer(adjoint_field(&adjoint.wrt.name)),
                &adjoint.wrt,
                &adjoint.recurrence,
            )?;
        }
        for gradient in &self.derivation.gradients {
            collect(
                &Place::Gradient(&gradient.wrt.name),
                &gradient.wrt,
                &gradient.recurrence,
            )?;
        }
        let mut max = String::from("0_usize");
        for work in works {
            max = format!("{max}.max({work})");
        }
        Ok(max)
    }

    fn write_grow(&self, out: &mut String, field: &str, len: &str) {
        writeln!(
            out,
            "if tape.{field}.len() < __n * ({len}) {{ tape.{field}.resize(__n * ({len}), 0.0); }}"
        )
        .ok();
    }

    /// Writes one relation, adjoint or gradient for every sample, term by term.
    fn write_batch_assignment(
        &self,
        out: &mut String,
        place: &Place<'_>,
        lhs: &Element,
        body: &Expr,
    ) -> Result<(), RustEmitError> {
        let terms: Vec<&Expr> = match body {
            Expr::Add(terms) => terms.iter().collect(),
            other => vec![other],
        };
        let mut classified = Vec::with_capacity(terms.len());
        for term in terms {
            classified.push((term, self.match_gemm(place, lhs, term)?));
        }
        let Place::Gradient(name) = place else {
            // A buffer is overwritten: loop terms come first, the first of them writing with `=`,
            // so no pass clears the buffer, and GEMM terms then add with beta = 1. If every term
            // is a GEMM, the first writes with beta = 0.
            classified.sort_by_key(|(_, gemm)| gemm.is_some());
            for (position, (term, gemm)) in classified.iter().enumerate() {
                let first = position == 0;
                let op = if first { "=" } else { "+=" };
                if let Some(gemm) = gemm {
                    let beta = if first { "0.0" } else { "1.0" };
                    writeln!(out, "if __n * ({}) >= {GEMM_MIN_WORK} {{", gemm.work).ok();
                    self.write_gemm(out, gemm, Beta::Fixed(beta));
                    out.push_str("} else {\n");
                    self.write_term_loop(out, place, lhs, term, op)?;
                    out.push_str("}\n");
                } else {
                    self.write_term_loop(out, place, lhs, term, op)?;
                }
            }
            return Ok(());
        };
        // A gradient is overwritten rather than accumulated when `__overwrite` is set: its first
        // term then writes with beta = 0, or zeroes the gradient before a loop adds to it.
        out.push_str("let mut __fresh = __overwrite;\n");
        let scalar = self.target.scalar.name();
        let zero_if_fresh = |out: &mut String| {
            writeln!(
                out,
                "if __fresh {{ ({}).fill(0.0_{scalar}); }}",
                self.flat(&format!("grads.{name}"), lhs.indices.len(), true)
            )
            .ok();
        };
        for (term, gemm) in &classified {
            if let Some(gemm) = gemm {
                writeln!(out, "if __n * ({}) >= {GEMM_MIN_WORK} {{", gemm.work).ok();
                self.write_gemm(out, gemm, Beta::ZeroWhileFresh);
                out.push_str("} else {\n");
            }
            zero_if_fresh(out);
            self.write_term_loop(out, place, lhs, term, "+=")?;
            if gemm.is_some() {
                out.push_str("}\n");
            }
            out.push_str("__fresh = false;\n");
        }
        Ok(())
    }

    /// Writes `place op term` in loops over the samples and the element's indices.
    fn write_term_loop(
        &self,
        out: &mut String,
        place: &Place<'_>,
        lhs: &Element,
        term: &Expr,
        op: &str,
    ) -> Result<(), RustEmitError> {
        let layout = self
            .batch
            .as_ref()
            .expect("the batched emitter has a layout");
        let scalar = self.target.scalar.name();
        out.push_str("for __b in 0..__n {\n");
        // Each row a loop reads or writes is bound once per sample to a fixed-size array, so the
        // element accesses inside compile without bounds checks.
        let destination = match place {
            Place::Buffer(field) => Some(field.clone()),
            Place::Gradient(_) => None,
        };
        let mut rows: Vec<(String, Arc<str>)> = Vec::new();
        let loss = &self.derivation.model.loss().lhs.name;
        term.walk(&mut |e| {
            let row = match e {
                Expr::Tensor(element)
                    if self.storage.get(&element.name) == Some(&Storage::Tape) =>
                {
                    Some((tensor_field(&element.name), element.name.clone()))
                }
                Expr::Adjoint(element) if &element.name != loss => {
                    Some((adjoint_field(&element.name), element.name.clone()))
                }
                _ => None,
            };
            if let Some(row) = row {
                if !rows.contains(&row) && Some(&row.0) != destination.as_ref() {
                    rows.push(row);
                }
            }
        });
        for (field, name) in &rows {
            writeln!(
                out,
                "let __row_{field}: &{} = ::core::convert::TryInto::try_into({}).expect(\"a row has its tensor's length\");",
                layout.row_type(name, scalar),
                layout.row_of(field, name, false)
            )
            .ok();
        }
        if let Some(field) = &destination {
            writeln!(
                out,
                "let __row_{field}: &mut {} = ::core::convert::TryInto::try_into({}).expect(\"a row has its tensor's length\");",
                layout.row_type(&lhs.name, scalar),
                layout.row_of(field, &lhs.name, true)
            )
            .ok();
        }
        let bound = Emitter {
            derivation: self.derivation,
            target: self.target,
            storage: self.storage.clone(),
            tape: self.tape,
            adjoints: self.adjoints,
            batch: Some(Layout {
                rows_bound: true,
                ..layout.clone()
            }),
        };
        for index in &lhs.indices {
            writeln!(
                out,
                "for {} in 0..{} {{",
                super::index_var(&index.name),
                self.dim(&index.dim)?
            )
            .ok();
        }
        let target = match place {
            Place::Buffer(field) => bound
                .batch
                .as_ref()
                .expect("the bound emitter has a layout")
                .access(field, &lhs.name, &lhs.indices),
            Place::Gradient(name) => {
                let mut target = format!("grads.{name}");
                for index in &lhs.indices {
                    write!(target, "[{}]", super::index_var(&index.name)).ok();
                }
                target
            }
        };
        writeln!(out, "{target} {op} {};", bound.expr(term, &lhs.name)?).ok();
        for _ in &lhs.indices {
            out.push_str("}\n");
        }
        out.push_str("}\n");
        Ok(())
    }

    fn write_gemm(&self, out: &mut String, gemm: &Gemm, beta: Beta) {
        let rt = &self.target.runtime;
        let scalar = self.target.scalar.name();
        let strides = |row: &str, col: &str| format!("{rt}::Strides {{ row: {row}, col: {col} }}");
        let beta = match beta {
            Beta::Fixed(value) => format!("{value}_{scalar}"),
            Beta::ZeroWhileFresh => {
                format!("if __fresh {{ 0.0_{scalar} }} else {{ 1.0_{scalar} }}")
            }
        };
        writeln!(
            out,
            "{rt}::gemm(({}, {}, {}), {}, ({}, {}), ({}, {}), {beta}, ({}, {}));",
            gemm.shape.0,
            gemm.shape.1,
            gemm.shape.2,
            gemm.alpha,
            gemm.a.0,
            strides(&gemm.a.1, &gemm.a.2),
            gemm.b.0,
            strides(&gemm.b.1, &gemm.b.2),
            gemm.c.0,
            strides(&gemm.c.1, &gemm.c.2),
        )
        .ok();
    }

    /// Returns the rows of a per-sample element with one index (a non-parameter tensor or an
    /// adjoint other than the loss's): a slice expression, the distance between samples and the
    /// index.
    fn vector_rows(&self, factor: &Expr) -> Option<(String, String, Index)> {
        let layout = self.batch.as_ref()?;
        let loss = &self.derivation.model.loss().lhs.name;
        let (field, element) = match factor {
            Expr::Tensor(element) if self.storage.get(&element.name) == Some(&Storage::Tape) => {
                (tensor_field(&element.name), element)
            }
            Expr::Adjoint(element) if &element.name != loss => {
                (adjoint_field(&element.name), element)
            }
            _ => return None,
        };
        let [index] = element.indices.as_slice() else {
            return None;
        };
        let (slice, stride) = layout.rows_of(&field, &element.name);
        Some((slice, stride, index.clone()))
    }

    /// Splits a product into its numeric coefficient and its other factors.
    fn coefficient_and_factors<'e>(&self, expr: &'e Expr) -> (String, Vec<&'e Expr>) {
        let scalar = self.target.scalar.name();
        let factors: Vec<&Expr> = match expr {
            Expr::Mul(factors) => factors.iter().collect(),
            other => vec![other],
        };
        match factors.first() {
            Some(Expr::Num(n)) => (self.number(n), factors[1..].to_vec()),
            _ => (format!("1.0_{scalar}"), factors),
        }
    }

    /// Recognizes the two GEMM shapes described in the module documentation.
    fn match_gemm(
        &self,
        place: &Place<'_>,
        lhs: &Element,
        term: &Expr,
    ) -> Result<Option<Gemm>, RustEmitError> {
        match place {
            Place::Buffer(field) => self.match_matrix_vector(field, lhs, term),
            Place::Gradient(name) => self.match_outer_product(name, lhs, term),
        }
    }

    /// `out[o] = Σ_s P[o, s] v[s]` (or `P[s, o]`) for every sample: `OUT = V · Pᵀ` (or `V · P`).
    fn match_matrix_vector(
        &self,
        field: &str,
        lhs: &Element,
        term: &Expr,
    ) -> Result<Option<Gemm>, RustEmitError> {
        let (Expr::Sum(bound, body), [out_index]) = (term, lhs.indices.as_slice()) else {
            return Ok(None);
        };
        let [summed] = bound.as_slice() else {
            return Ok(None);
        };
        let (alpha, factors) = self.coefficient_and_factors(body);
        let [first, second] = factors.as_slice() else {
            return Ok(None);
        };
        for (matrix, vector) in [(first, second), (second, first)] {
            let Expr::Tensor(param) = matrix else {
                continue;
            };
            if self.storage.get(&param.name) != Some(&Storage::Param) || param.indices.len() != 2 {
                continue;
            }
            let Some((rows, stride, vector_index)) = self.vector_rows(vector) else {
                continue;
            };
            if vector_index != *summed || out_index == summed {
                continue;
            }
            let k = self.dim(&summed.dim)?;
            let n = self.dim(&out_index.dim)?;
            // Element (s, o) of the second operand, read from the parameter's row-major storage.
            let (row, col) = if param.indices[0] == *out_index && param.indices[1] == *summed {
                ("1".to_string(), format!("({k})"))
            } else if param.indices[0] == *summed && param.indices[1] == *out_index {
                (format!("({n})"), "1".to_string())
            } else {
                continue;
            };
            return Ok(Some(Gemm {
                shape: ("__n".into(), format!("({k})"), format!("({n})")),
                alpha,
                a: (rows, stride, "1".into()),
                b: (format!("self.{}.as_flattened()", param.name), row, col),
                c: (
                    format!("&mut tape.{field}[..]"),
                    format!("({n})"),
                    "1".into(),
                ),
                work: format!("({k}) * ({n})"),
            }));
        }
        Ok(None)
    }

    /// `G[j, k] += Σ_b u[b, j] v[b, k]`: `G += Uᵀ · V` over the samples.
    fn match_outer_product(
        &self,
        name: &str,
        lhs: &Element,
        term: &Expr,
    ) -> Result<Option<Gemm>, RustEmitError> {
        let [row_index, col_index] = lhs.indices.as_slice() else {
            return Ok(None);
        };
        if row_index == col_index {
            return Ok(None);
        }
        let (alpha, factors) = self.coefficient_and_factors(term);
        let [first, second] = factors.as_slice() else {
            return Ok(None);
        };
        let (Some(first), Some(second)) = (self.vector_rows(first), self.vector_rows(second))
        else {
            return Ok(None);
        };
        let (rows, cols) = if first.2 == *row_index && second.2 == *col_index {
            (first, second)
        } else if second.2 == *row_index && first.2 == *col_index {
            (second, first)
        } else {
            return Ok(None);
        };
        let m = self.dim(&row_index.dim)?;
        let n = self.dim(&col_index.dim)?;
        Ok(Some(Gemm {
            shape: (format!("({m})"), "__n".into(), format!("({n})")),
            alpha,
            a: (rows.0, "1".into(), rows.1),
            b: (cols.0, cols.1, "1".into()),
            c: (
                format!("grads.{name}.as_flattened_mut()"),
                format!("({n})"),
                "1".into(),
            ),
            work: format!("({m}) * ({n})"),
        }))
    }
}
