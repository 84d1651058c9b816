//! A profile resolved for reporting: strings interned once, ids replaced by dense
//! indexes, stacks kept in one arena, and samples with the same stack and labels
//! combined — what pprof gets by merging its sources, at a fraction of the memory.

use hashbrown::HashMap;

use super::ReportError;
use super::stack_arena::{StackArena, StackRef};
use super::view_builder::ViewBuilder;
use crate::Profile;

/// Marks "no index" in the dense tables.
pub(crate) const NONE: u32 = u32::MAX;

/// Interned strings; id 0 is "".
#[derive(Debug, Clone)]
pub(crate) struct Strings {
    list: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
}

impl Default for Strings {
    fn default() -> Self {
        let mut s = Strings { list: Vec::new(), index: HashMap::new() };
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

    /// How many strings there are (ids are `0..len`).
    pub(crate) fn len(&self) -> usize {
        self.list.len()
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

/// A sample: its stack of location indexes (leaf first) and its label set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SampleInfo {
    pub(crate) stack: StackRef,
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
    pub(crate) stacks: StackArena,
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
    pub fn with_base(sources: &[&Profile], bases: &[&Profile], mode: BaseMode) -> Result<View, ReportError> {
        let mut b = ViewBuilder::new(sources, bases, mode)?;
        for p in sources {
            b.add(p, &p.sample, false)?;
        }
        b.scale_sources();
        for p in bases {
            b.add(p, &p.sample, true)?;
        }
        Ok(b.finish())
    }

    /// Like [`View::with_base`], but consumes the profiles, freeing their samples
    /// as they are read: the peak memory is then little more than the profiles'.
    pub fn from_owned(
        sources: Vec<Profile>,
        bases: Vec<Profile>,
        mode: BaseMode,
    ) -> Result<View, ReportError> {
        let (s, b): (Vec<&Profile>, Vec<&Profile>) = (sources.iter().collect(), bases.iter().collect());
        let mut builder = ViewBuilder::new(&s, &b, mode)?;
        for (is_base, list) in [(false, sources), (true, bases)] {
            if is_base {
                builder.scale_sources();
            }
            for mut p in list {
                let samples = std::mem::take(&mut p.sample);
                builder.add(&p, samples, is_base)?;
            }
        }
        Ok(builder.finish())
    }

    /// The names of the sample types, in order (`alloc_objects`, `alloc_space`…).
    pub fn sample_type_names(&self) -> Vec<&str> {
        self.sample_types.iter().map(|&(t, _)| self.strings.get(t)).collect()
    }

    /// How many samples remain (after merging and filtering).
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    pub(crate) fn value(&self, sample: usize, index: usize) -> i64 {
        self.values[sample * self.sample_types.len() + index]
    }

    pub(crate) fn stack(&self, s: &SampleInfo) -> &[u32] {
        self.stacks.get(&s.stack)
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
