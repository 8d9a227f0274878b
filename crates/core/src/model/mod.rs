//! The entity layer: what is stored and how (records, entities, relations, pages).

pub mod aws_policies;
pub mod entity;
pub mod pagination;
pub mod quotas;
pub mod records;
pub mod relation;
pub mod shared;
