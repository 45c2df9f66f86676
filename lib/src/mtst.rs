//! PLACEHOLDER until the sourced parser lands.
use crate::os::Tape;

pub fn parse_status(stdout: &str, _stderr: &str) -> Result<Tape, String> {
    let bits = stdout.lines().last().unwrap_or_default();
    if bits.contains("DR_OPEN") || !bits.contains("ONLINE") {
        return Ok(Tape::Empty);
    }
    if bits.contains("BOT") {
        return Ok(Tape::AtBot);
    }
    Ok(Tape::Away { file: None, block: 0 })
}
