//! Rendering of expressions as unicode, LaTeX or ASCII text. The ASCII form is valid DSL for
//! expressions without adjoints or unevaluated partial derivatives.

use std::fmt::Write as _;

use num_traits::{One, Signed};

use crate::expr::{Element, Expr, Function, Index, Number};

/// An output notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `Σ_i 2 (yhat[i] − y[i]) W2[i,j]`.
    Unicode,
    /// `\sum_{i} 2 \left(\hat{y}_{i} - y_{i}\right) W^{(2)}_{ij}`.
    Latex,
    /// `sum_i 2 * (yhat[i] - y[i]) * W2[i,j]`, parseable by the DSL.
    Ascii,
}

/// Renders an expression.
pub fn render(expr: &Expr, format: Format) -> String {
    let mut out = String::new();
    Renderer { format }.expr(expr, &mut out);
    out
}

/// Renders `∂L/∂X[indices]`.
pub fn render_derivative_of(loss: &str, wrt: &Element, format: Format) -> String {
    let mut out = String::new();
    let renderer = Renderer { format };
    renderer.partial(&Element::new(loss, Vec::new()), wrt, &mut out);
    out
}

/// Renders a tensor element such as `W1[j,k]`.
pub fn render_element(element: &Element, format: Format) -> String {
    let mut out = String::new();
    Renderer { format }.element(element, &mut out);
    out
}

/// Binding strength of the context an expression is printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Context {
    /// Anywhere: no parentheses needed.
    Top,
    /// A term of a sum over indices.
    Summand,
    /// A factor of a product that is followed by more factors.
    Factor,
    /// The last factor of a product.
    LastFactor,
    /// The base of a power or the argument position that needs atoms.
    Atom,
}

struct Renderer {
    format: Format,
}

impl Renderer {
    fn expr(&self, expr: &Expr, out: &mut String) {
        self.expr_in(expr, Context::Top, out);
    }

    fn open(&self, out: &mut String) {
        out.push_str(if self.format == Format::Latex {
            "\\left("
        } else {
            "("
        });
    }

    fn close(&self, out: &mut String) {
        out.push_str(if self.format == Format::Latex {
            "\\right)"
        } else {
            ")"
        });
    }

    fn expr_in(&self, expr: &Expr, context: Context, out: &mut String) {
        match expr {
            Expr::Num(n) => self.number(n, context, out),
            Expr::Size(dim) => {
                let name = dim.to_string();
                if self.format == Format::Latex {
                    out.push_str(&latex_name(&name));
                } else {
                    out.push_str(&name);
                }
            }
            Expr::Tensor(element) => self.element(element, out),
            Expr::Adjoint(element) => {
                // The loss's name is not stored in the atom; `L` is the conventional one and
                // callers that know better render whole derivatives with `render_derivative_of`.
                self.partial(&Element::new("L", Vec::new()), element, out);
            }
            Expr::Partial(pair) => self.partial(&pair.0, &pair.1, out),
            Expr::Delta(a, b) => match self.format {
                Format::Unicode => {
                    write!(out, "δ[{},{}]", a.name, b.name).expect("write to String")
                }
                Format::Ascii => {
                    write!(out, "delta[{}, {}]", a.name, b.name).expect("write to String")
                }
                Format::Latex => {
                    out.push_str("\\delta_{");
                    self.latex_indices(&[a.clone(), b.clone()], out);
                    out.push('}');
                }
            },
            Expr::Call(function, order, arg) => {
                self.function(function, *order, out);
                self.open(out);
                self.expr_in(arg, Context::Top, out);
                self.close(out);
            }
            Expr::Pow(base, exponent) => self.power(base, exponent, out),
            Expr::Sum(bound, body) => {
                let needs_parens = matches!(context, Context::Factor | Context::Atom);
                if needs_parens {
                    self.open(out);
                }
                self.sum_prefix(bound, out);
                self.expr_in(body, Context::Summand, out);
                if needs_parens {
                    self.close(out);
                }
            }
            Expr::Add(terms) => {
                let needs_parens = context > Context::Top;
                if needs_parens {
                    self.open(out);
                }
                for (at, term) in terms.iter().enumerate() {
                    let negative = negative_coefficient(term).is_some();
                    if at == 0 {
                        if negative {
                            out.push_str(self.minus());
                        }
                    } else {
                        out.push(' ');
                        out.push_str(if negative { self.minus() } else { "+" });
                        out.push(' ');
                    }
                    self.magnitude(term, out);
                }
                if needs_parens {
                    self.close(out);
                }
            }
            Expr::Mul(factors) => {
                if negative_coefficient(expr).is_some() {
                    let needs_parens = context >= Context::Factor;
                    if needs_parens {
                        self.open(out);
                    }
                    out.push_str(self.minus());
                    self.magnitude(expr, out);
                    if needs_parens {
                        self.close(out);
                    }
                    return;
                }
                self.product(None, factors, context, out);
            }
        }
    }

    /// Renders a term without its leading minus sign, in a context that needs no parentheses.
    /// The term is not copied, because copying at every level of a deep formula is quadratic.
    fn magnitude(&self, term: &Expr, out: &mut String) {
        match (term, negative_coefficient(term)) {
            (Expr::Num(_), Some(magnitude)) => self.number(&magnitude, Context::Top, out),
            (Expr::Mul(factors), Some(magnitude)) => {
                let coefficient = (!magnitude.is_one()).then_some(magnitude);
                self.product(coefficient, &factors[1..], Context::Top, out);
            }
            _ => self.expr_in(term, Context::Top, out),
        }
    }

    /// Renders `coefficient` (if any) followed by `factors` as a product.
    fn product(
        &self,
        coefficient: Option<Number>,
        factors: &[Expr],
        context: Context,
        out: &mut String,
    ) {
        let count = factors.len() + usize::from(coefficient.is_some());
        if count == 1 {
            match &coefficient {
                Some(n) => self.number(n, context, out),
                None => self.expr_in(&factors[0], context, out),
            }
            return;
        }
        let needs_parens = context == Context::Atom;
        if needs_parens {
            self.open(out);
        }
        let last = count - 1;
        let items = coefficient
            .iter()
            .map(Item::Number)
            .chain(factors.iter().map(Item::Expr));
        for (at, item) in items.enumerate() {
            if at > 0 {
                out.push_str(match self.format {
                    Format::Ascii => " * ",
                    Format::Unicode | Format::Latex => " ",
                });
            }
            let factor_context = if at == last {
                Context::LastFactor
            } else {
                Context::Factor
            };
            match item {
                Item::Number(n) => self.number(n, factor_context, out),
                Item::Expr(factor) => self.expr_in(factor, factor_context, out),
            }
        }
        if needs_parens {
            self.close(out);
        }
    }

    fn minus(&self) -> &'static str {
        match self.format {
            Format::Unicode => "−",
            Format::Latex | Format::Ascii => "-",
        }
    }

    fn number(&self, n: &Number, context: Context, out: &mut String) {
        let negative = n.is_negative();
        let fraction = !n.is_integer();
        let needs_parens = (negative || fraction) && context >= Context::Factor;
        if self.format == Format::Latex && fraction {
            if negative {
                out.push('-');
            }
            write!(out, "\\frac{{{}}}{{{}}}", n.numer().abs(), n.denom()).expect("write to String");
            return;
        }
        if needs_parens {
            out.push('(');
        }
        if negative {
            out.push_str(self.minus());
        }
        write!(out, "{}", n.numer().abs()).expect("write to String");
        if fraction {
            write!(out, "/{}", n.denom()).expect("write to String");
        }
        if needs_parens {
            out.push(')');
        }
    }

    fn power(&self, base: &Expr, exponent: &Number, out: &mut String) {
        if self.format == Format::Latex && exponent == &Number::new((-1).into(), 1.into()) {
            out.push_str("\\frac{1}{");
            self.expr_in(base, Context::Top, out);
            out.push('}');
            return;
        }
        // A power as the base needs parentheses: `^` groups to the right, so `s^2^3` would read
        // as `s^(2^3)`, and LaTeX rejects a double superscript.
        if matches!(base, Expr::Pow(..)) {
            self.open(out);
            self.expr_in(base, Context::Top, out);
            self.close(out);
        } else {
            self.expr_in(base, Context::Atom, out);
        }
        out.push('^');
        match self.format {
            Format::Latex => {
                out.push('{');
                self.number(exponent, Context::Top, out);
                out.push('}');
            }
            Format::Unicode | Format::Ascii => {
                if exponent.is_integer() && !exponent.is_negative() {
                    self.number(exponent, Context::Top, out);
                } else {
                    out.push('(');
                    self.number(exponent, Context::Top, out);
                    out.push(')');
                }
            }
        }
    }

    fn sum_prefix(&self, bound: &[Index], out: &mut String) {
        let names: Vec<&str> = bound.iter().map(|i| &*i.name).collect();
        match self.format {
            Format::Unicode => {
                if names.len() == 1 {
                    write!(out, "Σ_{} ", names[0]).expect("write to String");
                } else {
                    write!(out, "Σ_{{{}}} ", names.join(",")).expect("write to String");
                }
            }
            Format::Ascii => {
                if names.len() == 1 {
                    write!(out, "sum_{} ", names[0]).expect("write to String");
                } else {
                    write!(out, "sum_{{{}}} ", names.join(", ")).expect("write to String");
                }
            }
            Format::Latex => {
                let latex: Vec<String> = names.iter().map(|n| latex_index(n)).collect();
                write!(out, "\\sum_{{{}}} ", latex.join(", ")).expect("write to String");
            }
        }
    }

    fn function(&self, function: &Function, order: u32, out: &mut String) {
        let primes = "'".repeat(order as usize);
        match self.format {
            Format::Ascii => write!(out, "{}{primes}", function.name()).expect("write to String"),
            Format::Unicode => {
                write!(out, "{}{primes}", unicode_name(function.name())).expect("write to String")
            }
            Format::Latex => {
                let name = match function {
                    Function::Builtin(b) => format!("\\operatorname{{{}}}", b.name()),
                    Function::Abstract(name) => latex_name(name),
                };
                write!(out, "{name}{primes}").expect("write to String");
            }
        }
    }

    fn element(&self, element: &Element, out: &mut String) {
        match self.format {
            Format::Unicode | Format::Ascii => {
                out.push_str(&element.name);
                if !element.indices.is_empty() {
                    let names: Vec<&str> = element.indices.iter().map(|i| &*i.name).collect();
                    let separator = if self.format == Format::Ascii {
                        ", "
                    } else {
                        ","
                    };
                    write!(out, "[{}]", names.join(separator)).expect("write to String");
                }
            }
            Format::Latex => {
                out.push_str(&latex_name(&element.name));
                if !element.indices.is_empty() {
                    out.push_str("_{");
                    self.latex_indices(&element.indices, out);
                    out.push('}');
                }
            }
        }
    }

    fn latex_indices(&self, indices: &[Index], out: &mut String) {
        let names: Vec<String> = indices.iter().map(|i| latex_index(&i.name)).collect();
        let all_single = indices.iter().all(|i| i.name.chars().count() == 1);
        out.push_str(&names.join(if all_single { "" } else { ", " }));
    }

    fn partial(&self, of: &Element, wrt: &Element, out: &mut String) {
        match self.format {
            Format::Unicode => {
                out.push('∂');
                self.element(of, out);
                out.push_str("/∂");
                self.element(wrt, out);
            }
            Format::Ascii => {
                out.push_str("d(");
                self.element(of, out);
                out.push_str(")/d(");
                self.element(wrt, out);
                out.push(')');
            }
            Format::Latex => {
                out.push_str("\\frac{\\partial ");
                self.element(of, out);
                out.push_str("}{\\partial ");
                self.element(wrt, out);
                out.push('}');
            }
        }
    }
}

/// A factor of a rendered product: the coefficient, or an expression.
enum Item<'a> {
    Number(&'a Number),
    Expr(&'a Expr),
}

/// Returns the magnitude of a term's leading coefficient if it is negative.
fn negative_coefficient(term: &Expr) -> Option<Number> {
    match term {
        Expr::Num(n) if n.is_negative() => Some(-n.clone()),
        Expr::Mul(factors) => match factors.first() {
            Some(Expr::Num(n)) if n.is_negative() => Some(-n.clone()),
            _ => None,
        },
        _ => None,
    }
}

const GREEK: &[(&str, &str)] = &[
    ("alpha", "α"),
    ("beta", "β"),
    ("gamma", "γ"),
    ("epsilon", "ε"),
    ("eta", "η"),
    ("theta", "θ"),
    ("lambda", "λ"),
    ("mu", "μ"),
    ("nu", "ν"),
    ("phi", "φ"),
    ("psi", "ψ"),
    ("rho", "ρ"),
    ("sigma", "σ"),
    ("tau", "τ"),
    ("omega", "ω"),
];

fn unicode_name(name: &str) -> String {
    GREEK
        .iter()
        .find(|(word, _)| *word == name)
        .map_or_else(|| name.to_string(), |(_, symbol)| symbol.to_string())
}

fn latex_index(name: &str) -> String {
    match name {
        "l" => "\\ell".to_string(),
        other => latex_name(other),
    }
}

/// `W2` → `W^{(2)}`, `yhat` → `\hat{y}`, `sigma` → `\sigma`, `loss` → `\mathrm{loss}`.
fn latex_name(name: &str) -> String {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &name[stem.len()..];
    let body = if let Some(base) = stem.strip_suffix("hat").filter(|b| !b.is_empty()) {
        format!("\\hat{{{}}}", latex_symbol(base))
    } else {
        latex_symbol(stem)
    };
    if digits.is_empty() || stem.is_empty() {
        if stem.is_empty() {
            return name.to_string();
        }
        body
    } else {
        format!("{body}^{{({digits})}}")
    }
}

fn latex_symbol(stem: &str) -> String {
    if GREEK.iter().any(|(word, _)| *word == stem) {
        format!("\\{stem}")
    } else if stem.chars().count() == 1 {
        stem.to_string()
    } else {
        format!("\\mathrm{{{}}}", stem.replace('_', "\\_"))
    }
}
