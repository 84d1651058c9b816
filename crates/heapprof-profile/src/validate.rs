//! Structural checks that every reader relies on.

use std::collections::HashSet;

use crate::{Error, Profile};

/// Checks ids (nonzero, unique, referenced ones exist), value lengths and the string table.
pub fn validate(p: &Profile) -> Result<(), Error> {
    if p.string_table.first().is_some_and(|s| !s.is_empty()) {
        return Err(Error::Invalid("string table does not start with \"\"".into()));
    }
    let strings = p.string_table.len() as i64;
    let check_str = |what: &str, i: i64| {
        if i < 0 || (i >= strings && i != 0) {
            Err(Error::Invalid(format!("{what} refers to string {i}, table has {strings}")))
        } else {
            Ok(())
        }
    };
    for vt in p.sample_type.iter().chain(p.period_type.iter()) {
        check_str("sample type", vt.r#type)?;
        check_str("sample type unit", vt.unit)?;
    }
    let mut mappings = HashSet::with_capacity(p.mapping.len());
    for m in &p.mapping {
        if m.id == 0 || !mappings.insert(m.id) {
            return Err(Error::Invalid(format!("mapping id {} is zero or repeated", m.id)));
        }
        check_str("mapping filename", m.filename)?;
        check_str("mapping build id", m.build_id)?;
    }
    let mut functions = HashSet::with_capacity(p.function.len());
    for f in &p.function {
        if f.id == 0 || !functions.insert(f.id) {
            return Err(Error::Invalid(format!("function id {} is zero or repeated", f.id)));
        }
        check_str("function name", f.name)?;
        check_str("function system name", f.system_name)?;
        check_str("function filename", f.filename)?;
    }
    let mut locations = HashSet::with_capacity(p.location.len());
    for l in &p.location {
        if l.id == 0 || !locations.insert(l.id) {
            return Err(Error::Invalid(format!("location id {} is zero or repeated", l.id)));
        }
        if l.mapping_id != 0 && !mappings.contains(&l.mapping_id) {
            return Err(Error::Invalid(format!(
                "location {} refers to missing mapping {}",
                l.id, l.mapping_id
            )));
        }
        for line in &l.line {
            if !functions.contains(&line.function_id) {
                return Err(Error::Invalid(format!(
                    "location {} refers to missing function {}",
                    l.id, line.function_id
                )));
            }
        }
    }
    for (i, s) in p.sample.iter().enumerate() {
        if s.value.len() != p.sample_type.len() {
            return Err(Error::Invalid(format!(
                "sample {i} has {} values for {} sample types",
                s.value.len(),
                p.sample_type.len()
            )));
        }
        if let Some(id) = s.location_id.iter().find(|id| !locations.contains(id)) {
            return Err(Error::Invalid(format!("sample {i} refers to missing location {id}")));
        }
        for label in &s.label {
            check_str("label key", label.key)?;
            check_str("label value", label.str)?;
            check_str("label unit", label.num_unit)?;
        }
    }
    for &c in &p.comment {
        check_str("comment", c)?;
    }
    check_str("drop_frames", p.drop_frames)?;
    check_str("keep_frames", p.keep_frames)?;
    check_str("default sample type", p.default_sample_type)?;
    Ok(())
}
