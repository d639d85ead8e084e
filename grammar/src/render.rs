//! Rendering of the syntax tree back to DSL text.
//!
//! The output parses back to the same tree, with two exceptions. Brackets are added where the
//! tree needs them but the source did not write them (as in trees built from LaTeX), and they
//! parse back as `Paren` nodes. A non-integer number is written as a bracketed quotient.

use std::fmt;

use crate::ast::{
    BinaryOp, Claim, Derivation, DimRef, Expr, ExprKind, Ident, Program, Relation, Statement,
    TensorRef,
};

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Number(value) => {
                if value.is_integer() {
                    write!(f, "{}", value.numer())
                } else {
                    write!(f, "({} / {})", value.numer(), value.denom())
                }
            }
            ExprKind::Tensor { name, indices } => write_element(f, name, indices),
            ExprKind::Delta(a, b) => write!(f, "delta[{}, {}]", a.name, b.name),
            ExprKind::Call {
                function,
                derivative,
                argument,
            } => {
                let primes = "'".repeat(*derivative as usize);
                write!(f, "{}{primes}({argument})", function.name)
            }
            ExprKind::Sum { indices, body } => {
                let names: Vec<&str> = indices.iter().map(|i| i.name.as_str()).collect();
                match names.as_slice() {
                    [one] => write!(f, "sum_{one} ")?,
                    many => write!(f, "sum_{{{}}} ", many.join(", "))?,
                }
                // A sum binds the product that follows it, so a sum or difference needs brackets.
                write_operand(f, body, is_additive(body))
            }
            ExprKind::Neg(inner) => {
                f.write_str("-")?;
                let bracket = matches!(
                    inner.kind,
                    ExprKind::Binary {
                        op: BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div,
                        ..
                    } | ExprKind::Sum { .. }
                        | ExprKind::Neg(_)
                );
                write_operand(f, inner, bracket)
            }
            ExprKind::Binary { op, lhs, rhs } => write_binary(f, *op, lhs, rhs),
            ExprKind::Paren(inner) => write!(f, "({inner})"),
            ExprKind::Partial { of, wrt } => write!(f, "∂{of}/∂{wrt}"),
        }
    }
}

impl fmt::Display for TensorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_element(f, &self.name, &self.indices)
    }
}

fn write_element(f: &mut fmt::Formatter<'_>, name: &Ident, indices: &[Ident]) -> fmt::Result {
    f.write_str(&name.name)?;
    if !indices.is_empty() {
        let names: Vec<&str> = indices.iter().map(|i| i.name.as_str()).collect();
        write!(f, "[{}]", names.join(", "))?;
    }
    Ok(())
}

fn is_additive(expr: &Expr) -> bool {
    matches!(
        expr.kind,
        ExprKind::Binary {
            op: BinaryOp::Add | BinaryOp::Sub,
            ..
        }
    )
}

fn write_operand(f: &mut fmt::Formatter<'_>, expr: &Expr, bracket: bool) -> fmt::Result {
    if bracket {
        write!(f, "({expr})")
    } else {
        write!(f, "{expr}")
    }
}

/// Writes `lhs op rhs`, bracketing an operand where the DSL's precedence would otherwise regroup
/// it: `+ -` bind loosest, then `sum_`, then `* /`, then unary `-`, then right-associative `^`.
fn write_binary(f: &mut fmt::Formatter<'_>, op: BinaryOp, lhs: &Expr, rhs: &Expr) -> fmt::Result {
    let is_sum = |e: &Expr| matches!(e.kind, ExprKind::Sum { .. });
    let is_neg = |e: &Expr| matches!(e.kind, ExprKind::Neg(_));
    let is_product = |e: &Expr| {
        matches!(
            e.kind,
            ExprKind::Binary {
                op: BinaryOp::Mul | BinaryOp::Div,
                ..
            }
        )
    };
    let is_power = |e: &Expr| {
        matches!(
            e.kind,
            ExprKind::Binary {
                op: BinaryOp::Pow,
                ..
            }
        )
    };
    let (left, right) = match op {
        // A sum on the left of `+` ends at the `+`; on the right of `-` it takes only its term.
        BinaryOp::Add => (false, false),
        BinaryOp::Sub => (false, is_additive(rhs)),
        // A sum anywhere inside a product would swallow the factors after it.
        BinaryOp::Mul => (
            is_additive(lhs) || is_sum(lhs),
            is_additive(rhs) || is_sum(rhs),
        ),
        BinaryOp::Div => (
            is_additive(lhs) || is_sum(lhs),
            is_additive(rhs) || is_sum(rhs) || is_product(rhs),
        ),
        BinaryOp::Pow => (
            is_additive(lhs) || is_sum(lhs) || is_product(lhs) || is_neg(lhs) || is_power(lhs),
            is_additive(rhs) || is_sum(rhs) || is_product(rhs) || is_neg(rhs),
        ),
    };
    write_operand(f, lhs, left)?;
    match op {
        BinaryOp::Pow => f.write_str("^")?,
        other => write!(f, " {} ", other.symbol())?,
    }
    write_operand(f, rhs, right)
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_element(f, &self.name, &self.indices)?;
        write!(f, " = {}", self.body)
    }
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "claim {} = {}", self.lhs, self.rhs)
    }
}

impl fmt::Display for Derivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "derive {}", self.start)?;
        for step in &self.steps {
            write!(f, "\n  = {}", step.expr)?;
        }
        Ok(())
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Dim(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|item| match item.value {
                        Some((value, _)) => format!("{} = {value}", item.name.name),
                        None => item.name.name.clone(),
                    })
                    .collect();
                write!(f, "dim {}", items.join(", "))
            }
            Statement::Tensor(role, decls) => {
                let decls: Vec<String> = decls
                    .iter()
                    .map(|decl| {
                        if decl.shape.is_empty() {
                            return decl.name.name.clone();
                        }
                        let shape: Vec<String> = decl
                            .shape
                            .iter()
                            .map(|dim| match dim {
                                DimRef::Named(name) => name.name.clone(),
                                DimRef::Literal(size, _) => size.to_string(),
                            })
                            .collect();
                        format!("{}[{}]", decl.name.name, shape.join(", "))
                    })
                    .collect();
                write!(f, "{} {}", role.keyword(), decls.join(", "))
            }
            Statement::Function(names) => {
                let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
                write!(f, "fn {}", names.join(", "))
            }
            Statement::Loss(name) => write!(f, "loss {}", name.name),
            Statement::Relation(relation) => write!(f, "{relation}"),
            Statement::Claim(claim) => write!(f, "{claim}"),
            Statement::Derivation(derivation) => write!(f, "{derivation}"),
        }
    }
}

impl fmt::Display for Program {
    /// Writes one statement per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for statement in &self.statements {
            writeln!(f, "{statement}")?;
        }
        Ok(())
    }
}
