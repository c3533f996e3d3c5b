//! AFL++ target: `media::fuzzing::rtp` (see its documentation for what is checked).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        media::fuzzing::rtp(data);
    });
}
