//! AFL++ target: `scheduler::fuzzing::csv_import` (see its documentation for what is checked).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        scheduler::fuzzing::csv_import(data);
    });
}
