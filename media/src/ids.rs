//! Identifier newtypes of the media plane. Each kind of id is its own type so that an
//! up-track id can never be passed where a down-track id is meant.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// A participant's connection to the SFU (one per joined browser tab).
    ParticipantId
);
id_type!(
    /// A track a participant publishes into the room.
    UpTrackId
);
id_type!(
    /// One subscriber's copy of an up-track.
    DownTrackId
);
