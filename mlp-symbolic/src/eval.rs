//! Numeric evaluation of expressions in f64, for checking derivations against finite
//! differences and for comparing expressions at random points.

use std::collections::HashMap;
use std::sync::Arc;

use num_traits::ToPrimitive;

use crate::expr::{Dim, Expr, Function, Index};
use crate::model::Model;

/// A dense row-major array.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Size of each axis.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f64>,
}

impl Array {
    /// Returns an array of zeros.
    pub fn zeros(shape: Vec<usize>) -> Array {
        let len = shape.iter().product();
        Array {
            shape,
            data: vec![0.0; len],
        }
    }

    /// Returns the flat position of a multi-index.
    pub fn offset(&self, at: &[usize]) -> usize {
        at.iter()
            .zip(&self.shape)
            .fold(0, |offset, (i, n)| offset * n + i)
    }
}

/// Values of an abstract function and its derivatives: `(name, order, x) -> f^(order)(x)`.
pub type FunctionTable<'a> = &'a dyn Fn(&str, u32, f64) -> f64;

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A dimension has no size.
    #[error("dimension `{0}` has no size")]
    MissingDim(String),
    /// A tensor has no value.
    #[error("tensor `{0}` has no value")]
    MissingTensor(String),
    /// An index has no value: the expression has a free index the caller did not bind.
    #[error("index `{0}` is not bound")]
    UnboundIndex(String),
    /// A partial derivative was left unevaluated.
    #[error("an unevaluated partial derivative cannot be evaluated")]
    Partial,
}

/// Dimension sizes and tensor values to evaluate with.
#[derive(Debug, Clone, Default)]
pub struct Values {
    /// The size of each dimension.
    pub dims: HashMap<Dim, usize>,
    /// Tensors by name: inputs, targets, parameters and computed relations.
    pub tensors: HashMap<Arc<str>, Array>,
    /// Adjoints by relation name, for recurrence forms.
    pub adjoints: HashMap<Arc<str>, Array>,
}

impl Values {
    /// Returns the size of a dimension.
    ///
    /// # Errors
    ///
    /// Fails if the dimension has no size.
    pub fn size(&self, dim: &Dim) -> Result<usize, EvalError> {
        match dim {
            Dim::Fixed(n) => Ok(*n as usize),
            Dim::Named(name) => self
                .dims
                .get(dim)
                .copied()
                .ok_or_else(|| EvalError::MissingDim(name.clone())),
        }
    }

    /// Returns the shape of a list of dimensions.
    ///
    /// # Errors
    ///
    /// Fails if a dimension has no size.
    pub fn shape(&self, dims: &[Dim]) -> Result<Vec<usize>, EvalError> {
        dims.iter().map(|d| self.size(d)).collect()
    }
}

/// Evaluates an expression with its free indices bound by `bindings`.
///
/// # Errors
///
/// Fails on a missing size, tensor or index binding.
pub fn eval(
    expr: &Expr,
    values: &Values,
    functions: FunctionTable<'_>,
    bindings: &mut Vec<(Index, usize)>,
) -> Result<f64, EvalError> {
    Ok(match expr {
        Expr::Num(n) => n.to_f64().unwrap_or(f64::NAN),
        Expr::Size(dim) => values.size(dim)? as f64,
        Expr::Tensor(element) => {
            let array = values
                .tensors
                .get(&element.name)
                .ok_or_else(|| EvalError::MissingTensor(element.name.to_string()))?;
            let at = lookup_all(&element.indices, bindings)?;
            array.data[array.offset(&at)]
        }
        Expr::Adjoint(element) => {
            let array = values
                .adjoints
                .get(&element.name)
                .ok_or_else(|| EvalError::MissingTensor(format!("∂L/∂{}", element.name)))?;
            let at = lookup_all(&element.indices, bindings)?;
            array.data[array.offset(&at)]
        }
        Expr::Partial(_) => return Err(EvalError::Partial),
        Expr::Delta(a, b) => f64::from(u8::from(lookup(a, bindings)? == lookup(b, bindings)?)),
        Expr::Add(terms) => {
            let mut total = 0.0;
            for term in terms {
                total += eval(term, values, functions, bindings)?;
            }
            total
        }
        Expr::Mul(factors) => {
            let mut product = 1.0;
            for factor in factors {
                product *= eval(factor, values, functions, bindings)?;
            }
            product
        }
        Expr::Pow(base, exponent) => {
            let base = eval(base, values, functions, bindings)?;
            if exponent.is_integer() {
                base.powi(exponent.to_integer().to_i32().unwrap_or(i32::MAX))
            } else {
                base.powf(exponent.to_f64().unwrap_or(f64::NAN))
            }
        }
        Expr::Call(function, order, arg) => {
            let x = eval(arg, values, functions, bindings)?;
            match function {
                Function::Builtin(builtin) if *order == 0 => builtin.eval(x),
                Function::Builtin(builtin) => functions(builtin.name(), *order, x),
                Function::Abstract(name) => functions(name, *order, x),
            }
        }
        Expr::Sum(bound, body) => {
            let sizes: Vec<usize> = bound
                .iter()
                .map(|i| values.size(&i.dim))
                .collect::<Result<_, _>>()?;
            if sizes.contains(&0) {
                return Ok(0.0);
            }
            let depth = bindings.len();
            bindings.extend(bound.iter().map(|i| (i.clone(), 0)));
            let mut total = 0.0;
            'outer: loop {
                total += eval(body, values, functions, bindings)?;
                // Advance the multi-index like an odometer.
                for axis in (0..bound.len()).rev() {
                    let slot = &mut bindings[depth + axis].1;
                    *slot += 1;
                    if *slot < sizes[axis] {
                        continue 'outer;
                    }
                    *slot = 0;
                }
                break;
            }
            bindings.truncate(depth);
            total
        }
    })
}

fn lookup(index: &Index, bindings: &[(Index, usize)]) -> Result<usize, EvalError> {
    bindings
        .iter()
        .rev()
        .find(|(bound, _)| bound == index)
        .map(|(_, value)| *value)
        .ok_or_else(|| EvalError::UnboundIndex(index.name.to_string()))
}

fn lookup_all(indices: &[Index], bindings: &[(Index, usize)]) -> Result<Vec<usize>, EvalError> {
    indices.iter().map(|i| lookup(i, bindings)).collect()
}

/// Evaluates an expression over every value of the given free indices, into an array.
///
/// # Errors
///
/// Fails on a missing size, tensor or index binding.
pub fn eval_array(
    expr: &Expr,
    free: &[Index],
    values: &Values,
    functions: FunctionTable<'_>,
) -> Result<Array, EvalError> {
    let shape: Vec<usize> = free
        .iter()
        .map(|i| values.size(&i.dim))
        .collect::<Result<_, _>>()?;
    let mut array = Array::zeros(shape.clone());
    let mut bindings: Vec<(Index, usize)> = free.iter().map(|i| (i.clone(), 0)).collect();
    for flat in 0..array.data.len() {
        let mut rest = flat;
        for axis in (0..shape.len()).rev() {
            bindings[axis].1 = rest % shape[axis];
            rest /= shape[axis];
        }
        array.data[flat] = eval(expr, values, functions, &mut bindings)?;
    }
    Ok(array)
}

/// Runs the forward pass: evaluates every relation in order and stores it in `values`.
///
/// # Errors
///
/// Fails if an input, target, parameter or dimension size is missing.
pub fn forward(
    model: &Model,
    values: &mut Values,
    functions: FunctionTable<'_>,
) -> Result<(), EvalError> {
    for relation in &model.relations {
        let array = eval_array(&relation.body, &relation.lhs.indices, values, functions)?;
        values.tensors.insert(relation.lhs.name.clone(), array);
    }
    Ok(())
}

/// Evaluates the loss after a forward pass.
///
/// # Errors
///
/// Fails if the forward pass fails.
pub fn loss(
    model: &Model,
    values: &mut Values,
    functions: FunctionTable<'_>,
) -> Result<f64, EvalError> {
    forward(model, values, functions)?;
    Ok(values.tensors[&model.loss().lhs.name].data[0])
}
