//! AFL++ target: `viva::fuzzing::whip_offer` (see its documentation for what is checked).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        viva::fuzzing::whip_offer(data);
    });
}
