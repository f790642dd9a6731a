//! One handler module per API family.

pub(crate) mod health;
pub(crate) mod query;
pub(crate) mod write;

use std::collections::HashMap;

/// Query-string parameters; a repeated key keeps its last value.
pub(crate) type Params = HashMap<String, String>;
