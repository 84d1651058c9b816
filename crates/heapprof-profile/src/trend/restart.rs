//! Whether two heap profiles of one target came from different processes: a
//! restart starts a new series, and a difference across it means nothing.
//!
//! Two signs, either enough:
//! - the main program (the first mapping, by pprof's convention) is mapped at
//!   another address or is another build: address-space randomization places a
//!   position-independent program anew in each process, and a process cannot
//!   remap its own executable;
//! - a cumulative total (`alloc_space`, else `alloc_objects`) went down. This
//!   one also covers programs without mappings or randomization (Go's default
//!   non-PIE builds), but misses a new process that has already allocated more
//!   than the old one had.

use crate::Profile;

/// What a profile tells about the process that wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessMark {
    /// The main program's (start address, build id, file), when the profile has mappings.
    main_program: Option<(u64, String, String)>,
    /// The total of `alloc_space`, else `alloc_objects`, when the profile has one.
    cumulative: Option<i64>,
}

/// How a restart showed itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// The main program is mapped at another address.
    ProgramMovedInMemory,
    /// The main program's build id or file changed.
    OtherProgram,
    /// The allocation total went down.
    AllocationTotalWentDown,
}

impl Restart {
    /// Why the profiles are taken for different processes, for messages.
    pub fn reason(self) -> &'static str {
        match self {
            Restart::ProgramMovedInMemory => "its program is mapped at another address",
            Restart::OtherProgram => "its program's build changed",
            Restart::AllocationTotalWentDown => "its allocation total went down",
        }
    }
}

impl ProcessMark {
    /// The mark of the process that wrote `p`.
    pub fn of(p: &Profile) -> ProcessMark {
        let main_program = p
            .mapping
            .first()
            .map(|m| (m.memory_start, p.str(m.build_id).to_string(), p.str(m.filename).to_string()));
        let cumulative = ["alloc_space", "alloc_objects"]
            .iter()
            .find_map(|name| p.sample_type.iter().position(|vt| p.str(vt.r#type) == *name))
            .map(|i| p.sample.iter().filter_map(|s| s.value.get(i)).fold(0i64, |a, &v| a.saturating_add(v)));
        ProcessMark { main_program, cumulative }
    }

    /// Whether a process restart lies between `earlier` and `self`, and its sign.
    pub fn restart_since(&self, earlier: &ProcessMark) -> Option<Restart> {
        if let (Some((start, build_id, file)), Some((start0, build_id0, file0))) =
            (&self.main_program, &earlier.main_program)
        {
            // A build id is the stronger name; files are compared only without one.
            let same_build = if !build_id.is_empty() && !build_id0.is_empty() {
                build_id == build_id0
            } else {
                file == file0
            };
            if !same_build {
                return Some(Restart::OtherProgram);
            }
            if start != start0 {
                return Some(Restart::ProgramMovedInMemory);
            }
        }
        match (self.cumulative, earlier.cumulative) {
            (Some(now), Some(before)) if now < before => Some(Restart::AllocationTotalWentDown),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mapping, Sample, ValueType};

    fn profile(main: Option<(u64, &str, &str)>, alloc_space: i64) -> Profile {
        let mut p = Profile { string_table: vec![String::new()], ..Default::default() };
        let intern = |p: &mut Profile, s: &str| {
            p.string_table.push(s.to_string());
            (p.string_table.len() - 1) as i64
        };
        let (alloc, inuse, bytes) =
            (intern(&mut p, "alloc_space"), intern(&mut p, "inuse_space"), intern(&mut p, "bytes"));
        p.sample_type =
            vec![ValueType { r#type: alloc, unit: bytes }, ValueType { r#type: inuse, unit: bytes }];
        p.sample = vec![Sample { value: vec![alloc_space, 1], ..Default::default() }];
        if let Some((start, build_id, file)) = main {
            let (build_id, filename) = (intern(&mut p, build_id), intern(&mut p, file));
            p.mapping = vec![Mapping {
                id: 1,
                memory_start: start,
                memory_limit: start + 0x1000,
                build_id,
                filename,
                ..Default::default()
            }];
        }
        p
    }

    fn restart(a: &Profile, b: &Profile) -> Option<Restart> {
        ProcessMark::of(b).restart_since(&ProcessMark::of(a))
    }

    #[test]
    fn the_same_process_is_not_a_restart() {
        let a = profile(Some((0x5500_0000, "ab12", "/bin/app")), 100);
        let b = profile(Some((0x5500_0000, "ab12", "/bin/app")), 300);
        assert_eq!(restart(&a, &b), None);
        assert_eq!(restart(&profile(None, 1), &profile(None, 2)), None);
    }

    #[test]
    fn a_moved_program_is_a_restart_even_when_it_allocated_more() {
        let a = profile(Some((0x5500_0000, "ab12", "/bin/app")), 100);
        let b = profile(Some((0x5600_0000, "ab12", "/bin/app")), 300);
        assert_eq!(restart(&a, &b), Some(Restart::ProgramMovedInMemory));
    }

    #[test]
    fn another_build_is_a_restart() {
        let a = profile(Some((0x40_0000, "ab12", "/bin/app")), 100);
        assert_eq!(
            restart(&a, &profile(Some((0x40_0000, "cd34", "/bin/app")), 300)),
            Some(Restart::OtherProgram)
        );
        let a = profile(Some((0x40_0000, "", "/bin/app")), 100);
        assert_eq!(
            restart(&a, &profile(Some((0x40_0000, "", "/bin/app2")), 300)),
            Some(Restart::OtherProgram)
        );
        // The same build id under another path is the same program.
        let a = profile(Some((0x40_0000, "ab12", "/bin/app")), 100);
        assert_eq!(restart(&a, &profile(Some((0x40_0000, "ab12", "/deleted/app")), 300)), None);
    }

    #[test]
    fn a_falling_allocation_total_is_a_restart_with_or_without_mappings() {
        assert_eq!(restart(&profile(None, 300), &profile(None, 100)), Some(Restart::AllocationTotalWentDown));
        let a = profile(Some((0x40_0000, "ab12", "/bin/app")), 300);
        let b = profile(Some((0x40_0000, "ab12", "/bin/app")), 100);
        assert_eq!(restart(&a, &b), Some(Restart::AllocationTotalWentDown));
    }
}
