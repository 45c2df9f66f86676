//! Linux mt-st's `mt -f DEVICE status`, read into a [`Tape`].
//!
//! mt-st's `do_status()` (iustin/mt-st mt.c) prints, for a SCSI drive:
//!
//! ```text
//! SCSI 2 tape drive:
//! File number=0, block number=0, partition=0.
//! Tape block size 0 bytes. Density code 0x46 (LTO-4).
//! Soft error count since last status=0
//! General status bits on (41010000):
//!  BOT ONLINE IM_REP_EN
//! ```
//!
//! The hexadecimal number is the driver's `mt_gstat`, and the words under it are printed from
//! its bits (mtio.h: `GMT_BOT` 0x40000000, `GMT_ONLINE` 0x01000000, `GMT_DR_OPEN` 0x00040000).
//! This module reads the number and checks the words against it. `status` opens the drive
//! without waiting for a tape, so an empty drive still prints a status: `ONLINE` is off
//! (`DR_OPEN` on, file and block -1). When the ioctl fails mt-st prints `DEVICE: REASON` on
//! stderr (exit 2) and no status; the error quotes it. Fixtures: tests/fixtures/mt-st/.

use crate::os::Tape;

const GMT_BOT: u64 = 0x4000_0000;
const GMT_ONLINE: u64 = 0x0100_0000;

/// The status words mt-st prints, with their bits (mt.c `do_status()`, mtio.h).
const WORDS: [(&str, u64); 13] = [
    ("EOF", 0x8000_0000),
    ("BOT", GMT_BOT),
    ("EOT", 0x2000_0000),
    ("SM", 0x1000_0000),
    ("EOD", 0x0800_0000),
    ("WR_PROT", 0x0400_0000),
    ("ONLINE", GMT_ONLINE),
    ("D_6250", 0x0080_0000),
    ("D_1600", 0x0040_0000),
    ("D_800", 0x0020_0000),
    ("DR_OPEN", 0x0004_0000),
    ("IM_REP_EN", 0x0001_0000),
    ("CLN", 0x0000_8000),
];

/// Reads `mt -f DEVICE status`: no `ONLINE` bit is an empty (or offline) drive; `ONLINE` with
/// `BOT` is a tape at BOT, which mt-st reports as file 0, block 0; `ONLINE` without `BOT` is a
/// tape elsewhere, with `file` `None` when mt-st prints `File number=-1` (position unknown).
/// A tape online whose block number is unknown (-1) cannot be placed, and is an error, as is
/// anything this does not understand.
pub fn parse_status(stdout: &str, stderr: &str) -> Result<Tape, String> {
    let said = || match stderr.trim() {
        "" => String::new(),
        e => format!(" (stderr: `{e}`)"),
    };
    let lines: Vec<&str> = stdout.lines().collect();
    let Some(at) = lines.iter().position(|l| l.trim_start().starts_with("General status bits on (")) else {
        return Err(format!("no `General status bits on (...)` line in mt's output{}", said()));
    };
    let header = lines[at].trim();
    let bits = header
        .strip_prefix("General status bits on (")
        .and_then(|rest| rest.strip_suffix("):"))
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| format!("`{header}`: the status bits are not a hexadecimal number"))?;
    let printed = lines.get(at + 1).copied().unwrap_or("").trim();
    let words: Vec<&str> = printed.split_whitespace().collect();
    for (word, bit) in WORDS {
        if words.contains(&word) != (bits & bit != 0) {
            return Err(format!("`{header}` and `{printed}` disagree about {word}"));
        }
    }
    if let Some(unknown) = words.iter().find(|w| !WORDS.iter().any(|(known, _)| known == *w)) {
        return Err(format!("`{printed}`: unknown status word `{unknown}`"));
    }
    if bits & GMT_ONLINE == 0 {
        return Ok(Tape::Empty);
    }
    let position = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("File number="))
        .ok_or_else(|| format!("a tape is online but there is no `File number=` line in mt's output{}", said()))?;
    let number = |name: &str| -> Result<i64, String> {
        let start = position.find(name).ok_or_else(|| format!("`{position}`: no `{name}`"))? + name.len();
        let digits: String = position[start..]
            .chars()
            .enumerate()
            .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '-'))
            .map(|(_, c)| c)
            .collect();
        digits.parse().map_err(|_| format!("`{position}`: `{name}` is not followed by a number"))
    };
    let (file, block) = (number("File number=")?, number("block number=")?);
    if bits & GMT_BOT != 0 {
        return match (file, block) {
            (0, 0) => Ok(Tape::AtBot),
            _ => Err(format!("`{position}` with `{printed}`: BOT at a position other than file 0, block 0")),
        };
    }
    let block = u64::try_from(block)
        .map_err(|_| format!("`{position}`: a tape is online at an unknown block (not at BOT, position unknown)"))?;
    Ok(Tape::Away { file: u64::try_from(file).ok(), block })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::fixture;

    #[test]
    fn a_rewound_tape_is_at_bot() {
        assert_eq!(parse_status(&fixture("mt-st/status_bot_online.txt"), ""), Ok(Tape::AtBot));
    }

    #[test]
    fn a_drive_without_a_tape_is_empty() {
        assert_eq!(parse_status(&fixture("mt-st/status_no_tape.txt"), ""), Ok(Tape::Empty));
    }

    #[test]
    fn a_tape_after_file_3_is_away() {
        assert_eq!(parse_status(&fixture("mt-st/status_not_bot.txt"), ""), Ok(Tape::Away { file: Some(3), block: 0 }));
    }

    #[test]
    fn a_failed_status_quotes_stderr() {
        let e = parse_status("", &fixture("mt-st/not_a_tape.txt")).unwrap_err();
        assert_eq!(
            e,
            "no `General status bits on (...)` line in mt's output (stderr: `/dev/null: Inappropriate ioctl for device`)"
        );
        let e = parse_status("", &fixture("mt-st/no_such_device.txt")).unwrap_err();
        assert!(e.contains("`/dev/no-such-tape: No such file or directory`"), "{e}");
    }

    fn status(position: &str, bits: &str, words: &str) -> String {
        format!(
            "SCSI 2 tape drive:\n{position}\nTape block size 0 bytes. Density code 0x58 (no translation).\n\
             Soft error count since last status=0\nGeneral status bits on ({bits}):\n{words}\n"
        )
    }

    #[test]
    fn positions_read_as_mt_st_prints_them() {
        for (position, bits, words, tape) in [
            (
                "File number=1, block number=0, partition=0.",
                "81010000",
                " EOF ONLINE IM_REP_EN",
                Tape::Away { file: Some(1), block: 0 },
            ),
            (
                "File number=0, block number=12, partition=0.",
                "1010000",
                " ONLINE IM_REP_EN",
                Tape::Away { file: Some(0), block: 12 },
            ),
            (
                "File number=-1, block number=57, partition=0.",
                "1010000",
                " ONLINE IM_REP_EN",
                Tape::Away { file: None, block: 57 },
            ),
            // SCSI 1 and unknown drive types print no partition.
            (
                "File number=2, block number=5.",
                "5010000",
                " WR_PROT ONLINE IM_REP_EN",
                Tape::Away { file: Some(2), block: 5 },
            ),
            ("File number=0, block number=0.", "41010000", " BOT ONLINE IM_REP_EN", Tape::AtBot),
            // BOT of partition 1 (tests/fixtures/mt-st/status_not_bot.txt's source shows one).
            ("File number=0, block number=0, partition=1.", "41010000", "  BOT ONLINE IM_REP_EN", Tape::AtBot),
            // Offline without DR_OPEN (a tape loading, a drive offline): no usable tape.
            ("File number=-1, block number=-1, partition=0.", "10000", " IM_REP_EN", Tape::Empty),
            ("File number=-1, block number=-1, partition=0.", "0", "", Tape::Empty),
        ] {
            assert_eq!(parse_status(&status(position, bits, words), ""), Ok(tape), "{position} {bits}");
        }
    }

    #[test]
    fn what_cannot_be_placed_is_an_error() {
        for (position, bits, words, why) in [
            ("File number=3, block number=-1, partition=0.", "1010000", " ONLINE IM_REP_EN", "at an unknown block"),
            (
                "File number=2, block number=0, partition=0.",
                "41010000",
                " BOT ONLINE IM_REP_EN",
                "BOT at a position other",
            ),
            (
                "File number=0, block number=0, partition=0.",
                "4101000g",
                " BOT ONLINE IM_REP_EN",
                "not a hexadecimal number",
            ),
            ("File number=0, block number=0, partition=0.", "41010000", " ONLINE IM_REP_EN", "disagree about BOT"),
            ("File number=0, block number=0, partition=0.", "1010000", " BOT ONLINE IM_REP_EN", "disagree about BOT"),
            (
                "File number=0, block number=0, partition=0.",
                "41010000",
                " BOT ONLINE IM_REP_EN FOO",
                "unknown status word `FOO`",
            ),
            (
                "File number=x, block number=0, partition=0.",
                "1010000",
                " ONLINE IM_REP_EN",
                "`File number=` is not followed by a number",
            ),
            ("File number=1, partition=0.", "1010000", " ONLINE IM_REP_EN", "no `block number=`"),
            ("Tape position unknown", "1010000", " ONLINE IM_REP_EN", "no `File number=` line"),
        ] {
            let e = parse_status(&status(position, bits, words), "").unwrap_err();
            assert!(e.contains(why), "{position} {bits}: {e}");
        }
    }
}
