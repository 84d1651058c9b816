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
