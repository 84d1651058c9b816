//! Symbolizing a profile written elsewhere: a stripped binary in production writes
//! addresses, mappings and build ids; the unstripped build (or its debug file) found
//! here by build id gives the names, files and lines. The same reader as in the
//! process ([`DebugInfo`]), the same names ([`frame`]) and the same cut of the
//! profiler's and allocator's frames at the leaf ([`leaf_cut`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use heapprof_profile::{Function, Line, Location, Mapping, Profile, ProfileBuilder};

use super::debug_info::DebugInfo;
use super::mapped_file::FileStamp;
use super::{Frame, frame, leaf_cut};

/// Where [`symbolize_profile`] looks for a mapping's file, besides the path the
/// mapping names and `/usr/lib/debug/.build-id/`.
#[derive(Clone, Debug, Default)]
pub struct SymbolizeOptions {
    /// Files to use for the mappings whose build id they have (or, for a mapping
    /// without a build id, whose file name they share).
    pub binaries: Vec<PathBuf>,
    /// Directories searched as `go tool pprof` searches `$PPROF_BINARY_PATH`:
    /// `DIR/<build id>/<name>`, `DIR/<id[..2]>/<id[2..]>.debug`, `DIR/<name>`,
    /// `DIR/<mapping's full path>`.
    pub search_path: Vec<PathBuf>,
}

/// What became of one mapping of the profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingReport {
    /// The mapping's file, as the profile names it.
    pub file: String,
    /// Its GNU build id (lowercase hex), empty when the profile has none.
    pub build_id: String,
    /// The outcome.
    pub outcome: MappingOutcome,
    /// Addresses of the mapping's locations still without any name.
    pub unresolved: Vec<u64>,
}

/// See [`MappingReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MappingOutcome {
    /// Every location already had functions, files and lines: left as it was.
    AlreadySymbolized,
    /// Resolved from `file`: `resolved` of the `locations` that needed it got names.
    Symbolized {
        /// The file read (its split debug file is found beside it as in the process).
        file: PathBuf,
        /// Locations that needed symbols.
        locations: usize,
        /// Of which resolved.
        resolved: usize,
    },
    /// No usable file: why each candidate was passed over, or the paths tried.
    NotFound {
        /// One line per candidate that exists but does not fit (or names none of the
        /// addresses), then the paths tried.
        tried: Vec<String>,
    },
    /// A kernel image (`[vdso]`) or a mapping without a file: nothing to read.
    NoFile,
}

/// Symbolizes the locations of `profile` that lack functions, files or lines, from
/// files found on this machine (see [`SymbolizeOptions`]). A file is used only when
/// its build id is the mapping's (when both have one). The profiler's and the
/// allocator's frames at the leaf are cut as in a profile symbolized in the process,
/// and samples whose stacks become equal are merged. Returns the new profile and a
/// report per mapping, in the profile's mapping order.
///
/// For many profiles of one program (a series, a watch loop), an
/// [`OfflineSymbolizer`] opens each file once.
pub fn symbolize_profile(
    profile: &Profile,
    opts: &SymbolizeOptions,
) -> Result<(Profile, Vec<MappingReport>), heapprof_profile::Error> {
    OfflineSymbolizer::new(opts.clone()).symbolize(profile.clone())
}

/// [`symbolize_profile`] for many profiles (a series, a `watch` loop): each mapping's
/// file is looked for and opened once, and its parsed debug information is kept, with
/// the addresses it names nothing at ([`OfflineSymbolizer::may_name_more`]). The lookup
/// is done again when one of the paths it looked at changes (a file copied to the search
/// path, a binary rebuilt in place), which costs a `stat` per path per profile.
pub struct OfflineSymbolizer {
    opts: SymbolizeOptions,
    /// By (mapping file, build id).
    files: HashMap<(String, String), Lookup>,
}

/// What [`find_file`] found for a mapping.
#[derive(Default)]
struct Lookup {
    /// The file to read and its debug information.
    found: Option<(PathBuf, DebugInfo)>,
    /// Why candidates were passed over (or all the paths tried, when none fits).
    reasons: Vec<String>,
    /// Every candidate path with what it was when looked at, and the paths the files
    /// opened looked at in turn (their debug files): the lookup holds while these, and
    /// the ones `found` looks at later (`.dwo` files), are the same.
    seen: Vec<(PathBuf, Option<FileStamp>)>,
    /// File offsets of the addresses `found` names nothing at.
    nameless: HashSet<u64>,
}

impl Lookup {
    fn still_holds(&self) -> bool {
        let found = self.found.iter().flat_map(|(_, info)| info.looked_at());
        self.seen.iter().chain(found).all(|(path, was)| FileStamp::of(path) == *was)
    }
}

impl std::fmt::Debug for OfflineSymbolizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineSymbolizer")
            .field("opts", &self.opts)
            .field("files", &self.files.len())
            .finish()
    }
}

impl OfflineSymbolizer {
    /// A symbolizer that looks for files as `opts` says.
    pub fn new(opts: SymbolizeOptions) -> Self {
        OfflineSymbolizer { opts, files: HashMap::new() }
    }

    /// Whether [`symbolize`](Self::symbolize) could name an address of `profile` that
    /// has no name: false when each is in a mapping without a file, or is known from an
    /// earlier profile to stay nameless, the files looked at being unchanged since. Much
    /// cheaper than symbolizing, for a run that reads one program's profiles again and
    /// again and would otherwise rebuild each.
    pub fn may_name_more(&self, profile: &Profile) -> bool {
        // By mapping id, those where something may be named: the offset base and the file
        // offsets known to stay nameless (None: nothing known).
        let mut may_name: HashMap<u64, (u64, Option<&HashSet<u64>>)> = HashMap::new();
        for m in profile.mapping.iter().filter(|m| names_a_file(profile.str(m.filename))) {
            let known = match self.files.get(&key(profile, m)) {
                Some(lookup) if lookup.still_holds() => match lookup.found {
                    None => continue, // not found, and nothing changed since
                    Some(_) => Some(&lookup.nameless),
                },
                _ => None,
            };
            may_name.insert(m.id, (offset_base(m), known));
        }
        profile.location.iter().any(|l| {
            l.line.is_empty()
                && may_name.get(&l.mapping_id).is_some_and(|&(base, known)| {
                    known.is_none_or(|nameless| !nameless.contains(&l.address.wrapping_add(base)))
                })
        })
    }

    /// As [`symbolize_profile`], taking the profile: when no mapping's file is here, it
    /// comes back as it was, without a copy.
    pub fn symbolize(
        &mut self,
        profile: Profile,
    ) -> Result<(Profile, Vec<MappingReport>), heapprof_profile::Error> {
        heapprof_profile::validate(&profile)?;
        if self.files.len() >= KEPT_FILES {
            // What this profile needs stays, with what is known of it.
            let needed: HashSet<(String, String)> =
                profile.mapping.iter().map(|m| key(&profile, m)).collect();
            self.files.retain(|k, _| needed.contains(k));
        }
        // Function id → whether it has a file; then each mapping's locations to resolve.
        let files: HashMap<u64, bool> = profile.function.iter().map(|f| (f.id, f.filename != 0)).collect();
        let mut wanted_in: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, l) in profile.location.iter().enumerate() {
            if needs_symbols(l, &files) {
                wanted_in.entry(l.mapping_id).or_default().push(i);
            }
        }
        // Each mapping's file first, so that a profile with none here is not rebuilt.
        let mut checked = HashSet::new();
        let plans: Vec<Plan> =
            profile.mapping.iter().map(|m| self.plan(&profile, m, &wanted_in, &mut checked)).collect();
        if !plans.iter().any(|p| matches!(p, Plan::Read { .. })) {
            let reports = (profile.mapping.iter().zip(plans))
                .map(|(m, plan)| {
                    let unresolved = nameless(&profile, wanted_in.get(&m.id).map_or(&[][..], |w| w));
                    plan.report(&profile, m, unresolved)
                })
                .collect();
            return Ok((profile, reports));
        }
        let mappings = profile.mapping.clone();
        let mut builder = ProfileBuilder::from_profile(profile);
        let mut reports = Vec::with_capacity(mappings.len());
        let mut changed: HashSet<u64> = HashSet::new();
        for ((index, m), plan) in mappings.iter().enumerate().zip(plans) {
            let wanted = wanted_in.remove(&m.id).unwrap_or_default();
            let Plan::Read { key, bias, mut tried } = plan else {
                let unresolved = nameless(builder.profile_mut(), &wanted);
                reports.push(plan.report(builder.profile_mut(), m, unresolved));
                continue;
            };
            // Planned above in this call, so kept (the cache is trimmed only between calls).
            let Some(Lookup { found: Some((path, info)), nameless: known_nameless, .. }) =
                self.files.get_mut(&key)
            else {
                let unresolved = nameless(builder.profile_mut(), &wanted);
                let outcome = MappingOutcome::NotFound { tried };
                reports.push(MappingReport::of(builder.profile_mut(), m, outcome, unresolved));
                continue;
            };
            let mut resolved = 0;
            for &i in &wanted {
                let address = builder.profile_mut().location[i].address;
                // addr2line and gimli are written not to panic on corrupt input; should one
                // still do so, the mapping is given up rather than the profile.
                let frames = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let found = info.frames(address.wrapping_sub(bias));
                    found.iter().map(|f| frame(f, &mut |s| Arc::from(s))).collect()
                }));
                let Ok(frames): Result<Vec<Frame>, _> = frames else { break };
                if frames.is_empty() {
                    known_nameless.insert(address.wrapping_add(offset_base(m)));
                    continue;
                }
                let lines = frames
                    .iter()
                    .map(|f| Line {
                        function_id: builder.function(
                            &f.name,
                            &f.system_name,
                            &f.file,
                            i64::from(f.start_line),
                        ),
                        line: i64::from(f.line),
                        column: i64::from(f.column),
                    })
                    .collect();
                let location = &mut builder.profile_mut().location[i];
                location.line = lines;
                changed.insert(location.id);
                resolved += 1;
            }
            let out = builder.profile_mut();
            let outcome = if resolved == 0 {
                tried.push(format!("{}: names none of the {} address(es)", path.display(), wanted.len()));
                MappingOutcome::NotFound { tried }
            } else {
                let flags = mapping_flags(out, out.mapping[index].id);
                let m = &mut out.mapping[index];
                (m.has_functions, m.has_filenames, m.has_line_numbers, m.has_inline_frames) =
                    (flags.0, flags.1, flags.2, flags.2);
                MappingOutcome::Symbolized { file: path.clone(), locations: wanted.len(), resolved }
            };
            let unresolved = nameless(out, &wanted);
            reports.push(MappingReport::of(out, m, outcome, unresolved));
        }
        let mut out = builder.finish();
        if !changed.is_empty() {
            cut_leaves(&mut out, &changed);
        }
        // Merging one profile renumbers it canonically and sums the samples that the cut
        // made equal.
        let merged = heapprof_profile::merge(&[out])?;
        Ok((merged, reports))
    }

    /// What to do with mapping `m`: read its file (found and opened, or kept from an
    /// earlier profile), or why not.
    /// `checked`: the files already checked for changes in this call (one mapping's
    /// plan must not see another version of the file than the previous one's).
    fn plan(
        &mut self,
        p: &Profile,
        m: &Mapping,
        wanted_in: &HashMap<u64, Vec<usize>>,
        checked: &mut HashSet<(String, String)>,
    ) -> Plan {
        let (file, build_id) = (p.str(m.filename), p.str(m.build_id));
        if wanted_in.get(&m.id).is_none_or(|w| w.is_empty()) {
            return Plan::Already;
        }
        if !names_a_file(file) {
            return Plan::NoFile;
        }
        let key = key(p, m);
        if checked.insert(key.clone()) && !self.files.get(&key).is_some_and(Lookup::still_holds) {
            self.files.insert(key.clone(), find_file(file, build_id, &self.opts));
        }
        let lookup = &self.files[&key];
        let mut tried = lookup.reasons.clone();
        let Some((path, info)) = &lookup.found else { return Plan::NotFound { tried } };
        match info.bias_for(m.memory_start, m.file_offset) {
            Some(bias) => Plan::Read { key, bias, tried },
            None => {
                tried.push(format!(
                    "{}: no loadable segment maps file offset {:#x}",
                    path.display(),
                    m.file_offset
                ));
                Plan::NotFound { tried }
            }
        }
    }
}

/// See [`OfflineSymbolizer::plan`].
enum Plan {
    Already,
    NoFile,
    NotFound { tried: Vec<String> },
    Read { key: (String, String), bias: u64, tried: Vec<String> },
}

impl Plan {
    /// The report of a mapping that was not read.
    fn report(self, p: &Profile, m: &Mapping, unresolved: Vec<u64>) -> MappingReport {
        let outcome = match self {
            Plan::Already => MappingOutcome::AlreadySymbolized,
            Plan::NoFile => MappingOutcome::NoFile,
            Plan::NotFound { tried } | Plan::Read { tried, .. } => MappingOutcome::NotFound { tried },
        };
        MappingReport::of(p, m, outcome, unresolved)
    }
}

impl MappingReport {
    fn of(p: &Profile, m: &Mapping, outcome: MappingOutcome, unresolved: Vec<u64>) -> MappingReport {
        MappingReport {
            file: p.str(m.filename).to_string(),
            build_id: p.str(m.build_id).to_string(),
            outcome,
            unresolved,
        }
    }
}

/// Whether a mapping's file name names a file that could be read: not the kernel's
/// (`[vdso]`, `[stack]`), not an anonymous mapping's empty name.
fn names_a_file(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('[')
}

/// What to add to an address of `m` for its offset in the file: the same in every
/// process of the build, wherever it was loaded.
fn offset_base(m: &Mapping) -> u64 {
    m.file_offset.wrapping_sub(m.memory_start)
}

/// A mapping's file and build id: what an [`OfflineSymbolizer`] keeps a lookup by.
fn key(p: &Profile, m: &Mapping) -> (String, String) {
    (p.str(m.filename).to_string(), p.str(m.build_id).to_string())
}

/// Addresses of the `wanted` locations (indices) that have no lines.
fn nameless(p: &Profile, wanted: &[usize]) -> Vec<u64> {
    wanted.iter().filter(|&&i| p.location[i].line.is_empty()).map(|&i| p.location[i].address).collect()
}

/// Files an [`OfflineSymbolizer`] keeps open at most (a long `watch` sees new builds).
const KEPT_FILES: usize = 16;

/// A location without lines, or with a line lacking a file or line number (a name
/// from a symbol table).
fn needs_symbols(l: &Location, files: &HashMap<u64, bool>) -> bool {
    l.line.is_empty()
        || l.line.iter().any(|line| line.line == 0 || !files.get(&line.function_id).copied().unwrap_or(false))
}

/// (has_functions, has_filenames, has_line_numbers) of a mapping: true when every
/// location in it has them.
fn mapping_flags(p: &Profile, mapping_id: u64) -> (bool, bool, bool) {
    let functions: HashMap<u64, &Function> = p.function.iter().map(|f| (f.id, f)).collect();
    let mut flags = (true, true, true);
    for l in p.location.iter().filter(|l| l.mapping_id == mapping_id) {
        flags.0 &= !l.line.is_empty();
        flags.1 &=
            l.line.iter().all(|line| functions.get(&line.function_id).is_some_and(|f| f.filename != 0));
        flags.2 &= l.line.iter().all(|line| line.line > 0);
    }
    flags
}

/// Finds and opens the file for a mapping, with why the candidates passed over
/// (or all of them, when none fits) were not used.
fn find_file(file: &str, build_id: &str, opts: &SymbolizeOptions) -> Lookup {
    let name = Path::new(file).file_name().map(PathBuf::from).unwrap_or_default();
    let mut candidates: Vec<PathBuf> = Vec::new();
    for b in &opts.binaries {
        // A build id decides below; without one, the file name must match.
        if !build_id.is_empty() || b.file_name() == Some(name.as_os_str()) {
            candidates.push(b.clone());
        }
    }
    for dir in &opts.search_path {
        if let (false, Some(prefix), Some(rest)) = (build_id.is_empty(), build_id.get(..2), build_id.get(2..))
        {
            candidates.push(dir.join(build_id).join(&name));
            candidates.push(dir.join(prefix).join(format!("{rest}.debug")));
        }
        candidates.push(dir.join(&name));
        candidates.push(dir.join(file.trim_start_matches('/')));
    }
    // A relative name (as old profile formats write) says nothing about where it is here.
    if Path::new(file).is_absolute() {
        candidates.push(PathBuf::from(file));
    }
    if let (Some(prefix), Some(rest)) = (build_id.get(..2), build_id.get(2..)) {
        candidates.push(PathBuf::from(format!("/usr/lib/debug/.build-id/{prefix}/{rest}.debug")));
    }
    let mut seen = BTreeSet::new();
    candidates.retain(|c| seen.insert(c.clone()));
    if candidates.is_empty() {
        let why = format!("nowhere to look for {file:?}: not an absolute path, and no build id");
        return Lookup { reasons: vec![why], ..Lookup::default() };
    }
    let wanted_id = (!build_id.is_empty()).then_some(build_id);
    let mut reasons = Vec::new();
    let mut missing = Vec::new();
    // A file without DWARF (a stripped copy, whose symbol table names little) is
    // used only when no candidate has DWARF.
    let mut symbols_only: Option<(PathBuf, DebugInfo)> = None;
    // Stamped before opening, so that a change while reading shows next time.
    let mut seen = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let stamp = FileStamp::of(&candidate);
        seen.push((candidate.clone(), stamp));
        if stamp.is_none() {
            missing.push(candidate.display().to_string());
            continue;
        }
        match DebugInfo::open(&candidate, &candidate, wanted_id) {
            Ok(info) if info.has_dwarf() => {
                // The candidates after this one cannot change the choice; an earlier one
                // would, if its debug file appeared.
                if let Some((_, earlier)) = &symbols_only {
                    seen.extend_from_slice(earlier.looked_at());
                }
                return Lookup { found: Some((candidate, info)), reasons, seen, ..Lookup::default() };
            }
            Ok(info) => {
                if symbols_only.is_none() {
                    symbols_only = Some((candidate, info));
                } else {
                    seen.extend_from_slice(info.looked_at());
                }
            }
            Err(why) => reasons.push(why),
        }
    }
    if !missing.is_empty() {
        reasons.push(format!("not found: {}", missing.join(", ")));
    }
    Lookup { found: symbols_only, reasons, seen, ..Lookup::default() }
}

/// Cuts the profiler's and the allocator's frames from the leaf end of the samples
/// that pass through a newly symbolized location; a location cut within its inlined
/// lines is replaced by a new one without them.
fn cut_leaves(p: &mut Profile, changed: &HashSet<u64>) {
    let touched: Vec<usize> = (0..p.sample.len())
        .filter(|&s| p.sample[s].location_id.iter().any(|id| changed.contains(id)))
        .collect();
    let functions: HashMap<u64, &Function> = p.function.iter().map(|f| (f.id, f)).collect();
    let locations: HashMap<u64, &Location> = p.location.iter().map(|l| (l.id, l)).collect();
    let mut frames_of: HashMap<u64, Vec<Frame>> = HashMap::new();
    for &s in &touched {
        for id in &p.sample[s].location_id {
            frames_of.entry(*id).or_insert_with(|| {
                locations.get(id).map_or_else(Vec::new, |l| frames_from_lines(p, l, &functions))
            });
        }
    }
    let mut next_id = p.location.iter().map(|l| l.id).max().unwrap_or(0) + 1;
    let mut trimmed: HashMap<(u64, usize), Location> = HashMap::new();
    let mut stacks: Vec<(usize, Vec<u64>)> = Vec::new();
    for s in touched {
        let ids = &p.sample[s].location_id;
        let resolved: Vec<&[Frame]> = ids.iter().map(|id| frames_of[id].as_slice()).collect();
        let (cut_frame, cut_lines) = leaf_cut(&resolved);
        if (cut_frame, cut_lines) == (0, 0) {
            continue;
        }
        let mut stack = ids[cut_frame..].to_vec();
        if cut_lines == 0 {
            // The cut falls between locations.
        } else if cut_lines >= resolved[cut_frame].len() {
            stack.remove(0);
        } else {
            let old = locations[&stack[0]];
            let new = trimmed.entry((old.id, cut_lines)).or_insert_with(|| {
                next_id += 1;
                Location { id: next_id - 1, line: old.line[cut_lines..].to_vec(), ..old.clone() }
            });
            stack[0] = new.id;
        }
        stacks.push((s, stack));
    }
    for (s, stack) in stacks {
        p.sample[s].location_id = stack;
    }
    p.location.extend(trimmed.into_values());
}

/// A location's lines as the symbolizer's frames, for [`leaf_cut`].
fn frames_from_lines(p: &Profile, l: &Location, functions: &HashMap<u64, &Function>) -> Vec<Frame> {
    l.line
        .iter()
        .map(|line| {
            let f = functions.get(&line.function_id);
            let text = |i: Option<i64>| -> Arc<str> { Arc::from(i.map_or("", |i| p.str(i))) };
            Frame {
                name: text(f.map(|f| f.name)),
                system_name: text(f.map(|f| f.system_name)),
                file: text(f.map(|f| f.filename)),
                line: u32::try_from(line.line).unwrap_or(0),
                column: u32::try_from(line.column).unwrap_or(0),
                start_line: f.map_or(0, |f| u32::try_from(f.start_line).unwrap_or(0)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use heapprof_profile::Sample;

    use super::*;

    /// A mapping named by a relative path and without build id (as crafted or old
    /// profiles have) leaves nothing to look at, and the report says so.
    #[test]
    fn a_relative_file_without_build_id_is_reported_as_nowhere_to_look() {
        let mut b = ProfileBuilder::new(&[("inuse_space", "bytes")]);
        let filename = b.intern("main.bin");
        let mapping = b.add_mapping(Mapping {
            memory_start: 0x1000,
            memory_limit: 0x2000,
            filename,
            ..Mapping::default()
        });
        let location = b.add_location(mapping, 0x1500, Vec::new());
        b.profile_mut().sample.push(Sample { location_id: vec![location], value: vec![1], label: vec![] });
        let (_, reports) = symbolize_profile(&b.finish(), &SymbolizeOptions::default()).unwrap();
        let MappingOutcome::NotFound { tried } = &reports[0].outcome else { panic!("{reports:?}") };
        assert_eq!(tried, &["nowhere to look for \"main.bin\": not an absolute path, and no build id"]);
    }
}
