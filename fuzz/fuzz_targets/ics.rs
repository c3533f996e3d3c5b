//! AFL++ target: `scheduler::fuzzing::ics` (see its documentation for what is checked).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        scheduler::fuzzing::ics(data);
    });
}
