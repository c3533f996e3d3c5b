//! AFL++ target: `media::fuzzing::sdp` (see its documentation for what is checked).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        media::fuzzing::sdp(data);
    });
}
