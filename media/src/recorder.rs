//! The recorder's foundation: GStreamer initialisation and a check that the elements
//! the recorder and post-production need are installed. The capture pipelines
//! themselves come with the recording work; until then `viva serve` reports at start
//! whether this machine could record, so a missing plugin package is found on day one
//! rather than in the middle of a defense.

/// Elements used to write forwarded RTP to crash-safe files without transcoding.
pub const CAPTURE_ELEMENTS: &[&str] = &[
    "appsrc",
    "rtpjitterbuffer",
    "rtpvp8depay",
    "rtpopusdepay",
    "matroskamux",
    "filesink",
];

/// What the GStreamer installation can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderCapability {
    /// GStreamer's version string.
    pub gstreamer_version: String,
    /// Elements from [`CAPTURE_ELEMENTS`] that are missing.
    pub missing_elements: Vec<String>,
}

impl RecorderCapability {
    /// Whether every capture element is present.
    pub fn can_record(&self) -> bool {
        self.missing_elements.is_empty()
    }
}

/// Initialises GStreamer (idempotent) and checks the capture elements.
pub fn probe() -> Result<RecorderCapability, String> {
    gstreamer::init().map_err(|e| format!("GStreamer could not be initialised: {e}"))?;
    let missing_elements = CAPTURE_ELEMENTS
        .iter()
        .filter(|name| gstreamer::ElementFactory::find(name).is_none())
        .map(|name| (*name).to_owned())
        .collect();
    Ok(RecorderCapability {
        gstreamer_version: gstreamer::version_string().to_string(),
        missing_elements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_elements_are_installed() {
        let capability = probe().expect("gstreamer initialises");
        assert!(
            capability.can_record(),
            "missing GStreamer elements: {:?}",
            capability.missing_elements
        );
        assert!(capability.gstreamer_version.starts_with("GStreamer 1."));
    }
}
