//! The model as symbolic expressions: the checked syntax tree lowered to the IR.

use std::collections::HashMap;
use std::sync::Arc;

use mlp_grammar::ast::{BinaryOp, Expr as Ast, ExprKind, Ident};
use mlp_grammar::{CheckedModel, Span, TensorRole};
use num_traits::Zero;

use crate::chain_rule::function_derivative;
use crate::expr::{Builtin, Dim, Element, Expr, Function, Index, Number};

/// A declared input, target or parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Its name.
    pub name: Arc<str>,
    /// Input, target or parameter.
    pub role: TensorRole,
    /// One dimension per axis.
    pub shape: Vec<Dim>,
}

/// A relation `name[indices] = body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationDef {
    /// The defined tensor and its free indices.
    pub lhs: Element,
    /// The right side.
    pub body: Expr,
}

impl RelationDef {
    /// Returns the relation's name.
    pub fn name(&self) -> &str {
        &self.lhs.name
    }

    /// Returns the relation's shape.
    pub fn shape(&self) -> Vec<Dim> {
        self.lhs.indices.iter().map(|i| i.dim.clone()).collect()
    }
}

/// A model: declarations and relations in a topological order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// Declared dimensions and their concrete sizes, if given.
    pub dims: Vec<(String, Option<u64>)>,
    /// Inputs, targets and parameters in declaration order.
    pub tensors: Vec<TensorSpec>,
    /// Abstract functions declared with `fn`.
    pub functions: Vec<Arc<str>>,
    /// Relations, each after the relations it reads.
    pub relations: Vec<RelationDef>,
    /// The index of the loss in `relations`.
    pub loss: usize,
}

/// A construct the lowering cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LowerError {
    /// What went wrong.
    pub message: String,
    /// Where.
    pub span: Span,
}

impl Model {
    /// Lowers a checked model.
    ///
    /// # Errors
    ///
    /// Returns an error for a construct the IR cannot represent (such as `0^-1`).
    pub fn from_checked(checked: &CheckedModel) -> Result<Model, LowerError> {
        let functions: Vec<Arc<str>> = checked
            .functions
            .iter()
            .map(|f| Arc::from(f.name.as_str()))
            .collect();
        let mut relations = Vec::new();
        for info in &checked.relations {
            let lowering = Lowering {
                ranges: &info.index_ranges,
            };
            let indices = info
                .relation
                .indices
                .iter()
                .map(|index| lowering.index(index))
                .collect::<Result<Vec<_>, _>>()?;
            let body = lowering.expr(&info.relation.body)?;
            if divides_by_zero(&crate::simplify::simplify(&body)) {
                return Err(LowerError {
                    message: format!(
                        "division by zero: a divisor in the right side of `{}` simplifies to 0",
                        info.name()
                    ),
                    span: info.relation.body.span,
                });
            }
            relations.push(RelationDef {
                lhs: Element::new(info.name(), indices),
                body,
            });
        }
        Ok(Model {
            dims: checked
                .dims
                .iter()
                .map(|d| (d.name.name.clone(), d.value))
                .collect(),
            tensors: checked
                .tensors
                .iter()
                .map(|t| TensorSpec {
                    name: Arc::from(t.name.name.as_str()),
                    role: t.role,
                    shape: t.shape.clone(),
                })
                .collect(),
            functions,
            relations,
            loss: checked.loss,
        })
    }

    /// Returns the loss relation.
    pub fn loss(&self) -> &RelationDef {
        &self.relations[self.loss]
    }

    /// Finds a relation by name.
    pub fn relation(&self, name: &str) -> Option<&RelationDef> {
        self.relations.iter().find(|r| r.name() == name)
    }

    /// Finds a declared tensor by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorSpec> {
        self.tensors.iter().find(|t| &*t.name == name)
    }

    /// Returns the parameters in declaration order.
    pub fn params(&self) -> impl Iterator<Item = &TensorSpec> {
        self.tensors.iter().filter(|t| t.role == TensorRole::Param)
    }

    /// Returns the shape of any named tensor: declared or defined by a relation.
    pub fn shape_of(&self, name: &str) -> Option<Vec<Dim>> {
        self.tensor(name)
            .map(|t| t.shape.clone())
            .or_else(|| self.relation(name).map(RelationDef::shape))
    }

    /// Returns the concrete size of a dimension, if the model gives one.
    pub fn dim_value(&self, dim: &Dim) -> Option<u64> {
        match dim {
            Dim::Fixed(size) => Some(*size),
            Dim::Named(name) => self
                .dims
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| *v),
        }
    }
}

/// Returns whether a simplified expression contains `0^e` with `e < 0`.
fn divides_by_zero(expr: &Expr) -> bool {
    let mut found = false;
    expr.walk(&mut |e| {
        if let Expr::Pow(base, exponent) = e {
            found |= base.is_zero() && *exponent < Number::zero();
        }
    });
    found
}

/// Lowers syntax trees to the IR, given the range of every index occurrence: a relation's, a
/// claim's or a derivation's `index_ranges`.
pub struct Lowering<'a> {
    ranges: &'a HashMap<Span, Dim>,
}

impl<'a> Lowering<'a> {
    /// A lowering that takes index ranges from `ranges`, keyed by occurrence span.
    pub fn new(ranges: &'a HashMap<Span, Dim>) -> Self {
        Lowering { ranges }
    }

    /// Lowers one index occurrence.
    ///
    /// # Errors
    ///
    /// Fails if the occurrence has no range.
    pub fn index(&self, ident: &Ident) -> Result<Index, LowerError> {
        let dim = self.ranges.get(&ident.span).ok_or_else(|| LowerError {
            message: format!("index `{}` has no inferred range", ident.name),
            span: ident.span,
        })?;
        Ok(Index::new(&ident.name, dim.clone()))
    }

    /// Lowers an expression; unevaluated partial derivatives stay [`Expr::Partial`].
    ///
    /// # Errors
    ///
    /// Fails on an index without a range or a construct the IR cannot represent.
    pub fn expr(&self, ast: &Ast) -> Result<Expr, LowerError> {
        Ok(match &ast.kind {
            ExprKind::Number(value) => Expr::Num(value.clone()),
            ExprKind::Tensor { name, indices } => Expr::tensor(
                &name.name,
                indices
                    .iter()
                    .map(|i| self.index(i))
                    .collect::<Result<_, _>>()?,
            ),
            ExprKind::Delta(a, b) => {
                let (a, b) = (self.index(a)?, self.index(b)?);
                if a == b {
                    Expr::one()
                } else {
                    Expr::Delta(a, b)
                }
            }
            ExprKind::Call {
                function,
                derivative,
                argument,
            } => {
                let arg = self.expr(argument)?;
                match Builtin::from_name(&function.name) {
                    Some(builtin) if *derivative == 0 => {
                        Expr::Call(Function::Builtin(builtin), 0, Box::new(arg))
                    }
                    Some(builtin) => {
                        function_derivative(&Function::Builtin(builtin), derivative - 1, &arg)
                    }
                    None => Expr::Call(
                        Function::Abstract(Arc::from(function.name.as_str())),
                        *derivative,
                        Box::new(arg),
                    ),
                }
            }
            ExprKind::Sum { indices, body } => Expr::Sum(
                indices
                    .iter()
                    .map(|i| self.index(i))
                    .collect::<Result<_, _>>()?,
                Box::new(self.expr(body)?),
            ),
            ExprKind::Partial { of, wrt } => {
                let element =
                    |tensor: &mlp_grammar::ast::TensorRef| -> Result<Element, LowerError> {
                        let indices = tensor
                            .indices
                            .iter()
                            .map(|i| self.index(i))
                            .collect::<Result<_, _>>()?;
                        Ok(Element::new(&tensor.name.name, indices))
                    };
                Expr::Partial(Box::new((element(of)?, element(wrt)?)))
            }
            ExprKind::Neg(inner) => Expr::negate(self.expr(inner)?),
            ExprKind::Paren(inner) => self.expr(inner)?,
            ExprKind::Binary { op, lhs, rhs } => {
                let left = self.expr(lhs)?;
                match op {
                    BinaryOp::Add => Expr::Add(vec![left, self.expr(rhs)?]),
                    BinaryOp::Sub => Expr::Add(vec![left, Expr::negate(self.expr(rhs)?)]),
                    BinaryOp::Mul => Expr::Mul(vec![left, self.expr(rhs)?]),
                    BinaryOp::Div => {
                        let right = self.expr(rhs)?;
                        if let Expr::Num(n) = &right {
                            if n.is_zero() {
                                return Err(LowerError {
                                    message: "division by zero".into(),
                                    span: rhs.span,
                                });
                            }
                            Expr::Mul(vec![left, Expr::Num(n.recip())])
                        } else {
                            Expr::Mul(vec![
                                left,
                                Expr::Pow(Box::new(right), Number::from_integer((-1).into())),
                            ])
                        }
                    }
                    BinaryOp::Pow => {
                        let exponent = mlp_grammar::constant_value(rhs)
                            .map_err(|d| LowerError {
                                message: d.message,
                                span: d.span,
                            })?
                            .ok_or_else(|| LowerError {
                                message: "the exponent must be a constant number".into(),
                                span: rhs.span,
                            })?;
                        Expr::Pow(Box::new(left), exponent)
                    }
                }
            }
        })
    }
}
