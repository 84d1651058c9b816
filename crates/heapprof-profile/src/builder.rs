//! Building a profile: interned strings, deduplicated functions and locations.

use std::collections::HashMap;

use crate::{Function, Line, Location, Mapping, Profile, ValueType};

/// Accumulates a [`Profile`], interning strings and numbering ids from 1.
#[derive(Debug, Default)]
pub struct ProfileBuilder {
    profile: Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<(i64, i64, i64, i64), u64>,
}

impl ProfileBuilder {
    /// A builder with the given sample types, as (type, unit) pairs.
    pub fn new(sample_types: &[(&str, &str)]) -> Self {
        let mut b = ProfileBuilder::default();
        b.profile.string_table.push(String::new());
        b.strings.insert(String::new(), 0);
        for (t, u) in sample_types {
            let vt = b.value_type(t, u);
            b.profile.sample_type.push(vt);
        }
        b
    }

    /// A builder that goes on from `profile`, reusing its strings and functions. Its
    /// functions and locations are renumbered 1, 2, 3… in table order, as the builder
    /// numbers those it adds.
    pub fn from_profile(mut profile: Profile) -> Self {
        let mut function_ids = HashMap::with_capacity(profile.function.len());
        for (i, f) in profile.function.iter_mut().enumerate() {
            function_ids.insert(f.id, i as u64 + 1);
            f.id = i as u64 + 1;
        }
        let mut location_ids = HashMap::with_capacity(profile.location.len());
        for (i, l) in profile.location.iter_mut().enumerate() {
            location_ids.insert(l.id, i as u64 + 1);
            l.id = i as u64 + 1;
            for line in &mut l.line {
                line.function_id = function_ids.get(&line.function_id).copied().unwrap_or(0);
            }
        }
        for s in &mut profile.sample {
            for id in &mut s.location_id {
                *id = location_ids.get(id).copied().unwrap_or(0);
            }
        }
        let mut strings = HashMap::with_capacity(profile.string_table.len());
        for (i, s) in profile.string_table.iter().enumerate() {
            strings.entry(s.clone()).or_insert(i as i64);
        }
        let functions = profile
            .function
            .iter()
            .map(|f| ((f.name, f.system_name, f.filename, f.start_line), f.id))
            .collect();
        ProfileBuilder { profile, strings, functions }
    }

    /// The string's index in the string table, adding it if new.
    pub fn intern(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.profile.string_table.len() as i64;
        self.profile.string_table.push(s.to_owned());
        self.strings.insert(s.to_owned(), i);
        i
    }

    /// A value type from names.
    pub fn value_type(&mut self, ty: &str, unit: &str) -> ValueType {
        ValueType { r#type: self.intern(ty), unit: self.intern(unit) }
    }

    /// The id of a function with these names, adding it if new.
    pub fn function(&mut self, name: &str, system_name: &str, filename: &str, start_line: i64) -> u64 {
        let key = (self.intern(name), self.intern(system_name), self.intern(filename), start_line);
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let id = self.profile.function.len() as u64 + 1;
        self.profile.function.push(Function {
            id,
            name: key.0,
            system_name: key.1,
            filename: key.2,
            start_line,
        });
        self.functions.insert(key, id);
        id
    }

    /// Adds a mapping; its id is assigned here and returned.
    pub fn add_mapping(&mut self, mut mapping: Mapping) -> u64 {
        mapping.id = self.profile.mapping.len() as u64 + 1;
        let id = mapping.id;
        self.profile.mapping.push(mapping);
        id
    }

    /// Adds a location; its id is assigned here and returned.
    pub fn add_location(&mut self, mapping_id: u64, address: u64, lines: Vec<Line>) -> u64 {
        let id = self.profile.location.len() as u64 + 1;
        self.profile.location.push(Location { id, mapping_id, address, line: lines, is_folded: false });
        id
    }

    /// The profile being built, for fields without a dedicated method.
    pub fn profile_mut(&mut self) -> &mut Profile {
        &mut self.profile
    }

    /// The finished profile.
    pub fn finish(self) -> Profile {
        self.profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sample;

    #[test]
    fn a_builder_goes_on_from_a_profile_with_any_ids() {
        let mut b = ProfileBuilder::new(&[("alloc_space", "bytes")]);
        let f = b.function("f", "f", "a.rs", 1);
        let g = b.function("g", "g", "a.rs", 2);
        b.add_location(0, 0x10, vec![Line { function_id: g, line: 3, column: 0 }]);
        b.add_location(0, 0x20, vec![Line { function_id: f, line: 4, column: 0 }]);
        let mut p = b.finish();
        p.sample.push(Sample { location_id: vec![1, 2], value: vec![5], label: vec![] });
        // Ids as another writer may number them.
        for (f, id) in p.function.iter_mut().zip([70, 30]) {
            f.id = id;
        }
        for l in &mut p.location {
            l.line[0].function_id = if l.line[0].function_id == f { 70 } else { 30 };
            l.id *= 100;
        }
        p.sample[0].location_id = vec![100, 200];

        let mut b = ProfileBuilder::from_profile(p);
        assert_eq!(b.function("g", "g", "a.rs", 2), 2, "an existing function keeps its place");
        assert_eq!(b.function("h", "h", "b.rs", 5), 3, "a new one comes after");
        let p = b.finish();
        crate::validate(&p).unwrap();
        assert_eq!(p.sample[0].location_id, [1, 2]);
        assert_eq!(p.location[0].line[0].function_id, 2);
        assert_eq!(p.location[1].line[0].function_id, 1);
        assert_eq!(p.str(p.function[2].filename), "b.rs");
    }
}
