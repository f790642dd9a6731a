//! One handler module per API family.

pub(crate) mod arc_query;
pub(crate) mod health;
pub(crate) mod query;
mod stream;
pub(crate) mod write;

use std::collections::HashMap;

/// Query-string parameters; a repeated key keeps its last value.
pub(crate) type Params = HashMap<String, String>;
