//! Building a [`View`]: profiles merged into dense tables as pprof merges them
//! (functions, mappings and locations by content, samples by stack and labels),
//! base profiles negated, and the sources scaled for `-normalize`.

use std::borrow::Borrow;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use super::ReportError;
use super::stack_arena::StackRef;
use super::view::{
    BaseMode, DIFF_BASE_LABEL, FunctionInfo, LabelSet, LineInfo, LocationInfo, MappingInfo, NONE, SampleInfo,
    View,
};
use crate::{Label, Profile, Sample};

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
pub(crate) struct ViewBuilder {
    view: View,
    /// Per sample type, the factor applied to source values (`-normalize`).
    ratios: Vec<f64>,
    diff: bool,
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
    pub(crate) fn new(
        sources: &[&Profile],
        bases: &[&Profile],
        mode: BaseMode,
    ) -> Result<ViewBuilder, ReportError> {
        let Some(first) = sources.first() else {
            return Err(ReportError::NoProfiles);
        };
        let n = first.sample_type.len();
        let mut ratios = vec![1.0; n];
        if mode.normalize && !bases.is_empty() {
            let (src, base) = (value_sums(sources, n), value_sums(bases, n));
            for i in 0..n {
                ratios[i] = if src[i] == 0 { 0.0 } else { base[i] as f64 / src[i] as f64 };
            }
        }
        Ok(ViewBuilder { ratios, diff: mode.diff, ..ViewBuilder::default() })
    }

    /// Scales the samples added so far (the merged sources) for `-normalize`, as
    /// pprof does after merging them: each value rounded to the nearest integer.
    pub(crate) fn scale_sources(&mut self) {
        let n = self.ratios.len();
        if n == 0 || self.ratios.iter().all(|&r| r == 1.0) {
            return;
        }
        for chunk in self.view.values.chunks_mut(n) {
            for (v, &r) in chunk.iter_mut().zip(&self.ratios) {
                if r != 1.0 {
                    *v = (*v as f64 * r).round() as i64;
                }
            }
        }
    }

    /// Adds profile `p` with `samples` (its own, borrowed or taken out of it):
    /// a base is negated (and tagged for a diff).
    pub(crate) fn add<S: Borrow<Sample>>(
        &mut self,
        p: &Profile,
        samples: impl IntoIterator<Item = S>,
        is_base: bool,
    ) -> Result<(), ReportError> {
        self.add_header(p)?;
        let strings: Vec<u32> = p.string_table.iter().map(|s| self.view.strings.intern(s)).collect();
        let s =
            |i: i64| -> u32 { usize::try_from(i).ok().and_then(|i| strings.get(i)).copied().unwrap_or(0) };
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

        let mappings = self.add_mappings(p, &s);
        let functions = self.add_functions(p, &s);
        let locations = self.add_locations(p, &mappings, &functions)?;
        let diff = is_base && self.diff;
        // Sized once: grown by doubling, these would leave freed copies behind.
        let samples = samples.into_iter();
        let count = samples.size_hint().0;
        self.view.samples.reserve_exact(count);
        self.view.values.reserve_exact(count * self.ratios.len());
        let (hasher, view) = (&self.hasher, &self.view);
        self.sample_table.reserve(count, |&i| sample_hash(hasher, view, i));
        let mut scratch = SampleScratch::default();
        for (i, sample) in samples.into_iter().enumerate() {
            self.add_sample(i, sample.borrow(), &locations, is_base, diff, &s, &mut scratch)?;
        }
        Ok(())
    }

    /// Adds `p`'s mappings (merged by size, offset and build id or file);
    /// returns its mapping ids' (dense index, start address in `p`).
    fn add_mappings(&mut self, p: &Profile, s: &dyn Fn(i64) -> u32) -> HashMap<u64, (u32, u64)> {
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
                self.view.mappings.push(MappingInfo { file, build_id, start: m.memory_start });
            }
            mappings.insert(m.id, (idx, m.memory_start));
        }
        mappings
    }

    /// Adds `p`'s functions (merged by content); returns their dense indexes.
    fn add_functions(&mut self, p: &Profile, s: &dyn Fn(i64) -> u32) -> HashMap<u64, u32> {
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
        functions
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
                    types.iter().map(|(t, u)| format!("{t}/{u}")).collect::<Vec<_>>().join(" ")
                };
                let ours =
                    v.sample_types.iter().map(|&(t, u)| (v.strings.get(t), v.strings.get(u))).collect();
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
                id => *mappings.get(&id).ok_or_else(|| {
                    ReportError::Invalid(format!("location {} refers to missing mapping {id}", l.id))
                })?,
            };
            let mut lines = Vec::with_capacity(l.line.len());
            for line in &l.line {
                let function = *functions.get(&line.function_id).ok_or_else(|| {
                    ReportError::Invalid(format!(
                        "location {} refers to missing function {}",
                        l.id, line.function_id
                    ))
                })?;
                lines.push(LineInfo { function, line: line.line });
            }
            let merged_start = self.view.mappings.get(mapping as usize).map_or(0, |m| m.start);
            let key = LocationKey {
                mapping,
                address: if mapping == NONE { l.address } else { l.address.wrapping_sub(src_start) },
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

    #[allow(clippy::too_many_arguments)]
    fn add_sample(
        &mut self,
        i: usize,
        sample: &Sample,
        locations: &IdLookup,
        negate: bool,
        diff: bool,
        s: &dyn Fn(i64) -> u32,
        scratch: &mut SampleScratch,
    ) -> Result<(), ReportError> {
        let n = self.view.sample_types.len();
        if sample.value.len() != n {
            return Err(ReportError::Invalid(format!(
                "sample {i} has {} values for {n} sample types",
                sample.value.len()
            )));
        }
        scratch.values.clear();
        scratch.values.extend(sample.value.iter().map(|&v| if negate { v.wrapping_neg() } else { v }));
        if scratch.values.iter().all(|&v| v == 0) {
            return Ok(());
        }
        let label_set = self.intern_labels(&sample.label, diff, s, &mut scratch.labels);
        let mut stack = self.view.stacks.begin(sample.location_id.len());
        for id in &sample.location_id {
            let Some(idx) = locations.get(*id) else {
                self.view.stacks.discard(&stack);
                return Err(ReportError::Invalid(format!("sample {i} refers to missing location {id}")));
            };
            self.view.stacks.push(&mut stack, idx);
        }
        let values = std::mem::take(&mut scratch.values);
        self.insert_sample(stack, label_set, &values);
        scratch.values = values;
        Ok(())
    }

    /// Adds the sample whose stack was just stored, or adds its values to an
    /// earlier sample with the same stack and labels.
    fn insert_sample(&mut self, stack: StackRef, label_set: u32, values: &[i64]) {
        let view = &mut self.view;
        let frames = view.stacks.get(&stack);
        let hash = self.hasher.hash_one((label_set, frames));
        let samples = &view.samples;
        let stacks = &view.stacks;
        let found = self.sample_table.find(hash, |&idx| {
            let other = &samples[idx as usize];
            other.labels == label_set && stacks.get(&other.stack) == frames
        });
        let n = values.len();
        if let Some(&idx) = found {
            let base = idx as usize * n;
            for (acc, v) in view.values[base..base + n].iter_mut().zip(values) {
                *acc = acc.wrapping_add(*v);
            }
            view.stacks.discard(&stack);
            return;
        }
        let idx = view.samples.len() as u32;
        view.samples.push(SampleInfo { stack, labels: label_set });
        view.values.extend_from_slice(values);
        let (hasher, view) = (&self.hasher, &self.view);
        self.sample_table.insert_unique(hash, idx, |&i| sample_hash(hasher, view, i));
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
        scratch.strs.sort_by(|a, b| strings.get(a.0).cmp(strings.get(b.0)));
        scratch.nums.sort_by(|a, b| strings.get(a.0).cmp(strings.get(b.0)));
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
        let is_base = set.strs.iter().any(|&(k, v)| Some(k) == base && Some(v) == truth);
        self.view.diff_base.push(is_base);
        self.view.label_sets.push(set.clone());
        self.label_index.insert(set, id);
        id
    }

    pub(crate) fn finish(mut self) -> View {
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
        self.view
    }
}

/// The hash of a sample's identity: its label set and stack.
fn sample_hash(hasher: &DefaultHashBuilder, view: &View, sample: u32) -> u64 {
    let s = &view.samples[sample as usize];
    hasher.hash_one((s.labels, view.stacks.get(&s.stack)))
}

/// Buffers reused from sample to sample.
#[derive(Default)]
struct SampleScratch {
    values: Vec<i64>,
    labels: LabelSet,
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
