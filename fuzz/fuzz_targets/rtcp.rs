//! AFL++ target: `media::fuzzing::rtcp` (see its documentation for what is checked).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        media::fuzzing::rtcp(data);
    });
}
