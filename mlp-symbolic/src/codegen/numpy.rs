//! Emission of a self-contained Python module that runs a model's forward pass and its derived
//! backprop recurrence with numpy, so that anyone can cross-check a derivation numerically.
//!
//! Each relation, adjoint and gradient becomes one assignment. Products and sums over indices
//! become `np.einsum` calls, functions and powers stay element-wise, a Kronecker delta becomes
//! `np.eye`, and the terms of a sum are transposed and broadcast to a common axis order.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use mlp_grammar::TensorRole;
use num_traits::{One, Signed, Zero};

use crate::chain_rule::function_derivative;
use crate::expr::{Builtin, Dim, Element, Expr, Function, Index, Number};
use crate::gradient::Derivation;
use crate::render::{render, render_derivative_of, render_element, Format};

/// A reason a derivation cannot be written as numpy code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// An expression uses more distinct indices than einsum has subscript letters.
    #[error("`{target}` uses {count} distinct indices, but einsum has only 52 subscript letters")]
    TooManyIndices {
        /// The quantity being computed, such as `∂L/∂W1[j,k]`.
        target: String,
        /// The number of distinct indices.
        count: usize,
    },
    /// An expression still contains an unevaluated partial derivative.
    #[error("`{target}` contains an unevaluated partial derivative, which has no numeric value")]
    Partial {
        /// The quantity being computed.
        target: String,
    },
    /// An expression has a free index that its left side does not have.
    #[error("`{target}` has the free index `{index}`, which its left side does not bind")]
    UnboundIndex {
        /// The quantity being computed.
        target: String,
        /// The index's name.
        index: String,
    },
}

/// The einsum subscript letters, in the order they are handed out.
const LETTERS: &str = "ijklmnopqrstuvwxyzabcdefghABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Writes the Python module for a derivation. `source_name` names the model file in the
/// module's docstring.
///
/// # Errors
///
/// Fails if an expression needs more than 52 einsum letters, contains an unevaluated partial
/// derivative, or has a free index that its left side lacks.
pub fn emit(derivation: &Derivation, source_name: &str) -> Result<String, EmitError> {
    let model = &derivation.model;
    let mut out = String::new();
    write_docstring(&mut out, derivation, source_name);
    out.push_str("import numpy as np\n\n");
    write_metadata(&mut out, derivation);
    out.push_str(PRELUDE);

    let forward_functions = required_functions(model.relations.iter().map(|r| &r.body));
    let all_functions = required_functions(
        model
            .relations
            .iter()
            .map(|r| &r.body)
            .chain(derivation.adjoints.iter().map(|a| &a.recurrence))
            .chain(derivation.gradients.iter().map(|g| &g.recurrence)),
    );

    out.push_str("\n\ndef forward(params, inputs, fns={}):\n");
    out.push_str("    \"\"\"Return the value of every relation, by name.\"\"\"\n");
    writeln!(
        out,
        "    _check_functions(fns, {})",
        python_tuple(&forward_functions)
    )
    .ok();
    out.push_str("    v, d = _read_tensors(params, inputs)\n");
    out.push_str("    _forward(v, d, fns)\n");
    out.push_str("    return {name: v[name] for name in RELATIONS}\n");

    out.push_str("\n\ndef _forward(v, d, fns):\n");
    out.push_str("    \"\"\"Compute every relation into `v`, in a topological order.\"\"\"\n");
    for relation in &model.relations {
        let comment = format!(
            "{} = {}",
            render_element(&relation.lhs, Format::Unicode),
            render(&relation.body, Format::Unicode)
        );
        let code = emit_assignment(&relation.body, &relation.lhs.indices, &comment)?;
        writeln!(out, "    # {comment}").ok();
        writeln!(out, "    v[\"{}\"] = {code}", relation.lhs.name).ok();
    }

    out.push_str("\n\ndef gradients(params, inputs, fns={}):\n");
    writeln!(
        out,
        "    \"\"\"Return ∂{}/∂P for every parameter P, by name, shaped like P.\"\"\"",
        model.loss().lhs.name
    )
    .ok();
    writeln!(
        out,
        "    _check_functions(fns, {})",
        python_tuple(&all_functions)
    )
    .ok();
    out.push_str("    v, d = _read_tensors(params, inputs)\n");
    out.push_str("    _forward(v, d, fns)\n");
    out.push_str("    adj = {}\n");
    for adjoint in &derivation.adjoints {
        let lhs = render_derivative_of(&adjoint.loss, &adjoint.wrt, Format::Unicode);
        let comment = format!("{lhs} = {}", render(&adjoint.recurrence, Format::Unicode));
        let code = emit_assignment(&adjoint.recurrence, &adjoint.wrt.indices, &comment)?;
        writeln!(out, "    # {comment}").ok();
        writeln!(out, "    adj[\"{}\"] = {code}", adjoint.wrt.name).ok();
    }
    out.push_str("    grad = {}\n");
    for gradient in &derivation.gradients {
        let lhs = render_derivative_of(&gradient.loss, &gradient.wrt, Format::Unicode);
        let comment = format!("{lhs} = {}", render(&gradient.recurrence, Format::Unicode));
        let code = emit_assignment(&gradient.recurrence, &gradient.wrt.indices, &comment)?;
        writeln!(out, "    # {comment}").ok();
        writeln!(out, "    grad[\"{}\"] = {code}", gradient.wrt.name).ok();
    }
    out.push_str("    return grad\n");
    Ok(out)
}

fn write_docstring(out: &mut String, derivation: &Derivation, source_name: &str) {
    let model = &derivation.model;
    let loss = &model.loss().lhs.name;
    let declared = |roles: &[TensorRole]| -> String {
        let items: Vec<String> = model
            .tensors
            .iter()
            .filter(|t| roles.contains(&t.role))
            .map(|t| {
                let element = Element::new(&t.name, Vec::new());
                let mut text = render_element(&element, Format::Ascii);
                if !t.shape.is_empty() {
                    let dims: Vec<String> = t.shape.iter().map(ToString::to_string).collect();
                    write!(text, "[{}]", dims.join(", ")).ok();
                }
                text
            })
            .collect();
        if items.is_empty() {
            "none".into()
        } else {
            items.join(", ")
        }
    };
    writeln!(
        out,
        "\"\"\"The forward pass and the gradients of the model in {}.",
        python_docstring_text(source_name)
    )
    .ok();
    out.push_str("\nEmitted by `mlp derive --emit numpy`.\n\n");
    out.push_str("forward(params, inputs, fns={}) returns the value of every relation, by name.\n");
    writeln!(
        out,
        "gradients(params, inputs, fns={{}}) returns ∂{loss}/∂P for every parameter P, by name,\n\
         shaped like P. It evaluates the derived backprop recurrence: each adjoint ∂{loss}/∂R of a\n\
         relation R from the adjoints before it, then each parameter's gradient from the adjoints.\n\
         No automatic differentiation is involved."
    )
    .ok();
    writeln!(
        out,
        "\nparams: {}\ninputs: {}",
        declared(&[TensorRole::Param]),
        declared(&[TensorRole::Input, TensorRole::Target])
    )
    .ok();
    if model.functions.is_empty() {
        out.push_str("fns: none (the model declares no abstract function)\n");
    } else {
        let names: Vec<&str> = model.functions.iter().map(|f| &**f).collect();
        writeln!(
            out,
            "fns: for each abstract function f ({}), a callable \"f\" applied element-wise to\n\
             arrays, and \"f_prime\", \"f_prime2\", ... for each derivative the model uses",
            names.join(", ")
        )
        .ok();
    }
    out.push_str(
        "\nEach dimension takes its size from the first declared tensor that uses it. A shape that\n\
         disagrees with it, with a literal size or with a `dim N = size` declaration raises\n\
         ValueError.\n\"\"\"\n\n",
    );
}

fn write_metadata(out: &mut String, derivation: &Derivation) {
    let model = &derivation.model;
    writeln!(out, "LOSS = \"{}\"", model.loss().lhs.name).ok();
    let relations: Vec<String> = model
        .relations
        .iter()
        .map(|r| r.lhs.name.to_string())
        .collect();
    writeln!(out, "RELATIONS = {}", python_tuple(&relations)).ok();
    let params: Vec<String> = model.params().map(|p| p.name.to_string()).collect();
    writeln!(out, "PARAMS = {}", python_tuple(&params)).ok();
    writeln!(
        out,
        "FUNCTIONS = {}",
        python_tuple(
            &model
                .functions
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        )
    )
    .ok();
    out.push_str(
        "# The declared tensors in declaration order: name, role, and one dimension per axis\n\
         # (a dimension's name, or a literal size).\n",
    );
    out.push_str("TENSORS = (\n");
    for tensor in &model.tensors {
        let role = match tensor.role {
            TensorRole::Input => "input",
            TensorRole::Target => "target",
            TensorRole::Param => "param",
        };
        let dims: Vec<String> = tensor.shape.iter().map(python_dim).collect();
        let shape = match dims.len() {
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.join(", ")),
        };
        writeln!(out, "    (\"{}\", \"{role}\", {shape}),", tensor.name).ok();
    }
    out.push_str(")\n");
    out.push_str("# Sizes given by `dim N = size` declarations.\n");
    let fixed: Vec<String> = model
        .dims
        .iter()
        .filter_map(|(name, value)| value.map(|v| format!("\"{name}\": {v}")))
        .collect();
    writeln!(out, "DIM_SIZES = {{{}}}", fixed.join(", ")).ok();
    out.push_str("# Every named dimension the computation uses.\n");
    writeln!(out, "DIMS = {}", python_tuple(&used_dims(derivation))).ok();
}

/// The Python helpers every module shares.
const PRELUDE: &str = r#"

def relu(x):
    return np.maximum(x, 0.0)


def logistic(x):
    # 1 / (1 + e^-x) written with tanh, which does not overflow for large |x|.
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def softplus(x):
    # log(1 + e^x) without overflow for large x.
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def step(x):
    return np.where(np.asarray(x) > 0, 1.0, 0.0)


def _align(x, source, target):
    """Transpose `x`, whose axes are named by the letters of `source`, to the order of `target`,
    with a length-1 axis for each letter of `target` that `source` lacks, so that it broadcasts."""
    x = np.asarray(x)
    present = [letter for letter in target if letter in source]
    x = np.transpose(x, [source.index(letter) for letter in present])
    return x.reshape([x.shape[present.index(c)] if c in source else 1 for c in target])


def _broadcast(x, shape):
    """Return `x` as a float64 array of the given shape."""
    return np.broadcast_to(np.asarray(x, dtype=np.float64), shape).copy()


def _check_functions(fns, names):
    missing = [name for name in names if name not in fns]
    if missing:
        raise ValueError(
            f"fns is missing {', '.join(missing)}: pass a callable for each abstract function "
            "and for each derivative of it that the model uses"
        )


def _read_tensors(params, inputs):
    """Return every declared tensor as a float64 array, by name, and the size of every dimension."""
    values = {}
    dims = dict(DIM_SIZES)
    origins = {name: f"`dim {name} = {size}`" for name, size in DIM_SIZES.items()}
    for name, role, shape in TENSORS:
        given = params if role == "param" else inputs
        where = "params" if role == "param" else "inputs"
        if name not in given:
            raise ValueError(f"{where} is missing the {role} {name!r}")
        value = np.asarray(given[name], dtype=np.float64)
        if value.ndim != len(shape):
            raise ValueError(
                f"{role} {name!r} must have {len(shape)} axes {shape}, but has shape {value.shape}"
            )
        for axis, (dim, size) in enumerate(zip(shape, value.shape)):
            if isinstance(dim, int):
                if size != dim:
                    raise ValueError(
                        f"axis {axis} of {role} {name!r} has size {size}, but its declaration "
                        f"gives size {dim}"
                    )
                continue
            if dim in dims:
                expected, origin = dims[dim], origins[dim]
            else:
                dims[dim] = size
                origins[dim] = f"axis {axis} of {name!r}"
                continue
            if size != expected:
                raise ValueError(
                    f"axis {axis} of {role} {name!r} has size {size}, but dimension {dim} "
                    f"has size {expected} (from {origin})"
                )
        values[name] = value
    for dim in DIMS:
        if dim not in dims:
            raise ValueError(
                f"dimension {dim} has no size: no declared tensor uses it, so declare it as "
                f"`dim {dim} = size`"
            )
    return values, dims
"#;

/// Emits the right side of one assignment, with the axes in the order of `lhs`.
fn emit_assignment(expr: &Expr, lhs: &[Index], target: &str) -> Result<String, EmitError> {
    let mut emitter = ExprEmitter::new(expr, lhs, target)?;
    let code = emitter.emit(expr, Some(lhs))?;
    for index in &code.axes {
        if !lhs.contains(index) {
            return Err(EmitError::UnboundIndex {
                target: target.to_string(),
                index: index.name.to_string(),
            });
        }
    }
    let mut text = code.text;
    if !code.axes.is_empty() && code.axes != lhs {
        text = format!(
            "_align({text}, \"{}\", \"{}\")",
            emitter.subscripts(&code.axes),
            emitter.subscripts(lhs)
        );
    }
    // A constant or a term without some axis of the left side still needs the full shape.
    if code.axes.len() < lhs.len() || !mentions_tensor(expr) {
        let sizes: Vec<String> = lhs.iter().map(|i| size_text(&i.dim)).collect();
        let shape = match sizes.len() {
            1 => format!("({},)", sizes[0]),
            _ => format!("({})", sizes.join(", ")),
        };
        text = format!("_broadcast({text}, {shape})");
    }
    Ok(text)
}

fn mentions_tensor(expr: &Expr) -> bool {
    let mut found = false;
    expr.walk(&mut |e| found |= matches!(e, Expr::Tensor(_) | Expr::Adjoint(_)));
    found
}

/// Binding strength of emitted Python code, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Precedence {
    Add,
    Mul,
    Neg,
    Pow,
    Atom,
}

/// Emitted Python code: an array whose axes are `axes`, in that order.
#[derive(Debug, Clone)]
struct Code {
    text: String,
    axes: Vec<Index>,
    precedence: Precedence,
}

impl Code {
    fn atom(text: String, axes: Vec<Index>) -> Code {
        Code {
            text,
            axes,
            precedence: Precedence::Atom,
        }
    }

    /// The text, parenthesized unless it binds at least as tightly as `at_least`.
    fn operand(&self, at_least: Precedence) -> String {
        if self.precedence >= at_least {
            self.text.clone()
        } else {
            format!("({})", self.text)
        }
    }
}

/// Emits one expression, with einsum letters assigned to its indices.
struct ExprEmitter {
    letters: HashMap<Index, char>,
    target: String,
}

impl ExprEmitter {
    /// Assigns letters: an index named by a single ASCII letter keeps it when free, and the others
    /// take the first unused letter of [`LETTERS`].
    fn new(expr: &Expr, lhs: &[Index], target: &str) -> Result<ExprEmitter, EmitError> {
        let mut order: Vec<Index> = lhs.to_vec();
        expr.walk(&mut |e| match e {
            Expr::Tensor(element) | Expr::Adjoint(element) => {
                order.extend(element.indices.iter().cloned())
            }
            Expr::Delta(a, b) => order.extend([a.clone(), b.clone()]),
            Expr::Sum(bound, _) => order.extend(bound.iter().cloned()),
            _ => {}
        });
        let mut distinct = Vec::new();
        for index in order {
            if !distinct.contains(&index) {
                distinct.push(index);
            }
        }
        if distinct.len() > LETTERS.len() {
            return Err(EmitError::TooManyIndices {
                target: target.to_string(),
                count: distinct.len(),
            });
        }
        let mut letters = HashMap::new();
        let mut used = BTreeSet::new();
        for index in &distinct {
            let mut chars = index.name.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                if c.is_ascii_alphabetic() && used.insert(c) {
                    letters.insert(index.clone(), c);
                }
            }
        }
        for index in &distinct {
            if !letters.contains_key(index) {
                let c = LETTERS
                    .chars()
                    .find(|c| !used.contains(c))
                    .expect("at most 52 indices, checked above");
                used.insert(c);
                letters.insert(index.clone(), c);
            }
        }
        Ok(ExprEmitter {
            letters,
            target: target.to_string(),
        })
    }

    fn subscripts(&self, axes: &[Index]) -> String {
        axes.iter().map(|i| self.letters[i]).collect()
    }

    /// Emits `expr`. When `order` lists the same indices as the result's axes, the result uses
    /// that order where it costs nothing (einsum outputs and sums of terms).
    fn emit(&mut self, expr: &Expr, order: Option<&[Index]>) -> Result<Code, EmitError> {
        Ok(match expr {
            Expr::Num(n) => number(n),
            Expr::Size(dim) => Code::atom(size_text(dim), Vec::new()),
            Expr::Tensor(element) => self.element("v", element),
            Expr::Adjoint(element) => self.element("adj", element),
            Expr::Partial(_) => {
                return Err(EmitError::Partial {
                    target: self.target.clone(),
                })
            }
            Expr::Delta(a, b) if a == b => number(&Number::one()),
            Expr::Delta(a, b) => {
                let text = if a.dim == b.dim {
                    format!("np.eye({})", size_text(&a.dim))
                } else {
                    format!("np.eye({}, {})", size_text(&a.dim), size_text(&b.dim))
                };
                Code::atom(text, vec![a.clone(), b.clone()])
            }
            Expr::Call(function, order_of_derivative, arg) => {
                self.call(function, *order_of_derivative, arg)?
            }
            Expr::Pow(base, exponent) => {
                let base = self.emit(base, None)?;
                let exponent = if exponent.is_integer() {
                    exponent.to_string()
                } else {
                    format!("({} / {})", exponent.numer(), exponent.denom())
                };
                Code {
                    text: format!("{} ** {exponent}", base.operand(Precedence::Atom)),
                    axes: base.axes,
                    precedence: Precedence::Pow,
                }
            }
            Expr::Add(terms) => self.add(terms, order)?,
            Expr::Mul(factors) => self.contraction(factors, &[], order)?,
            Expr::Sum(bound, body) => {
                // Fold directly nested sums into one contraction unless an inner sum rebinds an
                // index of an outer one.
                let mut bound = bound.clone();
                let mut body: &Expr = body;
                while let Expr::Sum(inner, inner_body) = body {
                    if inner.iter().any(|i| bound.contains(i)) {
                        break;
                    }
                    bound.extend(inner.iter().cloned());
                    body = inner_body;
                }
                match body {
                    Expr::Mul(factors) => self.contraction(factors, &bound, order)?,
                    other => self.contraction(std::slice::from_ref(other), &bound, order)?,
                }
            }
        })
    }

    fn element(&self, dict: &str, element: &Element) -> Code {
        let text = format!("{dict}[\"{}\"]", element.name);
        let mut axes: Vec<Index> = Vec::new();
        for index in &element.indices {
            if !axes.contains(index) {
                axes.push(index.clone());
            }
        }
        if axes.len() == element.indices.len() {
            Code::atom(text, axes)
        } else {
            // A repeated index such as `A[i, i]` takes the diagonal.
            Code::atom(
                format!(
                    "np.einsum(\"{}->{}\", {text})",
                    self.subscripts(&element.indices),
                    self.subscripts(&axes)
                ),
                axes,
            )
        }
    }

    fn call(&mut self, function: &Function, order: u32, arg: &Expr) -> Result<Code, EmitError> {
        let name = match function {
            Function::Builtin(builtin) if order == 0 => builtin_python_name(*builtin).to_string(),
            Function::Builtin(_) => {
                // Lowering expands `tanh'(x)` to a closed form already; this covers any other
                // producer of the IR.
                let closed = function_derivative(function, order - 1, arg);
                return self.emit(&closed, None);
            }
            Function::Abstract(name) => format!("fns[\"{}\"]", function_key(name, order)),
        };
        let arg = self.emit(arg, None)?;
        Ok(Code::atom(format!("{name}({})", arg.text), arg.axes))
    }

    fn add(&mut self, terms: &[Expr], order: Option<&[Index]>) -> Result<Code, EmitError> {
        let mut codes = Vec::new();
        for term in terms {
            let (negative, magnitude) = split_sign(term);
            codes.push((negative, self.emit(&magnitude, order)?));
        }
        let mut axes: Vec<Index> = Vec::new();
        for (_, code) in &codes {
            for index in &code.axes {
                if !axes.contains(index) {
                    axes.push(index.clone());
                }
            }
        }
        let axes = reorder(axes, order);
        let mut text = String::new();
        for (at, (negative, code)) in codes.iter().enumerate() {
            let operand = if code.axes.is_empty() || code.axes == axes {
                code.clone()
            } else {
                Code::atom(
                    format!(
                        "_align({}, \"{}\", \"{}\")",
                        code.text,
                        self.subscripts(&code.axes),
                        self.subscripts(&axes)
                    ),
                    axes.clone(),
                )
            };
            match (at, negative) {
                (0, false) => text.push_str(&operand.text),
                (0, true) => text.push_str(&format!("-{}", operand.operand(Precedence::Mul))),
                (_, false) => text.push_str(&format!(" + {}", operand.text)),
                (_, true) => text.push_str(&format!(" - {}", operand.operand(Precedence::Mul))),
            }
        }
        Ok(Code {
            text,
            axes,
            precedence: Precedence::Add,
        })
    }

    /// Emits `Σ_bound Π factors`: numbers and scalars multiply outside, and the factors with
    /// axes go through one `np.einsum` unless they are an element-wise product of equal axes.
    fn contraction(
        &mut self,
        factors: &[Expr],
        bound: &[Index],
        order: Option<&[Index]>,
    ) -> Result<Code, EmitError> {
        let mut coefficient = Number::one();
        let mut scalars: Vec<Code> = Vec::new();
        let mut arrays: Vec<Code> = Vec::new();
        for factor in flatten_product(factors) {
            if let Expr::Num(n) = factor {
                coefficient *= n;
                continue;
            }
            let code = self.emit(factor, None)?;
            if code.axes.is_empty() {
                scalars.push(code);
            } else {
                arrays.push(code);
            }
        }
        if coefficient.is_zero() {
            return Ok(number(&coefficient));
        }
        let mut all_axes: Vec<Index> = Vec::new();
        for code in &arrays {
            for index in &code.axes {
                if !all_axes.contains(index) {
                    all_axes.push(index.clone());
                }
            }
        }
        // A summed index that no factor mentions multiplies the sum by its size.
        for index in bound {
            if !all_axes.contains(index) {
                scalars.push(Code::atom(size_text(&index.dim), Vec::new()));
            }
        }
        let free: Vec<Index> = all_axes
            .iter()
            .filter(|i| !bound.contains(i))
            .cloned()
            .collect();
        let free = reorder(free, order);
        let elementwise = free.len() == all_axes.len() && arrays.iter().all(|c| c.axes == free);
        let product = if arrays.is_empty() {
            None
        } else if elementwise {
            Some(arrays)
        } else {
            let inputs: Vec<String> = arrays.iter().map(|c| self.subscripts(&c.axes)).collect();
            let operands: Vec<&str> = arrays.iter().map(|c| c.text.as_str()).collect();
            // With three or more operands, numpy's contraction order matters: left to right, a
            // sum over many indices can cost the product of all their sizes.
            let optimize = if operands.len() > 2 {
                ", optimize=True"
            } else {
                ""
            };
            Some(vec![Code::atom(
                format!(
                    "np.einsum(\"{}->{}\", {}{optimize})",
                    inputs.join(","),
                    self.subscripts(&free),
                    operands.join(", ")
                ),
                free.clone(),
            )])
        };
        let axes = if product.is_some() { free } else { Vec::new() };
        let mut parts: Vec<Code> = Vec::new();
        if coefficient.is_negative() && coefficient.abs().is_one() {
            // `−x` rather than `-1 * x`.
            let rest = self.join_product(scalars.into_iter().chain(product.into_iter().flatten()));
            return Ok(Code {
                text: format!("-{}", rest.operand(Precedence::Pow)),
                axes,
                precedence: Precedence::Neg,
            });
        }
        if !coefficient.is_one() {
            parts.push(number(&coefficient));
        }
        parts.extend(scalars);
        parts.extend(product.into_iter().flatten());
        let joined = self.join_product(parts.into_iter());
        Ok(Code { axes, ..joined })
    }

    /// Joins factors with `*`: no factors is `1`, and one factor is itself.
    fn join_product(&self, factors: impl Iterator<Item = Code>) -> Code {
        let mut factors: Vec<Code> = factors.collect();
        match factors.len() {
            0 => number(&Number::one()),
            1 => factors.remove(0),
            _ => {
                let texts: Vec<String> = factors
                    .iter()
                    .enumerate()
                    .map(|(at, code)| {
                        // A leading `-2` needs no parentheses, later ones do.
                        let needed = if at == 0 {
                            Precedence::Neg
                        } else {
                            Precedence::Pow
                        };
                        code.operand(needed)
                    })
                    .collect();
                Code {
                    text: texts.join(" * "),
                    axes: Vec::new(),
                    precedence: Precedence::Mul,
                }
            }
        }
    }
}

/// Lists the factors of a product with nested products spliced in, so that they go through one
/// einsum. Relation bodies are not simplified, so `Σ_i (a[i] b[i]) c` nests a product.
fn flatten_product(factors: &[Expr]) -> Vec<&Expr> {
    let mut flat = Vec::new();
    let mut pending: Vec<&Expr> = factors.iter().rev().collect();
    while let Some(factor) = pending.pop() {
        match factor {
            Expr::Mul(inner) => pending.extend(inner.iter().rev()),
            other => flat.push(other),
        }
    }
    flat
}

/// Puts `axes` in the order of `order` when both list the same indices.
fn reorder(axes: Vec<Index>, order: Option<&[Index]>) -> Vec<Index> {
    match order {
        Some(order) if order.len() == axes.len() && order.iter().all(|i| axes.contains(i)) => {
            order.to_vec()
        }
        _ => axes,
    }
}

/// Splits a term into its sign and its magnitude, so that `a + (−1) b` prints as `a - b`.
fn split_sign(term: &Expr) -> (bool, Expr) {
    match term {
        Expr::Num(n) if n.is_negative() => (true, Expr::Num(-n)),
        Expr::Mul(factors) => match factors.first() {
            Some(Expr::Num(n)) if n.is_negative() => {
                let mut rest = factors.clone();
                rest[0] = Expr::Num(-n);
                (true, Expr::mul(rest))
            }
            _ => (false, term.clone()),
        },
        _ => (false, term.clone()),
    }
}

fn number(n: &Number) -> Code {
    if n.is_integer() {
        Code {
            text: n.to_string(),
            axes: Vec::new(),
            precedence: if n.is_negative() {
                Precedence::Neg
            } else {
                Precedence::Atom
            },
        }
    } else {
        Code::atom(format!("({} / {})", n.numer(), n.denom()), Vec::new())
    }
}

/// The size of a dimension in Python: `d["N"]`, or a literal.
fn size_text(dim: &Dim) -> String {
    match dim {
        Dim::Named(name) => format!("d[\"{name}\"]"),
        Dim::Fixed(size) => size.to_string(),
    }
}

fn python_dim(dim: &Dim) -> String {
    match dim {
        Dim::Named(name) => format!("\"{name}\""),
        Dim::Fixed(size) => size.to_string(),
    }
}

fn builtin_python_name(builtin: Builtin) -> &'static str {
    match builtin {
        Builtin::Relu => "relu",
        Builtin::Tanh => "np.tanh",
        Builtin::Logistic => "logistic",
        Builtin::Exp => "np.exp",
        Builtin::Log => "np.log",
        Builtin::Sqrt => "np.sqrt",
        Builtin::Softplus => "softplus",
        Builtin::Abs => "np.abs",
        Builtin::Sin => "np.sin",
        Builtin::Cos => "np.cos",
        Builtin::Step => "step",
        Builtin::Sign => "np.sign",
    }
}

/// The key of `f` differentiated `order` times in `fns`: `f`, `f_prime`, `f_prime2`, ...
fn function_key(name: &str, order: u32) -> String {
    match order {
        0 => name.to_string(),
        1 => format!("{name}_prime"),
        _ => format!("{name}_prime{order}"),
    }
}

/// The `fns` keys that the expressions call, sorted.
fn required_functions<'a>(exprs: impl Iterator<Item = &'a Expr>) -> Vec<String> {
    let mut keys = BTreeSet::new();
    for expr in exprs {
        expr.walk(&mut |e| {
            if let Expr::Call(Function::Abstract(name), order, _) = e {
                keys.insert(function_key(name, *order));
            }
        });
    }
    keys.into_iter().collect()
}

/// Every named dimension that a tensor, an index or a size in the derivation uses.
fn used_dims(derivation: &Derivation) -> Vec<String> {
    let model = &derivation.model;
    let mut dims: Vec<String> = Vec::new();
    let mut add = |dim: &Dim| {
        if let Dim::Named(name) = dim {
            if !dims.contains(name) {
                dims.push(name.clone());
            }
        }
    };
    for tensor in &model.tensors {
        tensor.shape.iter().for_each(&mut add);
    }
    let relations = model.relations.iter().map(|r| (&r.lhs, &r.body));
    let derivatives = derivation
        .adjoints
        .iter()
        .chain(&derivation.gradients)
        .map(|d| (&d.wrt, &d.recurrence));
    for (lhs, body) in relations.chain(derivatives) {
        lhs.indices.iter().for_each(|i| add(&i.dim));
        body.walk(&mut |e| match e {
            Expr::Size(dim) => add(dim),
            Expr::Tensor(element) | Expr::Adjoint(element) => {
                element.indices.iter().for_each(|i| add(&i.dim))
            }
            Expr::Delta(a, b) => {
                add(&a.dim);
                add(&b.dim);
            }
            Expr::Sum(bound, _) => bound.iter().for_each(|i| add(&i.dim)),
            _ => {}
        });
    }
    dims
}

fn python_tuple(items: &[String]) -> String {
    match items.len() {
        0 => "()".into(),
        1 => format!("(\"{}\",)", items[0]),
        _ => {
            let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
            format!("({})", quoted.join(", "))
        }
    }
}

/// Escapes text for a triple-quoted Python docstring.
fn python_docstring_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str) -> Index {
        Index::new(name, Dim::Named("N".into()))
    }

    fn tensor(name: &str, indices: &[&str]) -> Expr {
        Expr::tensor(name, indices.iter().map(|i| index(i)).collect())
    }

    fn numbered_indices(count: usize) -> Vec<Index> {
        (0..count)
            .map(|n| Index::new(&format!("i{n}"), Dim::Fixed(2)))
            .collect()
    }

    #[test]
    fn fifty_two_indices_fit() {
        let indices = numbered_indices(52);
        let expr = Expr::Tensor(Element::new("A", indices.clone()));
        assert_eq!(
            emit_assignment(&expr, &indices, "A").as_deref(),
            Ok("v[\"A\"]")
        );
    }

    #[test]
    fn fifty_three_indices_rejected() {
        let indices = numbered_indices(53);
        let expr = Expr::Tensor(Element::new("A", indices.clone()));
        assert_eq!(
            emit_assignment(&expr, &indices, "A"),
            Err(EmitError::TooManyIndices {
                target: "A".into(),
                count: 53
            })
        );
    }

    #[test]
    fn repeated_index_takes_diagonal() {
        let expr = tensor("A", &["j", "j"]);
        assert_eq!(
            emit_assignment(&expr, &[index("j")], "a").as_deref(),
            Ok("np.einsum(\"jj->j\", v[\"A\"])")
        );
    }

    #[test]
    fn transposed_term_is_aligned() {
        let expr = Expr::Add(vec![tensor("A", &["j", "k"]), tensor("B", &["k", "j"])]);
        assert_eq!(
            emit_assignment(&expr, &[index("j"), index("k")], "C").as_deref(),
            Ok("v[\"A\"] + _align(v[\"B\"], \"kj\", \"jk\")")
        );
    }

    #[test]
    fn sum_over_absent_index_multiplies_size() {
        let expr = Expr::Sum(vec![index("i")], Box::new(tensor("x", &["j"])));
        assert_eq!(
            emit_assignment(&expr, &[index("j")], "y").as_deref(),
            Ok("d[\"N\"] * v[\"x\"]")
        );
    }

    #[test]
    fn constant_is_broadcast_to_shape() {
        assert_eq!(
            emit_assignment(&Expr::int(-2), &[index("j")], "c").as_deref(),
            Ok("_broadcast(-2, (d[\"N\"],))")
        );
    }

    #[test]
    fn partial_derivative_rejected() {
        let pair = (Element::new("a", vec![]), Element::new("b", vec![]));
        let expr = Expr::Partial(Box::new(pair));
        assert_eq!(
            emit_assignment(&expr, &[], "L"),
            Err(EmitError::Partial { target: "L".into() })
        );
    }

    #[test]
    fn unbound_free_index_rejected() {
        let expr = tensor("x", &["l"]);
        assert_eq!(
            emit_assignment(&expr, &[index("j")], "y"),
            Err(EmitError::UnboundIndex {
                target: "y".into(),
                index: "l".into()
            })
        );
    }
}
