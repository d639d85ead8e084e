//! The checked model: declarations resolved, every index given a range, relations ordered.

use std::collections::HashMap;
use std::fmt;

use crate::ast::{Claim, Derivation, Ident, Program, Relation, TensorRole};
use crate::span::Span;

/// The range of an index: a declared dimension or a literal size.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// A dimension declared with `dim`.
    Named(String),
    /// A literal size.
    Fixed(u64),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Named(name) => f.write_str(name),
            Dim::Fixed(size) => write!(f, "{size}"),
        }
    }
}

/// A declared dimension.
#[derive(Debug, Clone)]
pub struct DimInfo {
    /// Its name.
    pub name: Ident,
    /// Its concrete size, if the file gives one.
    pub value: Option<u64>,
}

/// A declared input, target or parameter.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// Its name.
    pub name: Ident,
    /// Input, target or parameter.
    pub role: TensorRole,
    /// One dimension per axis; empty for a scalar.
    pub shape: Vec<Dim>,
}

/// A relation with its indices resolved.
#[derive(Debug, Clone)]
pub struct RelationInfo {
    /// The relation as parsed.
    pub relation: Relation,
    /// The range of each free index, in the order of the left side.
    pub shape: Vec<Dim>,
    /// The range of every index occurrence in the relation, keyed by the span of the occurrence
    /// (left side, `sum_` binders, and uses alike).
    pub index_ranges: HashMap<Span, Dim>,
    /// The names of the relations that this one reads.
    pub depends_on: Vec<String>,
}

impl RelationInfo {
    /// Returns the relation's name.
    pub fn name(&self) -> &str {
        &self.relation.name.name
    }
}

/// A claim whose names and indices agree with the model.
#[derive(Debug, Clone)]
pub struct ClaimInfo {
    /// The claim as parsed.
    pub claim: Claim,
    /// The free indices of its left side with their ranges, numerator's first, each name once.
    pub free_indices: Vec<(Ident, Dim)>,
    /// The range of every index occurrence in the claim, keyed by the span of the occurrence.
    pub index_ranges: HashMap<Span, Dim>,
}

/// A derivation whose names and indices agree with the model.
#[derive(Debug, Clone)]
pub struct DerivationInfo {
    /// The derivation as parsed.
    pub derivation: Derivation,
    /// The free indices of its start with their ranges, numerator's first, each name once.
    pub free_indices: Vec<(Ident, Dim)>,
    /// The range of every index occurrence in the start and all steps, keyed by the span of the
    /// occurrence.
    pub index_ranges: HashMap<Span, Dim>,
}

/// A model that passed the semantic checks.
#[derive(Debug, Clone)]
pub struct CheckedModel {
    /// The parsed file.
    pub program: Program,
    /// Declared dimensions, in declaration order.
    pub dims: Vec<DimInfo>,
    /// Declared inputs, targets and parameters, in declaration order.
    pub tensors: Vec<TensorInfo>,
    /// Declared abstract element-wise functions.
    pub functions: Vec<Ident>,
    /// Relations in a topological order: each one after every relation it reads.
    pub relations: Vec<RelationInfo>,
    /// The index into `relations` of the loss.
    pub loss: usize,
    /// Checked claims, in source order.
    pub claims: Vec<ClaimInfo>,
    /// Checked derivations, in source order.
    pub derivations: Vec<DerivationInfo>,
}

impl CheckedModel {
    /// Finds a declared input, target or parameter.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|tensor| tensor.name.name == name)
    }

    /// Finds a relation.
    pub fn relation(&self, name: &str) -> Option<&RelationInfo> {
        self.relations
            .iter()
            .find(|relation| relation.name() == name)
    }

    /// Returns the loss relation.
    pub fn loss(&self) -> &RelationInfo {
        &self.relations[self.loss]
    }

    /// Returns the parameters, in declaration order.
    pub fn params(&self) -> impl Iterator<Item = &TensorInfo> {
        self.tensors
            .iter()
            .filter(|tensor| tensor.role == TensorRole::Param)
    }

    /// Returns the concrete size of a dimension, if the file gives one.
    pub fn dim_value(&self, dim: &Dim) -> Option<u64> {
        match dim {
            Dim::Fixed(size) => Some(*size),
            Dim::Named(name) => self.dims.iter().find(|d| &d.name.name == name)?.value,
        }
    }
}
