//! Newtype ids so a table id is never passed where a column id is expected.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl $name {
            /// The raw number, for encodings and array indexes.
            pub fn get(self) -> u32 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A database, unique within one Strata instance.
    DbId
);
id_type!(
    /// A table (measurement), unique within its database.
    TableId
);
id_type!(
    /// A column, unique within its table. Ids are never reused, so files written under
    /// an older schema stay readable.
    ColumnId
);
id_type!(
    /// A series: one distinct tag set within one table.
    SeriesId
);
