//! AFL++ target: `media::fuzzing::stun` (see its documentation for what is checked).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        media::fuzzing::stun(data);
    });
}
