//! Merging, scaling and subtracting profiles, with pprof's semantics.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::{Error, Label, Line, Mapping, Profile, ProfileBuilder, Sample};

/// Merges profiles into one, as `pprof` merges the profiles given to it.
///
/// All profiles must have the same sample types and period type (names and units),
/// else [`Error::Merge`] says which differ. Functions, mappings and locations are
/// deduplicated by content (mappings by size, offset and build id or file, so that the
/// same binary loaded at another address merges, its addresses moved to the first
/// load's); samples with the same stack and labels are summed; samples whose values are
/// all zero are dropped, with whatever only they referenced. The result takes the
/// period, period type, frame filters and default sample type of the first profile,
/// the earliest nonzero time, and a duration spanning all the profiles (their sum when
/// some have no time); comments are concatenated. The output depends only on the
/// input: ids and the string table are numbered in order of first use.
///
/// Each input is validated first; [`Error::Merge`] names a broken one.
pub fn merge(profiles: &[Profile]) -> Result<Profile, Error> {
    let refs: Vec<&Profile> = profiles.iter().collect();
    merge_refs(&refs)
}

/// `p` minus `base`: `base`'s values negated, then merged with `p` (pprof's `-base`).
/// Stacks whose values cancel out disappear.
pub fn subtract(p: &Profile, base: &Profile) -> Result<Profile, Error> {
    let mut negated = base.clone();
    scale(&mut negated, -1.0);
    merge_refs(&[p, &negated])
}

/// Multiplies every sample value by `ratio`, rounding to the nearest integer, and drops
/// the samples left with only zero values (pprof's `Scale`).
pub fn scale(p: &mut Profile, ratio: f64) {
    if ratio == 1.0 {
        return;
    }
    p.sample.retain_mut(|s| {
        for v in &mut s.value {
            *v = (*v as f64 * ratio).round() as i64;
        }
        s.value.iter().any(|&v| v != 0)
    });
}

fn merge_refs(srcs: &[&Profile]) -> Result<Profile, Error> {
    let Some(first) = srcs.first() else {
        return Err(Error::Merge("no profiles to merge".into()));
    };
    for (i, p) in srcs.iter().enumerate() {
        crate::validate::validate(p).map_err(|e| Error::Merge(format!("profile {i} is invalid: {e}")))?;
    }
    for (i, p) in srcs.iter().enumerate().skip(1) {
        compatible(first, p, i)?;
    }
    let merged = merge_validated(srcs);
    if merged.sample.iter().any(|s| s.value.iter().all(|&v| v == 0)) {
        // Sums that cancelled out: merge again to drop them and what only they used.
        return Ok(merge_validated(&[&merged]));
    }
    Ok(merged)
}

fn type_names(p: &Profile) -> Vec<String> {
    p.sample_type.iter().map(|t| format!("{}/{}", p.str(t.r#type), p.str(t.unit))).collect()
}

fn compatible(a: &Profile, b: &Profile, i: usize) -> Result<(), Error> {
    let period = |p: &Profile| p.period_type.map(|t| format!("{}/{}", p.str(t.r#type), p.str(t.unit)));
    if period(a) != period(b) {
        return Err(Error::Merge(format!(
            "period types differ: {:?} in profile 0, {:?} in profile {i}",
            period(a),
            period(b)
        )));
    }
    let (ta, tb) = (type_names(a), type_names(b));
    if ta != tb {
        return Err(Error::Merge(format!("sample types differ: {ta:?} in profile 0, {tb:?} in profile {i}")));
    }
    Ok(())
}

fn merge_validated(srcs: &[&Profile]) -> Profile {
    let first = srcs[0];
    let types: Vec<(&str, &str)> =
        first.sample_type.iter().map(|t| (first.str(t.r#type), first.str(t.unit))).collect();
    let mut m = Merger {
        b: ProfileBuilder::new(&types),
        samples: HashMap::new(),
        locations: HashMap::new(),
        mappings: HashMap::new(),
    };
    m.headers(srcs);
    for src in srcs {
        let mut ctx = Source::new(src);
        if m.b.profile_mut().mapping.is_empty() {
            // The first mapping is the main binary: keep it first.
            if let Some(main) = src.mapping.first() {
                m.mapping(&mut ctx, main.id);
            }
        }
        for s in &src.sample {
            if s.value.iter().any(|&v| v != 0) {
                m.sample(&mut ctx, s);
            }
        }
    }
    m.b.finish()
}

/// Positions of items by id: a vector when the ids are small (as writers number them
/// from 1), a hash map otherwise. The first item with an id wins.
#[derive(Debug)]
pub(crate) enum IdIndex {
    Dense(Vec<u32>),
    Sparse(HashMap<u64, usize>),
}

impl IdIndex {
    pub(crate) fn new(ids: impl ExactSizeIterator<Item = u64> + Clone) -> Self {
        let n = ids.len() as u64;
        let max = ids.clone().max().unwrap_or(0);
        if max <= n.saturating_mul(2) + 16 && n < u64::from(u32::MAX) {
            let mut v = vec![u32::MAX; max as usize + 1];
            for (i, id) in ids.enumerate() {
                if v[id as usize] == u32::MAX {
                    v[id as usize] = i as u32;
                }
            }
            IdIndex::Dense(v)
        } else {
            let mut m = HashMap::with_capacity(ids.len());
            for (i, id) in ids.enumerate() {
                m.entry(id).or_insert(i);
            }
            IdIndex::Sparse(m)
        }
    }

    pub(crate) fn get(&self, id: u64) -> Option<usize> {
        match self {
            IdIndex::Dense(v) => usize::try_from(id)
                .ok()
                .and_then(|i| v.get(i))
                .filter(|&&i| i != u32::MAX)
                .map(|&i| i as usize),
            IdIndex::Sparse(m) => m.get(&id).copied(),
        }
    }
}

/// Lookups into one input profile, and what its items became (by position).
struct Source<'a> {
    p: &'a Profile,
    locations: IdIndex,
    functions: IdIndex,
    mappings: IdIndex,
    location_ids: Vec<Option<u64>>,
    function_ids: Vec<Option<u64>>,
    /// Merged id and address shift of each mapping.
    mapping_ids: Vec<Option<(u64, i64)>>,
}

impl<'a> Source<'a> {
    fn new(p: &'a Profile) -> Self {
        Source {
            p,
            locations: IdIndex::new(p.location.iter().map(|l| l.id)),
            functions: IdIndex::new(p.function.iter().map(|f| f.id)),
            mappings: IdIndex::new(p.mapping.iter().map(|m| m.id)),
            location_ids: vec![None; p.location.len()],
            function_ids: vec![None; p.function.len()],
            mapping_ids: vec![None; p.mapping.len()],
        }
    }
}

/// A label by interned strings: (key, str, num, num_unit).
type LabelKey = (i64, i64, i64, i64);

/// A location's identity: address relative to its mapping, mapping, lines.
type LocationKey = (u64, u64, Vec<(u64, i64, i64)>);

/// A mapping's identity: size rounded up to 4 KiB, offset, and build id or file name.
type MappingKey = (u64, u64, bool, String);

struct Merger {
    b: ProfileBuilder,
    samples: HashMap<(Vec<u64>, Vec<LabelKey>), usize>,
    locations: HashMap<LocationKey, u64>,
    mappings: HashMap<MappingKey, u64>,
}

impl Merger {
    fn headers(&mut self, srcs: &[&Profile]) {
        let first = srcs[0];
        let times: Vec<i64> = srcs.iter().map(|p| p.time_nanos).collect();
        let time = times.iter().copied().filter(|&t| t != 0).min().unwrap_or(0);
        let duration = if times.iter().all(|&t| t != 0) {
            let end =
                srcs.iter().map(|p| p.time_nanos.saturating_add(p.duration_nanos)).max().unwrap_or(time);
            end.saturating_sub(time)
        } else {
            srcs.iter().map(|p| p.duration_nanos).fold(0, i64::saturating_add)
        };
        let period_type =
            first.period_type.map(|t| self.b.value_type(first.str(t.r#type), first.str(t.unit)));
        let drop_frames = self.b.intern(first.str(first.drop_frames));
        let keep_frames = self.b.intern(first.str(first.keep_frames));
        let default_type =
            srcs.iter().map(|p| p.str(p.default_sample_type)).find(|s| !s.is_empty()).unwrap_or("");
        let default_type = self.b.intern(default_type);
        let doc_url = srcs.iter().map(|p| p.str(p.doc_url)).find(|s| !s.is_empty()).unwrap_or("");
        let doc_url = self.b.intern(doc_url);
        let mut comments = Vec::new();
        for p in srcs {
            for &c in &p.comment {
                comments.push(self.b.intern(p.str(c)));
            }
        }
        let out = self.b.profile_mut();
        out.time_nanos = time;
        out.duration_nanos = duration;
        out.period = first.period;
        out.period_type = period_type;
        out.drop_frames = drop_frames;
        out.keep_frames = keep_frames;
        out.default_sample_type = default_type;
        out.doc_url = doc_url;
        out.comment = comments;
    }

    fn sample(&mut self, ctx: &mut Source<'_>, s: &Sample) {
        let locations: Vec<u64> = s.location_id.iter().map(|&id| self.location(ctx, id)).collect();
        let p = ctx.p;
        let label: Vec<Label> = s
            .label
            .iter()
            .map(|l| Label {
                key: self.b.intern(p.str(l.key)),
                str: self.b.intern(p.str(l.str)),
                num: l.num,
                num_unit: self.b.intern(p.str(l.num_unit)),
            })
            .collect();
        let mut labels: Vec<LabelKey> = label.iter().map(|l| (l.key, l.str, l.num, l.num_unit)).collect();
        labels.sort_unstable();
        match self.samples.entry((locations, labels)) {
            Entry::Occupied(e) => {
                let out = &mut self.b.profile_mut().sample[*e.get()];
                for (o, v) in out.value.iter_mut().zip(&s.value) {
                    *o = o.wrapping_add(*v);
                }
            }
            Entry::Vacant(e) => {
                let out = self.b.profile_mut();
                let location_id = e.key().0.clone();
                e.insert(out.sample.len());
                out.sample.push(Sample { location_id, value: s.value.clone(), label });
            }
        }
    }

    fn location(&mut self, ctx: &mut Source<'_>, id: u64) -> u64 {
        // Validated: the location exists.
        let Some(pos) = ctx.locations.get(id) else {
            return 0;
        };
        if let Some(new) = ctx.location_ids[pos] {
            return new;
        }
        let src = &ctx.p.location[pos];
        let (mapping_id, shift) =
            if src.mapping_id == 0 { (0, 0) } else { self.mapping(ctx, src.mapping_id) };
        let address = src.address.wrapping_add_signed(shift);
        let lines: Vec<Line> = src
            .line
            .iter()
            .map(|l| Line { function_id: self.function(ctx, l.function_id), line: l.line, column: l.column })
            .collect();
        let mapping_start = self
            .b
            .profile_mut()
            .mapping
            .get((mapping_id as usize).wrapping_sub(1))
            .map_or(0, |m| m.memory_start);
        let key = (
            address.wrapping_sub(mapping_start),
            mapping_id,
            lines.iter().map(|l| (l.function_id, l.line, l.column)).collect(),
        );
        let new = match self.locations.get(&key) {
            Some(&new) => new,
            None => {
                let new = self.b.add_location(mapping_id, address, lines);
                if let Some(l) = self.b.profile_mut().location.last_mut() {
                    l.is_folded = src.is_folded;
                }
                self.locations.insert(key, new);
                new
            }
        };
        ctx.location_ids[pos] = Some(new);
        new
    }

    fn function(&mut self, ctx: &mut Source<'_>, id: u64) -> u64 {
        let Some(pos) = ctx.functions.get(id) else {
            return 0;
        };
        if let Some(new) = ctx.function_ids[pos] {
            return new;
        }
        let (p, f) = (ctx.p, &ctx.p.function[pos]);
        let new = self.b.function(p.str(f.name), p.str(f.system_name), p.str(f.filename), f.start_line);
        ctx.function_ids[pos] = Some(new);
        new
    }

    /// The merged id of a source mapping and how far its addresses move.
    fn mapping(&mut self, ctx: &mut Source<'_>, id: u64) -> (u64, i64) {
        let Some(pos) = ctx.mappings.get(id) else {
            return (0, 0);
        };
        if let Some(found) = ctx.mapping_ids[pos] {
            return found;
        }
        let src = &ctx.p.mapping[pos];
        let p = ctx.p;
        let (build_id, file) = (p.str(src.build_id), p.str(src.filename));
        // Rounded up to 4 KiB to absorb small differences between loads.
        let size = src.memory_limit.wrapping_sub(src.memory_start);
        let size = size.wrapping_add(0xfff) & !0xfff;
        let build_key = (size, src.file_offset, true, build_id.to_owned());
        let file_key = (size, src.file_offset, false, file.to_owned());
        let existing = (!build_id.is_empty())
            .then(|| self.mappings.get(&build_key))
            .flatten()
            .or_else(|| (!file.is_empty()).then(|| self.mappings.get(&file_key)).flatten())
            .copied();
        let found = match existing {
            Some(new) => {
                let start = self
                    .b
                    .profile_mut()
                    .mapping
                    .get((new as usize).wrapping_sub(1))
                    .map_or(0, |m| m.memory_start);
                (new, start.wrapping_sub(src.memory_start) as i64)
            }
            None => {
                let mapping = Mapping {
                    filename: self.b.intern(file),
                    build_id: self.b.intern(build_id),
                    ..src.clone()
                };
                let new = self.b.add_mapping(mapping);
                if !build_id.is_empty() {
                    self.mappings.insert(build_key, new);
                }
                if !file.is_empty() {
                    self.mappings.insert(file_key, new);
                }
                (new, 0)
            }
        };
        ctx.mapping_ids[pos] = Some(found);
        found
    }
}
