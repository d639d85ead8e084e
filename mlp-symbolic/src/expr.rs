//! The expression IR: n-ary sums and products, tensor elements, Kronecker deltas, sums over
//! indices, element-wise functions, powers with exact rational exponents, and adjoints.

use std::collections::BTreeSet;
use std::sync::Arc;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Zero};

pub use mlp_grammar::Dim;

/// An exact rational number.
pub type Number = BigRational;

/// An index variable: a name and the dimension it ranges over. Two indices are the same variable
/// only if both agree; names alone decide how they print, so substitution avoids reusing a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Index {
    /// The name as printed.
    pub name: Arc<str>,
    /// The range.
    pub dim: Dim,
}

impl Index {
    /// Creates an index.
    pub fn new(name: &str, dim: Dim) -> Self {
        Index {
            name: Arc::from(name),
            dim,
        }
    }

    /// Returns the same range under another name.
    pub fn renamed(&self, name: &str) -> Self {
        Index::new(name, self.dim.clone())
    }
}

/// The built-in element-wise functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Builtin {
    /// max(x, 0).
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// 1 / (1 + e^(−x)).
    Logistic,
    /// e^x.
    Exp,
    /// Natural logarithm.
    Log,
    /// Square root.
    Sqrt,
    /// log(1 + e^x).
    Softplus,
    /// |x|.
    Abs,
    /// Sine.
    Sin,
    /// Cosine.
    Cos,
    /// The Heaviside step: 1 for x > 0, else 0. The derivative of relu.
    Step,
    /// −1, 0 or 1. The derivative of abs.
    Sign,
}

impl Builtin {
    /// Looks a built-in up by its DSL name.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Some(match name {
            "relu" => Builtin::Relu,
            "tanh" => Builtin::Tanh,
            "logistic" => Builtin::Logistic,
            "exp" => Builtin::Exp,
            "log" => Builtin::Log,
            "sqrt" => Builtin::Sqrt,
            "softplus" => Builtin::Softplus,
            "abs" => Builtin::Abs,
            "sin" => Builtin::Sin,
            "cos" => Builtin::Cos,
            "step" => Builtin::Step,
            "sign" => Builtin::Sign,
            _ => return None,
        })
    }

    /// Returns the DSL name.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Relu => "relu",
            Builtin::Tanh => "tanh",
            Builtin::Logistic => "logistic",
            Builtin::Exp => "exp",
            Builtin::Log => "log",
            Builtin::Sqrt => "sqrt",
            Builtin::Softplus => "softplus",
            Builtin::Abs => "abs",
            Builtin::Sin => "sin",
            Builtin::Cos => "cos",
            Builtin::Step => "step",
            Builtin::Sign => "sign",
        }
    }

    /// Evaluates the function in f64.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Builtin::Relu => x.max(0.0),
            Builtin::Tanh => x.tanh(),
            Builtin::Logistic => 1.0 / (1.0 + (-x).exp()),
            Builtin::Exp => x.exp(),
            Builtin::Log => x.ln(),
            Builtin::Sqrt => x.sqrt(),
            // log(1 + e^x) without overflow for large x.
            Builtin::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            Builtin::Abs => x.abs(),
            Builtin::Sin => x.sin(),
            Builtin::Cos => x.cos(),
            Builtin::Step => f64::from(u8::from(x > 0.0)),
            Builtin::Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// An element-wise function: built in, or declared with `fn` and left abstract.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    /// A built-in with known derivatives.
    Builtin(Builtin),
    /// A declared function; its derivatives stay symbolic (`sigma'`, `sigma''`).
    Abstract(Arc<str>),
}

impl Function {
    /// Returns the DSL name.
    pub fn name(&self) -> &str {
        match self {
            Function::Builtin(builtin) => builtin.name(),
            Function::Abstract(name) => name,
        }
    }
}

/// A tensor element such as `W1[i, j]`: the name and one index per axis.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Element {
    /// The tensor's name.
    pub name: Arc<str>,
    /// One index per axis.
    pub indices: Vec<Index>,
}

impl Element {
    /// Creates an element.
    pub fn new(name: &str, indices: Vec<Index>) -> Self {
        Element {
            name: Arc::from(name),
            indices,
        }
    }
}

/// An expression. The order of the variants is the order of factors in a canonical product
/// (numbers first, tensors after functions, deltas last), chosen to match handwritten results
/// such as `2 (yhat[j] − y[j]) h[k]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expr {
    /// An exact rational number.
    Num(Number),
    /// The number of values of a dimension, left by a sum over a term without its index.
    Size(Dim),
    /// `∂L/∂R[..]`: the adjoint of relation `R`, a named quantity of the backward pass.
    Adjoint(Element),
    /// `Σ_{indices} body`.
    Sum(Vec<Index>, Box<Expr>),
    /// A sum of terms.
    Add(Vec<Expr>),
    /// `f(x)` differentiated `order` times.
    Call(Function, u32, Box<Expr>),
    /// `base ^ exponent` with an exact exponent.
    Pow(Box<Expr>, Number),
    /// A tensor element.
    Tensor(Element),
    /// `∂of/∂wrt`, unevaluated: used to show chain-rule steps.
    Partial(Box<(Element, Element)>),
    /// The Kronecker delta.
    Delta(Index, Index),
    /// A product of factors.
    Mul(Vec<Expr>),
}

impl Expr {
    /// Returns the number zero.
    pub fn zero() -> Expr {
        Expr::Num(Number::zero())
    }

    /// Returns the number one.
    pub fn one() -> Expr {
        Expr::Num(Number::one())
    }

    /// Builds an integer.
    pub fn int(value: i64) -> Expr {
        Expr::Num(Number::from_integer(BigInt::from(value)))
    }

    /// Returns whether this is the number zero.
    pub fn is_zero(&self) -> bool {
        matches!(self, Expr::Num(n) if n.is_zero())
    }

    /// Returns whether this is the number one.
    pub fn is_one(&self) -> bool {
        matches!(self, Expr::Num(n) if n.is_one())
    }

    /// Builds a tensor element.
    pub fn tensor(name: &str, indices: Vec<Index>) -> Expr {
        Expr::Tensor(Element::new(name, indices))
    }

    /// Builds a product, with trivial cases folded: no factors is 1, one factor is itself.
    pub fn mul(mut factors: Vec<Expr>) -> Expr {
        if factors.iter().any(Expr::is_zero) {
            return Expr::zero();
        }
        factors.retain(|f| !f.is_one());
        match factors.len() {
            0 => Expr::one(),
            1 => factors.pop().expect("one factor"),
            _ => Expr::Mul(factors),
        }
    }

    /// Builds a sum of terms, with trivial cases folded: zero terms are dropped.
    pub fn add(mut terms: Vec<Expr>) -> Expr {
        terms.retain(|t| !t.is_zero());
        match terms.len() {
            0 => Expr::zero(),
            1 => terms.pop().expect("one term"),
            _ => Expr::Add(terms),
        }
    }

    /// `Σ_indices body`; no indices is the body itself.
    pub fn sum(indices: Vec<Index>, body: Expr) -> Expr {
        if indices.is_empty() || body.is_zero() {
            body
        } else {
            Expr::Sum(indices, Box::new(body))
        }
    }

    /// `−e`.
    pub fn negate(e: Expr) -> Expr {
        Expr::mul(vec![Expr::int(-1), e])
    }

    /// `base ^ exponent`.
    pub fn pow(base: Expr, exponent: Number) -> Expr {
        if exponent.is_one() {
            base
        } else if exponent.is_zero() {
            Expr::one()
        } else {
            Expr::Pow(Box::new(base), exponent)
        }
    }

    /// Visits this expression and every subexpression, parents first.
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(&'a Expr)) {
        visit(self);
        match self {
            Expr::Sum(_, body) => body.walk(visit),
            Expr::Add(items) | Expr::Mul(items) => items.iter().for_each(|item| item.walk(visit)),
            Expr::Call(_, _, arg) => arg.walk(visit),
            Expr::Pow(base, _) => base.walk(visit),
            Expr::Num(_)
            | Expr::Size(_)
            | Expr::Adjoint(_)
            | Expr::Tensor(_)
            | Expr::Partial(_)
            | Expr::Delta(..) => {}
        }
    }

    /// Returns the free indices: those used and not bound by a sum inside this expression.
    pub fn free_indices(&self) -> BTreeSet<Index> {
        let mut free = BTreeSet::new();
        self.collect_free(&mut free);
        free
    }

    fn collect_free(&self, free: &mut BTreeSet<Index>) {
        match self {
            Expr::Num(_) | Expr::Size(_) => {}
            Expr::Adjoint(element) | Expr::Tensor(element) => {
                free.extend(element.indices.iter().cloned())
            }
            Expr::Partial(pair) => {
                free.extend(pair.0.indices.iter().cloned());
                free.extend(pair.1.indices.iter().cloned());
            }
            Expr::Delta(a, b) => {
                free.insert(a.clone());
                free.insert(b.clone());
            }
            Expr::Sum(bound, body) => {
                let mut inner = BTreeSet::new();
                body.collect_free(&mut inner);
                for index in bound {
                    inner.remove(index);
                }
                free.extend(inner);
            }
            Expr::Add(items) | Expr::Mul(items) => {
                items.iter().for_each(|item| item.collect_free(free))
            }
            Expr::Call(_, _, arg) => arg.collect_free(free),
            Expr::Pow(base, _) => base.collect_free(free),
        }
    }

    /// Returns whether the index occurs free in this expression.
    pub fn mentions(&self, index: &Index) -> bool {
        match self {
            Expr::Num(_) | Expr::Size(_) => false,
            Expr::Adjoint(element) | Expr::Tensor(element) => element.indices.contains(index),
            Expr::Partial(pair) => pair.0.indices.contains(index) || pair.1.indices.contains(index),
            Expr::Delta(a, b) => a == index || b == index,
            Expr::Sum(bound, body) => !bound.contains(index) && body.mentions(index),
            Expr::Add(items) | Expr::Mul(items) => items.iter().any(|item| item.mentions(index)),
            Expr::Call(_, _, arg) => arg.mentions(index),
            Expr::Pow(base, _) => base.mentions(index),
        }
    }

    /// Returns every index name that occurs, bound or free.
    pub fn index_names(&self, names: &mut BTreeSet<Arc<str>>) {
        self.walk(&mut |e| match e {
            Expr::Adjoint(element) | Expr::Tensor(element) => {
                names.extend(element.indices.iter().map(|i| i.name.clone()));
            }
            Expr::Partial(pair) => {
                names.extend(pair.0.indices.iter().map(|i| i.name.clone()));
                names.extend(pair.1.indices.iter().map(|i| i.name.clone()));
            }
            Expr::Delta(a, b) => {
                names.insert(a.name.clone());
                names.insert(b.name.clone());
            }
            Expr::Sum(bound, _) => names.extend(bound.iter().map(|i| i.name.clone())),
            _ => {}
        });
    }

    /// Returns the number of nodes, a measure of size.
    pub fn node_count(&self) -> usize {
        let mut count = 0;
        self.walk(&mut |_| count += 1);
        count
    }
}

/// Index names tried, in order, for summed indices; the first free of clashes is used.
pub const BOUND_NAMES: &[&str] = &["i", "l", "m", "n", "p", "q", "r", "s", "t", "u", "v", "w"];
/// Index names tried, in order, for the free indices of a gradient such as `∂L/∂W[j, k]`.
pub const FREE_NAMES: &[&str] = &["j", "k", "l", "m", "n", "p", "q", "r", "s", "t", "u", "v"];

/// Returns the first name of `preferred` (then `i1`, `i2`, ...) that is not in `taken`.
pub fn fresh_name(preferred: &[&str], taken: &BTreeSet<Arc<str>>) -> Arc<str> {
    for name in preferred {
        if !taken.contains(*name) {
            return Arc::from(*name);
        }
    }
    (1..)
        .map(|n| format!("i{n}"))
        .find(|name| !taken.contains(name.as_str()))
        .map(Arc::from)
        .expect("an unbounded sequence has a free name")
}
