//! Reverse accumulation: the adjoint `∂L/∂R` of every relation, derived once in reverse
//! topological order, and the gradient of the loss with respect to every parameter built from
//! them. Work grows linearly with depth, where expanding the chain rule path by path would
//! multiply it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::chain_rule::differentiate;
use crate::expr::{Element, Expr, Index, FREE_NAMES};
use crate::model::Model;
use crate::simplify::{canonical, canonical_names, splice_adjoints};
use crate::substitute::{freshen, rename_indices};

/// One step of a derivation: the rule applied and the expression it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The rule, such as `chain-rule` or `delta-contraction`.
    pub rule: &'static str,
    /// What a person would say the step does.
    pub description: String,
    /// The right side after the step.
    pub expr: Expr,
}

/// A derived quantity: `∂L/∂X[indices]` for a relation or a parameter `X`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derivative {
    /// The loss's name.
    pub loss: Arc<str>,
    /// `X[indices]`.
    pub wrt: Element,
    /// In terms of the adjoints of the relations that read `X`: the backprop recurrence.
    pub recurrence: Expr,
    /// With every adjoint substituted: a closed formula in the model's tensors.
    pub expanded: Expr,
    /// How the recurrence and the formula were reached.
    pub steps: Vec<Step>,
}

/// Every adjoint and parameter gradient of a model's loss.
#[derive(Debug, Clone)]
pub struct Derivation {
    /// The model differentiated.
    pub model: Model,
    /// Adjoints of the relations that affect the loss, from the loss backwards.
    pub adjoints: Vec<Derivative>,
    /// Gradients of the parameters, in declaration order.
    pub gradients: Vec<Derivative>,
}

impl Derivation {
    /// Finds the gradient with respect to a parameter.
    pub fn gradient(&self, param: &str) -> Option<&Derivative> {
        self.gradients.iter().find(|g| &*g.wrt.name == param)
    }

    /// Finds the adjoint of a relation.
    pub fn adjoint(&self, relation: &str) -> Option<&Derivative> {
        self.adjoints.iter().find(|a| &*a.wrt.name == relation)
    }
}

/// Options of [`derive_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeriveOptions {
    /// Also substitute the adjoints into closed formulas. The closed formula of a depth-`D`
    /// chain nests `D` sums, so building all of them costs far more than the recurrences (see
    /// BENCHMARKS.md).
    pub expand: bool,
}

impl Default for DeriveOptions {
    fn default() -> Self {
        DeriveOptions { expand: true }
    }
}

/// Derives every adjoint and parameter gradient of the model's loss, with closed formulas.
pub fn derive(model: &Model) -> Derivation {
    derive_with(model, DeriveOptions::default())
}

/// Derives every adjoint and parameter gradient of the model's loss. Without
/// [`DeriveOptions::expand`], each derivative's `expanded` field repeats its recurrence.
pub fn derive_with(model: &Model, options: DeriveOptions) -> Derivation {
    let loss = model.loss();
    let loss_name: Arc<str> = loss.lhs.name.clone();
    let readers = live_readers(model);

    let mut adjoints: Vec<Derivative> = Vec::new();
    // Positions in `adjoints` by relation name, so closed forms are looked up, not copied.
    let mut positions: HashMap<Arc<str>, usize> = HashMap::new();
    for relation in model.relations.iter().rev() {
        if relation.lhs.name == loss_name || !readers.live.contains(&relation.lhs.name) {
            continue;
        }
        let wrt = gradient_element(&relation.lhs.name, &relation.shape());
        let derivative = derive_one(model, &readers, &wrt, (&adjoints, &positions), options);
        positions.insert(wrt.name.clone(), adjoints.len());
        adjoints.push(derivative);
    }
    let gradients = model
        .params()
        .map(|param| {
            derive_one(
                model,
                &readers,
                &gradient_element(&param.name, &param.shape),
                (&adjoints, &positions),
                options,
            )
        })
        .collect();
    Derivation {
        model: model.clone(),
        adjoints,
        gradients,
    }
}

/// The relations the loss depends on, the loss included.
fn live_relations(model: &Model) -> BTreeSet<Arc<str>> {
    let by_name: HashMap<&str, &Expr> = model
        .relations
        .iter()
        .map(|r| (r.name(), &r.body))
        .collect();
    let mut live = BTreeSet::new();
    let mut pending = vec![model.loss().lhs.name.clone()];
    while let Some(name) = pending.pop() {
        if !live.insert(name.clone()) {
            continue;
        }
        if let Some(body) = by_name.get(&*name) {
            body.walk(&mut |e| {
                if let Expr::Tensor(element) = e {
                    if by_name.contains_key(&*element.name) && !live.contains(&element.name) {
                        pending.push(element.name.clone());
                    }
                }
            });
        }
    }
    live
}

/// `X[j, k, ...]`: the element a gradient is taken with respect to, with conventional names.
fn gradient_element(name: &str, shape: &[crate::expr::Dim]) -> Element {
    let indices = shape
        .iter()
        .zip(FREE_NAMES)
        .map(|(dim, name)| Index::new(name, dim.clone()))
        .collect();
    Element::new(name, indices)
}

/// The relations the loss depends on, and for each tensor the positions of those that read it.
struct Readers {
    live: BTreeSet<Arc<str>>,
    by_tensor: HashMap<Arc<str>, Vec<usize>>,
}

/// Indexes, in one pass over the relations, which live relations read each tensor.
fn live_readers(model: &Model) -> Readers {
    let live = live_relations(model);
    let mut by_tensor: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
    for (position, relation) in model.relations.iter().enumerate() {
        if !live.contains(&relation.lhs.name) {
            continue;
        }
        relation.body.walk(&mut |e| {
            if let Expr::Tensor(element) = e {
                let positions = by_tensor.entry(element.name.clone()).or_default();
                if positions.last() != Some(&position) {
                    positions.push(position);
                }
            }
        });
    }
    Readers { live, by_tensor }
}

/// Derives `∂L/∂wrt` from the adjoints of the relations that read `wrt`.
fn derive_one(
    model: &Model,
    readers: &Readers,
    wrt: &Element,
    (derived, adjoint_positions): (&[Derivative], &HashMap<Arc<str>, usize>),
    options: DeriveOptions,
) -> Derivative {
    let loss_name = model.loss().lhs.name.clone();
    let wrt_names: BTreeSet<Arc<str>> = wrt.indices.iter().map(|i| i.name.clone()).collect();
    let mut chain_terms = Vec::new();
    let mut local_terms = Vec::new();
    let positions = readers
        .by_tensor
        .get(&wrt.name)
        .map_or(&[][..], Vec::as_slice);
    for consumer in positions.iter().map(|&position| &model.relations[position]) {
        // The consumer's own free indices become summed indices; keep them clear of `wrt`'s.
        let mut taken = wrt_names.clone();
        consumer.body.index_names(&mut taken);
        let (summed, map) = freshen(
            &consumer.lhs.indices,
            |index| wrt_names.contains(&index.name),
            &mut taken,
        );
        let body = rename_indices(&consumer.body, &map);
        let consumer_element = Element {
            name: consumer.lhs.name.clone(),
            indices: summed.clone(),
        };
        let adjoint = if consumer.lhs.name == loss_name {
            Expr::one()
        } else {
            Expr::Adjoint(consumer_element.clone())
        };
        let partial = Expr::Partial(Box::new((consumer_element, wrt.clone())));
        chain_terms.push(Expr::sum(
            summed.clone(),
            Expr::mul(vec![adjoint.clone(), partial]),
        ));
        local_terms.push(Expr::sum(
            summed,
            Expr::mul(vec![adjoint, differentiate(&body, wrt)]),
        ));
    }
    let chain = Expr::add(chain_terms);
    let local = Expr::add(local_terms);
    let collected = canonical_names(&local);
    let recurrence = canonical(&local);

    let expanded_formula = if options.expand {
        let spliced = splice_adjoints(&recurrence, &|element| {
            let derivative = &derived[*adjoint_positions.get(&element.name)?];
            let (params, formula) = (&derivative.wrt.indices, &derivative.expanded);
            let map: Vec<(Index, Index)> = params
                .iter()
                .cloned()
                .zip(element.indices.iter().cloned())
                .filter(|(from, to)| from != to)
                .collect();
            Some(rename_indices(formula, &map))
        });
        canonical_names(&spliced)
    } else {
        recurrence.clone()
    };

    let what = describe(wrt);
    let mut steps = vec![
        Step {
            rule: "chain-rule",
            description: format!("chain rule through the relations that read {what}"),
            expr: chain,
        },
        Step {
            rule: "local-derivative",
            description:
                "differentiate each relation: an element of the same tensor gives Kronecker deltas"
                    .into(),
            expr: collected,
        },
    ];
    if steps[1].expr != recurrence {
        steps.push(Step {
            rule: "delta-contraction",
            description: "contract each delta with the sum over its index and simplify".into(),
            expr: recurrence.clone(),
        });
    }
    if expanded_formula != recurrence {
        steps.push(Step {
            rule: "substitute-adjoints",
            description: "substitute the adjoints derived before".into(),
            expr: expanded_formula.clone(),
        });
    }
    Derivative {
        loss: loss_name,
        wrt: wrt.clone(),
        recurrence,
        expanded: expanded_formula,
        steps,
    }
}

fn describe(element: &Element) -> String {
    if element.indices.is_empty() {
        element.name.to_string()
    } else {
        let names: Vec<&str> = element.indices.iter().map(|i| &*i.name).collect();
        format!("{}[{}]", element.name, names.join(","))
    }
}
