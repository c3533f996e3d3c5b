//! AFL++ target: `media::fuzzing::tcp_frames` (see its documentation for what is checked).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        media::fuzzing::tcp_frames(data);
    });
}
