//! How long each simulated operation takes on the real machine, in one table. Every fake command
//! sleeps its figure divided by the site's `--speed`.
//!
//! Sources: the Quantum DLT7000 product manual gives a maximum rewind time of about 120 s (a
//! rewind from mid-tape takes proportionally less); Sun's E10000 Dynamic Reconfiguration guides
//! describe POST of a system board during `addboard` as taking several minutes (5 min here) and
//! the memory drain of `deleteboard` as proportional to the memory to move (1 GB, about 60 s, plus
//! about 30 s for complete_detach); NetBackup's rc scripts take tens of seconds to stop and start
//! the daemons. The small figures (a vmoprcmd, an ssh round trip to the SSP) are typical
//! observations, not measurements.

/// Seconds on the real platform.
pub mod secs {
    /// A full DLT7000 rewind from the end of the tape.
    pub const REWIND_FULL: f64 = 120.0;
    pub const MT_STATUS: f64 = 0.5;
    pub const VMOPRCMD_UPDOWN: f64 = 1.0;
    pub const VMOPRCMD_STATUS: f64 = 0.5;
    pub const NETBACKUP_STOP: f64 = 20.0;
    pub const NETBACKUP_START: f64 = 40.0;
    pub const BPPS: f64 = 0.5;
    pub const BPDBJOBS: f64 = 1.0;
    pub const MODINFO: f64 = 0.1;
    pub const MODUNLOAD: f64 = 1.0;
    pub const MODLOAD: f64 = 1.0;
    pub const PSRSET_PBIND: f64 = 0.1;
    pub const KILL: f64 = 0.1;
    /// One ssh round trip to the SSP plus the command's own work.
    pub const SHOWUSAGE: f64 = 1.0;
    /// deleteboard: the drain of 1 GB of memory, then complete_detach.
    pub const DRAIN: f64 = 60.0;
    pub const COMPLETE_DETACH: f64 = 30.0;
    /// addboard: POST of one system board (init_attach), then complete_attach.
    pub const POST: f64 = 300.0;
    pub const COMPLETE_ATTACH: f64 = 60.0;
    pub const BPPLLIST: f64 = 0.5;
    /// A local virsh call that only reads (dumpxml, list).
    pub const VIRSH: f64 = 0.2;
    /// virsh attach-device of a PCI hostdev: VFIO setup and QEMU's device_add.
    pub const VIRSH_ATTACH: f64 = 2.0;
    /// virsh detach-device when the guest releases the device at once.
    pub const VIRSH_DETACH: f64 = 1.0;
    /// How long libvirt waits for QEMU's DEVICE_DELETED before it returns with the unplug still
    /// pending (QEMU_UNPLUG_TIMEOUT in libvirt's qemu_hotplug.c: 5 s).
    pub const UNPLUG_TIMEOUT: f64 = 5.0;
    /// A guest's kernel probing a Fibre Channel HBA after a hot plug: the driver's firmware
    /// start, link up, fabric login and target scan (a typical observation, not a measurement).
    pub const HBA_PROBE: f64 = 15.0;
}

/// Blocks from BOT at which a rewind takes [`secs::REWIND_FULL`] (the end of a DLT IV tape).
pub const TAPE_BLOCKS: u64 = 400_000;

/// The default `--speed`: two hand-overs (the demo) in about 15 s.
pub const DEFAULT_SPEED: f64 = 100.0;

pub fn rewind_secs(position: u64) -> f64 {
    secs::REWIND_FULL * (position.min(TAPE_BLOCKS) as f64 / TAPE_BLOCKS as f64)
}
