//! AFL++ target: `viva::fuzzing::signaling` (see its documentation for what is checked).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        viva::fuzzing::signaling(data);
    });
}
