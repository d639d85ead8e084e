//! The syntax tree of a model file. Every node keeps the byte span it was parsed from, so that
//! diagnostics can point at it.

use num_rational::BigRational;

use crate::span::Span;

/// A name with the span of its occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    /// The name as written.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

impl Ident {
    /// Creates an identifier.
    pub fn new(name: impl Into<String>, span: Span) -> Self {
        Ident {
            name: name.into(),
            span,
        }
    }
}

/// A parsed model file.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// Statements in source order.
    pub statements: Vec<Statement>,
}

/// One line of a model file.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `dim I, N = 64`.
    Dim(Vec<DimDecl>),
    /// `input`, `target` or `param` with one or more tensors.
    Tensor(TensorRole, Vec<TensorDecl>),
    /// `fn sigma`.
    Function(Vec<Ident>),
    /// `loss L`.
    Loss(Ident),
    /// `a[i] = expression`.
    Relation(Relation),
    /// `claim ∂L/∂b2[j] = 2 * (yhat[j] - y[j])`.
    Claim(Claim),
    /// `derive ∂L/∂b2[j]` followed by `= step` lines.
    Derivation(Derivation),
}

/// A declared dimension.
#[derive(Debug, Clone)]
pub struct DimDecl {
    /// Its name.
    pub name: Ident,
    /// Its concrete size, if given.
    pub value: Option<(u64, Span)>,
}

/// What a declared tensor is to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TensorRole {
    /// Data fed to the model.
    Input,
    /// Data the loss compares with.
    Target,
    /// A trainable parameter.
    Param,
}

impl TensorRole {
    /// Returns the keyword that declares this role.
    pub fn keyword(self) -> &'static str {
        match self {
            TensorRole::Input => "input",
            TensorRole::Target => "target",
            TensorRole::Param => "param",
        }
    }
}

/// A declared tensor: its name and shape.
#[derive(Debug, Clone)]
pub struct TensorDecl {
    /// Its name.
    pub name: Ident,
    /// One entry per axis; empty for a scalar.
    pub shape: Vec<DimRef>,
}

/// The size of one axis, as written in a declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DimRef {
    /// A declared dimension, by name.
    Named(Ident),
    /// A literal size.
    Literal(u64, Span),
}

impl DimRef {
    /// Returns the span of the reference.
    pub fn span(&self) -> Span {
        match self {
            DimRef::Named(ident) => ident.span,
            DimRef::Literal(_, span) => *span,
        }
    }
}

/// `name[indices] = body`.
#[derive(Debug, Clone)]
pub struct Relation {
    /// The defined tensor.
    pub name: Ident,
    /// Its free indices, in order.
    pub indices: Vec<Ident>,
    /// The right-hand side.
    pub body: Expr,
    /// The whole statement.
    pub span: Span,
}

/// A claimed equality `lhs = rhs`, where `lhs` is normally a partial derivative of the loss.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The left side, whose indices are the claim's free indices.
    pub lhs: Expr,
    /// The claimed value.
    pub rhs: Expr,
    /// The whole statement.
    pub span: Span,
}

/// A chain of equalities: each step is claimed equal to the one before it, the first to `start`.
#[derive(Debug, Clone)]
pub struct Derivation {
    /// The expression being rewritten, whose indices are the chain's free indices.
    pub start: Expr,
    /// The steps in order; never empty when parsed.
    pub steps: Vec<Step>,
    /// The whole statement, every step included.
    pub span: Span,
}

/// One `= expression` line of a derivation.
#[derive(Debug, Clone)]
pub struct Step {
    /// The expression after `=`.
    pub expr: Expr,
    /// The step, from its `=` to the end of the expression.
    pub span: Span,
}

/// A tensor element or a scalar inside a partial derivative: `yhat[i]`, `W2[j, k]`, `L`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRef {
    /// The tensor's name.
    pub name: Ident,
    /// One index per axis; empty for a scalar.
    pub indices: Vec<Ident>,
    /// The name and its indices.
    pub span: Span,
}

/// An expression with its span.
#[derive(Debug, Clone)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `^`.
    Pow,
}

impl BinaryOp {
    /// Returns the operator as written in the DSL.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Pow => "^",
        }
    }
}

/// The kinds of expression.
#[derive(Debug, Clone)]
pub enum ExprKind {
    /// An exact number; decimals are read as exact rationals.
    Number(BigRational),
    /// An element of a tensor (`W1[i, j]`), or a scalar (`L`).
    Tensor {
        /// The tensor's name.
        name: Ident,
        /// One index per axis.
        indices: Vec<Ident>,
    },
    /// The Kronecker delta `delta[i, j]`.
    Delta(Ident, Ident),
    /// A function applied element-wise: `relu(x)`, or `sigma''(x)` for a second derivative.
    Call {
        /// The function's name.
        function: Ident,
        /// How many times it is differentiated (the number of primes).
        derivative: u32,
        /// The argument.
        argument: Box<Expr>,
    },
    /// `sum_{j, k} body`.
    Sum {
        /// The bound indices.
        indices: Vec<Ident>,
        /// The summand.
        body: Box<Expr>,
    },
    /// Unary minus.
    Neg(Box<Expr>),
    /// A binary operation.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
    },
    /// A parenthesized expression, kept so that rendering and spans follow the source.
    Paren(Box<Expr>),
    /// The unevaluated partial derivative `∂of/∂wrt` of one tensor element by another.
    Partial {
        /// The numerator: the element being differentiated.
        of: TensorRef,
        /// The denominator: the element it is differentiated by.
        wrt: TensorRef,
    },
}

impl Expr {
    /// Visits this expression and its subexpressions, parents before children.
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(&'a Expr)) {
        visit(self);
        match &self.kind {
            ExprKind::Number(_)
            | ExprKind::Tensor { .. }
            | ExprKind::Delta(..)
            | ExprKind::Partial { .. } => {}
            ExprKind::Call { argument, .. } => argument.walk(visit),
            ExprKind::Sum { body, .. } => body.walk(visit),
            ExprKind::Neg(inner) | ExprKind::Paren(inner) => inner.walk(visit),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.walk(visit);
                rhs.walk(visit);
            }
        }
    }
}
