//! A profile resolved for reporting: strings interned once, ids replaced by dense
//! indexes, stacks kept in one arena, and samples with the same stack and labels
//! combined — what pprof gets by merging its sources, at a fraction of the memory.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use super::ReportError;
use crate::{Label, Profile};

/// Marks "no index" in the dense tables.
pub(crate) const NONE: u32 = u32::MAX;

/// Interned strings; id 0 is "".
#[derive(Debug)]
pub(crate) struct Strings {
    list: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
}

impl Default for Strings {
    fn default() -> Self {
        let mut s = Strings {
            list: Vec::new(),
            index: HashMap::new(),
        };
        s.intern("");
        s
    }
}

impl Strings {
    /// The id of `s`, adding it if new.
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.index.get(s) {
            return id;
        }
        let id = self.list.len() as u32;
        self.list.push(s.into());
        self.index.insert(s.into(), id);
        id
    }

    /// The string with id `id` ("" when out of range).
    pub(crate) fn get(&self, id: u32) -> &str {
        self.list.get(id as usize).map_or("", |s| s)
    }

    /// The id of `s` if it was interned.
    pub(crate) fn find(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
    }
}

/// A mapped binary.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MappingInfo {
    pub(crate) file: u32,
    pub(crate) build_id: u32,
    pub(crate) start: u64,
}

/// A function; strings are ids in [`View::strings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FunctionInfo {
    pub(crate) name: u32,
    pub(crate) system_name: u32,
    pub(crate) filename: u32,
    pub(crate) start_line: i64,
}

/// One frame of a location: a function (index into [`View::functions`]) and line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct LineInfo {
    pub(crate) function: u32,
    pub(crate) line: i64,
}

/// A code address with its frames, `lines_len` entries from `lines_start` in
/// [`View::lines`], inlined callees first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocationInfo {
    pub(crate) mapping: u32,
    pub(crate) address: u64,
    pub(crate) lines_start: u32,
    pub(crate) lines_len: u32,
}

/// A sample: `stack_len` location indexes from `stack_start` in [`View::stacks`],
/// leaf first, and its label set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SampleInfo {
    pub(crate) stack_start: u32,
    pub(crate) stack_len: u32,
    pub(crate) labels: u32,
}

/// The labels of a sample, sorted by key (values of one key keep their order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct LabelSet {
    /// (key, value) string labels.
    pub(crate) strs: Vec<(u32, u32)>,
    /// (key, value, unit) numeric labels; unit 0 when absent.
    pub(crate) nums: Vec<(u32, i64, u32)>,
}

/// Name of the label pprof puts on the samples of a `-diff_base` profile.
pub(crate) const DIFF_BASE_LABEL: (&str, &str) = ("pprof::base", "true");

/// One or more profiles merged and resolved for reports. Build it with
/// [`View::from_profiles`] or [`View::with_base`]; reports read it through
/// [`super::Report`].
#[derive(Debug, Default)]
pub struct View {
    pub(crate) strings: Strings,
    pub(crate) sample_types: Vec<(u32, u32)>,
    pub(crate) default_sample_type: u32,
    pub(crate) period_type: Option<(u32, u32)>,
    pub(crate) period: i64,
    pub(crate) time_nanos: i64,
    pub(crate) duration_nanos: i64,
    pub(crate) comments: Vec<u32>,
    pub(crate) drop_frames: u32,
    pub(crate) keep_frames: u32,
    pub(crate) mappings: Vec<MappingInfo>,
    pub(crate) functions: Vec<FunctionInfo>,
    pub(crate) locations: Vec<LocationInfo>,
    pub(crate) lines: Vec<LineInfo>,
    pub(crate) stacks: Vec<u32>,
    pub(crate) samples: Vec<SampleInfo>,
    pub(crate) values: Vec<i64>,
    pub(crate) label_sets: Vec<LabelSet>,
    /// Per label set: whether it carries the diff-base label.
    pub(crate) diff_base: Vec<bool>,
}

/// How base profiles are combined with the sources (pprof's `-base`,
/// `-diff_base` and `-normalize`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BaseMode {
    /// `-diff_base`: base samples are negated and tagged, so that percentages are
    /// relative to the base's total; otherwise (`-base`) they are subtracted.
    pub diff: bool,
    /// `-normalize`: scale the sources so that their totals match the base's (per
    /// sample type) before subtracting — pprof scales the sources, not the base.
    pub normalize: bool,
}

impl View {
    /// Merges `profiles` (which must have the same sample and period types) into
    /// one view, combining samples with the same stack and labels.
    pub fn from_profiles(profiles: &[&Profile]) -> Result<View, ReportError> {
        Self::with_base(profiles, &[], BaseMode::default())
    }

    /// Merges `sources` and subtracts the merged `bases` as pprof does for `-base`
    /// (or tags them for `-diff_base`, see [`BaseMode`]).
    pub fn with_base(
        sources: &[&Profile],
        bases: &[&Profile],
        mode: BaseMode,
    ) -> Result<View, ReportError> {
        let Some(first) = sources.first() else {
            return Err(ReportError::NoProfiles);
        };
        let n = first.sample_type.len();
        let mut ratios = vec![1.0; n];
        if mode.normalize && !bases.is_empty() {
            let src = value_sums(sources, n);
            let base = value_sums(bases, n);
            for i in 0..n {
                ratios[i] = if src[i] == 0 {
                    0.0
                } else {
                    base[i] as f64 / src[i] as f64
                };
            }
        }
        let mut b = ViewBuilder::default();
        for p in sources {
            b.add(p, &ratios, false, false)?;
        }
        let ones = vec![1.0; n];
        for p in bases {
            b.add(p, &ones, true, mode.diff)?;
        }
        Ok(b.finish())
    }

    /// The names of the sample types, in order (`alloc_objects`, `alloc_space`…).
    pub fn sample_type_names(&self) -> Vec<&str> {
        self.sample_types
            .iter()
            .map(|&(t, _)| self.strings.get(t))
            .collect()
    }

    /// How many samples remain (after merging and filtering).
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    pub(crate) fn value(&self, sample: usize, index: usize) -> i64 {
        self.values[sample * self.sample_types.len() + index]
    }

    pub(crate) fn stack(&self, s: &SampleInfo) -> &[u32] {
        &self.stacks[s.stack_start as usize..(s.stack_start + s.stack_len) as usize]
    }

    pub(crate) fn location_lines(&self, loc: &LocationInfo) -> &[LineInfo] {
        &self.lines[loc.lines_start as usize..(loc.lines_start + loc.lines_len) as usize]
    }

    pub(crate) fn str(&self, id: u32) -> &str {
        self.strings.get(id)
    }

    /// The file of the location's mapping ("" if none).
    pub(crate) fn mapping_file(&self, loc: &LocationInfo) -> u32 {
        self.mappings.get(loc.mapping as usize).map_or(0, |m| m.file)
    }
}

/// Per sample type, the sum of all sample values of `profiles`.
fn value_sums(profiles: &[&Profile], n: usize) -> Vec<i64> {
    let mut sums = vec![0i64; n];
    for p in profiles {
        for s in &p.sample {
            for (sum, v) in sums.iter_mut().zip(&s.value) {
                *sum = sum.wrapping_add(*v);
            }
        }
    }
    sums
}

/// A location's identity across profiles (pprof's `locationKey`): mapping,
/// address relative to the mapping, frames.
#[derive(PartialEq, Eq, Hash)]
struct LocationKey {
    mapping: u32,
    address: u64,
    is_folded: bool,
    lines: Vec<LineInfo>,
}

#[derive(PartialEq, Eq, Hash)]
struct MappingKey {
    size: u64,
    offset: u64,
    build_id_or_file: u32,
}

/// Accumulates profiles into a [`View`].
#[derive(Default)]
struct ViewBuilder {
    view: View,
    started: bool,
    comments_seen: HashMap<u32, ()>,
    mapping_index: HashMap<MappingKey, u32>,
    function_index: HashMap<FunctionInfo, u32>,
    location_index: HashMap<LocationKey, u32>,
    label_index: HashMap<LabelSet, u32>,
    sample_table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl ViewBuilder {
    fn add(
        &mut self,
        p: &Profile,
        ratios: &[f64],
        negate: bool,
        diff: bool,
    ) -> Result<(), ReportError> {
        self.add_header(p)?;
        let strings: Vec<u32> = p
            .string_table
            .iter()
            .map(|s| self.view.strings.intern(s))
            .collect();
        let s = |i: i64| -> u32 {
            usize::try_from(i)
                .ok()
                .and_then(|i| strings.get(i))
                .copied()
                .unwrap_or(0)
        };
        if !self.started {
            self.view.drop_frames = s(p.drop_frames);
            self.view.keep_frames = s(p.keep_frames);
        }
        for &c in &p.comment {
            let c = s(c);
            if self.comments_seen.insert(c, ()).is_none() {
                self.view.comments.push(c);
            }
        }
        self.started = true;

        // Mappings: id -> (dense index, source start).
        let mut mappings: HashMap<u64, (u32, u64)> = HashMap::with_capacity(p.mapping.len());
        for m in &p.mapping {
            let file = s(m.filename);
            let build_id = s(m.build_id);
            let key = MappingKey {
                size: m.memory_limit.wrapping_sub(m.memory_start),
                offset: m.file_offset,
                build_id_or_file: if build_id != 0 { build_id } else { file },
            };
            let next = self.view.mappings.len() as u32;
            let idx = *self.mapping_index.entry(key).or_insert(next);
            if idx == next {
                self.view.mappings.push(MappingInfo {
                    file,
                    build_id,
                    start: m.memory_start,
                });
            }
            mappings.insert(m.id, (idx, m.memory_start));
        }
        let mut functions: HashMap<u64, u32> = HashMap::with_capacity(p.function.len());
        for f in &p.function {
            let info = FunctionInfo {
                name: s(f.name),
                system_name: s(f.system_name),
                filename: s(f.filename),
                start_line: f.start_line,
            };
            let next = self.view.functions.len() as u32;
            let idx = *self.function_index.entry(info).or_insert(next);
            if idx == next {
                self.view.functions.push(info);
            }
            functions.insert(f.id, idx);
        }
        let locations = self.add_locations(p, &mappings, &functions)?;
        self.add_samples(p, &locations, ratios, negate, diff, &s)
    }

    fn add_header(&mut self, p: &Profile) -> Result<(), ReportError> {
        let v = &mut self.view;
        let names = |vt: &crate::ValueType| (p.str(vt.r#type), p.str(vt.unit));
        if !self.started {
            for vt in &p.sample_type {
                let (t, u) = names(vt);
                let pair = (v.strings.intern(t), v.strings.intern(u));
                v.sample_types.push(pair);
            }
            v.period_type = p.period_type.as_ref().map(|vt| {
                let (t, u) = names(vt);
                (v.strings.intern(t), v.strings.intern(u))
            });
        } else {
            let same_types = p.sample_type.len() == v.sample_types.len()
                && p.sample_type.iter().zip(&v.sample_types).all(|(a, &(t, u))| {
                    let (at, au) = names(a);
                    at == v.strings.get(t) && au == v.strings.get(u)
                });
            let same_period = match (&p.period_type, v.period_type) {
                (None, None) => true,
                (Some(a), Some((t, u))) => names(a) == (v.strings.get(t), v.strings.get(u)),
                _ => false,
            };
            if !same_types || !same_period {
                let list = |types: Vec<(&str, &str)>| {
                    types
                        .iter()
                        .map(|(t, u)| format!("{t}/{u}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let ours = v
                    .sample_types
                    .iter()
                    .map(|&(t, u)| (v.strings.get(t), v.strings.get(u)))
                    .collect();
                let theirs = p.sample_type.iter().map(names).collect();
                return Err(ReportError::Incompatible(format!(
                    "sample types [{}] and [{}] differ",
                    list(ours),
                    list(theirs)
                )));
            }
        }
        if v.time_nanos == 0 || p.time_nanos < v.time_nanos {
            v.time_nanos = p.time_nanos;
        }
        v.duration_nanos = v.duration_nanos.wrapping_add(p.duration_nanos);
        if v.period == 0 || v.period < p.period {
            v.period = p.period;
        }
        if v.default_sample_type == 0 && p.default_sample_type != 0 {
            v.default_sample_type = v.strings.intern(p.str(p.default_sample_type));
        }
        Ok(())
    }

    /// Resolves the locations of `p`; returns a lookup from location id to index.
    fn add_locations(
        &mut self,
        p: &Profile,
        mappings: &HashMap<u64, (u32, u64)>,
        functions: &HashMap<u64, u32>,
    ) -> Result<IdLookup, ReportError> {
        let mut lookup = IdLookup::new(p.location.iter().map(|l| l.id), p.location.len());
        for l in &p.location {
            let (mapping, src_start) = match l.mapping_id {
                0 => (NONE, 0),
                id => *mappings
                    .get(&id)
                    .ok_or_else(|| ReportError::Invalid(format!("location {} refers to missing mapping {id}", l.id)))?,
            };
            let mut lines = Vec::with_capacity(l.line.len());
            for line in &l.line {
                let function = *functions.get(&line.function_id).ok_or_else(|| {
                    ReportError::Invalid(format!(
                        "location {} refers to missing function {}",
                        l.id, line.function_id
                    ))
                })?;
                lines.push(LineInfo {
                    function,
                    line: line.line,
                });
            }
            let merged_start = self.view.mappings.get(mapping as usize).map_or(0, |m| m.start);
            let key = LocationKey {
                mapping,
                address: if mapping == NONE {
                    l.address
                } else {
                    l.address.wrapping_sub(src_start)
                },
                is_folded: l.is_folded,
                lines,
            };
            let next = self.view.locations.len() as u32;
            let idx = match self.location_index.get(&key) {
                Some(&idx) => idx,
                None => {
                    let lines_start = self.view.lines.len() as u32;
                    self.view.lines.extend_from_slice(&key.lines);
                    self.view.locations.push(LocationInfo {
                        mapping,
                        address: if mapping == NONE {
                            key.address
                        } else {
                            key.address.wrapping_add(merged_start)
                        },
                        lines_start,
                        lines_len: key.lines.len() as u32,
                    });
                    self.location_index.insert(key, next);
                    next
                }
            };
            lookup.set(l.id, idx);
        }
        Ok(lookup)
    }

    fn add_samples(
        &mut self,
        p: &Profile,
        locations: &IdLookup,
        ratios: &[f64],
        negate: bool,
        diff: bool,
        s: &dyn Fn(i64) -> u32,
    ) -> Result<(), ReportError> {
        let n = self.view.sample_types.len();
        // Exact sizes up front: these arenas are most of the view's memory.
        let frames: usize = p.sample.iter().map(|s| s.location_id.len()).sum();
        self.view.stacks.reserve_exact(frames);
        self.view.values.reserve_exact(p.sample.len() * n);
        self.view.samples.reserve_exact(p.sample.len());
        let (hasher, stacks, samples) = (&self.hasher, &self.view.stacks, &self.view.samples);
        self.sample_table
            .reserve(p.sample.len(), |&i| sample_hash(hasher, stacks, &samples[i as usize]));
        let scaled = ratios.iter().any(|&r| r != 1.0);
        let mut values = vec![0i64; n];
        let mut labels = LabelSet::default();
        for (i, sample) in p.sample.iter().enumerate() {
            if sample.value.len() != n {
                return Err(ReportError::Invalid(format!(
                    "sample {i} has {} values for {n} sample types",
                    sample.value.len()
                )));
            }
            for (k, v) in sample.value.iter().enumerate() {
                let mut v = *v;
                if scaled && ratios[k] != 1.0 {
                    v = (v as f64 * ratios[k]).round() as i64;
                }
                values[k] = if negate { v.wrapping_neg() } else { v };
            }
            if values.iter().all(|&v| v == 0) {
                continue;
            }
            let label_set = self.intern_labels(&sample.label, diff, s, &mut labels);
            let start = self.view.stacks.len();
            for id in &sample.location_id {
                let idx = locations.get(*id).ok_or_else(|| {
                    ReportError::Invalid(format!("sample {i} refers to missing location {id}"))
                })?;
                self.view.stacks.push(idx);
            }
            self.insert_sample(start, label_set, &values);
        }
        Ok(())
    }

    /// Adds the sample whose stack was just pushed at `start`, or adds its values
    /// to an earlier sample with the same stack and labels.
    fn insert_sample(&mut self, start: usize, label_set: u32, values: &[i64]) {
        let view = &mut self.view;
        let hash = self.hasher.hash_one((label_set, &view.stacks[start..]));
        let stacks = &view.stacks;
        let samples = &view.samples;
        let found = self.sample_table.find(hash, |&idx| {
            let other = &samples[idx as usize];
            other.labels == label_set
                && &stacks[other.stack_start as usize..(other.stack_start + other.stack_len) as usize]
                    == &stacks[start..]
        });
        let n = values.len();
        if let Some(&idx) = found {
            let base = idx as usize * n;
            for (acc, v) in view.values[base..base + n].iter_mut().zip(values) {
                *acc = acc.wrapping_add(*v);
            }
            view.stacks.truncate(start);
            return;
        }
        let idx = view.samples.len() as u32;
        view.samples.push(SampleInfo {
            stack_start: start as u32,
            stack_len: (view.stacks.len() - start) as u32,
            labels: label_set,
        });
        view.values.extend_from_slice(values);
        let (hasher, stacks, samples) = (&self.hasher, &view.stacks, &view.samples);
        self.sample_table
            .insert_unique(hash, idx, |&i| sample_hash(hasher, stacks, &samples[i as usize]));
    }

    fn intern_labels(
        &mut self,
        raw: &[Label],
        diff: bool,
        s: &dyn Fn(i64) -> u32,
        scratch: &mut LabelSet,
    ) -> u32 {
        if raw.is_empty() && !diff {
            return self.empty_label_set();
        }
        scratch.strs.clear();
        scratch.nums.clear();
        for l in raw {
            if l.str != 0 {
                scratch.strs.push((s(l.key), s(l.str)));
            } else if l.num != 0 || l.num_unit != 0 {
                scratch.nums.push((s(l.key), l.num, s(l.num_unit)));
            }
        }
        if diff {
            let key = self.view.strings.intern(DIFF_BASE_LABEL.0);
            let value = self.view.strings.intern(DIFF_BASE_LABEL.1);
            scratch.strs.retain(|&(k, _)| k != key);
            scratch.strs.push((key, value));
        }
        let strings = &self.view.strings;
        scratch
            .strs
            .sort_by(|a, b| strings.get(a.0).cmp(strings.get(b.0)));
        scratch
            .nums
            .sort_by(|a, b| strings.get(a.0).cmp(strings.get(b.0)));
        if let Some(&id) = self.label_index.get(scratch) {
            return id;
        }
        self.push_label_set(scratch.clone())
    }

    fn empty_label_set(&mut self) -> u32 {
        if let Some(&id) = self.label_index.get(&LabelSet::default()) {
            return id;
        }
        self.push_label_set(LabelSet::default())
    }

    fn push_label_set(&mut self, set: LabelSet) -> u32 {
        let id = self.view.label_sets.len() as u32;
        let base = self.view.strings.find(DIFF_BASE_LABEL.0);
        let truth = self.view.strings.find(DIFF_BASE_LABEL.1);
        let is_base = set
            .strs
            .iter()
            .any(|&(k, v)| Some(k) == base && Some(v) == truth);
        self.view.diff_base.push(is_base);
        self.view.label_sets.push(set.clone());
        self.label_index.insert(set, id);
        id
    }

    fn finish(mut self) -> View {
        // Samples whose values cancelled out are dropped, as pprof's merge does.
        let n = self.view.sample_types.len();
        let v = &mut self.view;
        if n > 0 && v.values.chunks(n).any(|c| c.iter().all(|&x| x == 0)) {
            let mut kept = 0;
            for i in 0..v.samples.len() {
                if v.values[i * n..(i + 1) * n].iter().all(|&x| x == 0) {
                    continue;
                }
                v.samples[kept] = v.samples[i];
                v.values.copy_within(i * n..(i + 1) * n, kept * n);
                kept += 1;
            }
            v.samples.truncate(kept);
            v.values.truncate(kept * n);
        }
        v.stacks.shrink_to_fit();
        self.view
    }
}

/// The hash of a sample's identity: its label set and stack.
fn sample_hash(hasher: &DefaultHashBuilder, stacks: &[u32], s: &SampleInfo) -> u64 {
    let stack = &stacks[s.stack_start as usize..(s.stack_start + s.stack_len) as usize];
    hasher.hash_one((s.labels, stack))
}

/// Location id to dense index: a vector when ids are small (as Go writes them),
/// else a hash map.
enum IdLookup {
    Dense(Vec<u32>),
    Sparse(HashMap<u64, u32>),
}

impl IdLookup {
    fn new(ids: impl Iterator<Item = u64>, count: usize) -> Self {
        let max = ids.max().unwrap_or(0);
        if max <= (count as u64).saturating_mul(4).saturating_add(1024) {
            IdLookup::Dense(vec![NONE; max as usize + 1])
        } else {
            IdLookup::Sparse(HashMap::with_capacity(count))
        }
    }

    fn set(&mut self, id: u64, idx: u32) {
        match self {
            IdLookup::Dense(v) => {
                if let Some(slot) = v.get_mut(id as usize) {
                    *slot = idx;
                }
            }
            IdLookup::Sparse(m) => {
                m.insert(id, idx);
            }
        }
    }

    fn get(&self, id: u64) -> Option<u32> {
        match self {
            IdLookup::Dense(v) => v.get(usize::try_from(id).ok()?).copied().filter(|&i| i != NONE),
            IdLookup::Sparse(m) => m.get(&id).copied(),
        }
    }
}
