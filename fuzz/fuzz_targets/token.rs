//! AFL++ target: `viva::fuzzing::token` (see its documentation for what is checked).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        viva::fuzzing::token(data);
    });
}
